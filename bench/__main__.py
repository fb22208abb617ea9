"""``python -m bench``: the benchmark command line (see ``bench.cli``)."""

import sys

from bench.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    sys.exit(main())
