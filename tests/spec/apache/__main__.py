"""Regenerate the recorded facts from the installed jars: ``python -m tests.spec.apache``."""

from __future__ import annotations

import sys

from tests.spec.apache import FACTS_PATH, extract, missing, render


def main() -> int:
    why_not = missing()
    if why_not is not None:
        print(f"cannot extract: {why_not}", file=sys.stderr)
        return 1
    FACTS_PATH.write_text(render(extract()), encoding="utf-8")
    print(f"wrote {FACTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
