"""``python -m server``: the zkref command line (see ``server.cli``)."""

import sys

from server.cli import main

sys.exit(main())
