"""Command line of the conformance tools: ``python -m conformance check history.jsonl``.

``check`` reads a history (JSON lines, ``conformance/HISTORY.md``), judges it
(``conformance.checker``) and prints the verdict with its evidence. Exit status: 0 the history
is allowed, 1 it shows a violation, 2 the input is bad (unreadable file, malformed history,
unknown profile), 3 undecided (the bounded search over operations with unknown outcome ran
out before it could decide). ``--json FILE`` also writes the verdict as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from conformance.checker import MODES, check
from conformance.history import HistoryFormatError, load_history
from spec.profiles import PROFILES

EXIT_ALLOWED = 0
EXIT_VIOLATION = 1
EXIT_BAD_INPUT = 2
EXIT_UNDECIDED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Conformance tools for ZooKeeper-compatible servers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser(
        "check",
        help="decide whether a recorded history is allowed by ZooKeeper's guarantees",
        description=(
            "Judge a history (JSON lines) against the spec. Exit 0: allowed; 1: violation; "
            "2: bad input; 3: undecided."
        ),
    )
    check_cmd.add_argument("history", help="the history file (JSON lines)")
    check_cmd.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="the version profile to hold the server to (default: the history's, else 3.9)",
    )
    check_cmd.add_argument(
        "--mode",
        choices=MODES,
        default="zookeeper",
        help="zookeeper: what Apache ZooKeeper promises (default); "
        "linearizable: reads must also see every write completed before they began",
    )
    check_cmd.add_argument("--json", metavar="FILE", help="also write the verdict as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "check":  # pragma: no cover - argparse enforces the choices
        return EXIT_BAD_INPUT
    try:
        history = load_history(args.history)
        verdict = check(history, args.profile, args.mode)
    except (OSError, HistoryFormatError) as error:
        print(f"error: {args.history}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(verdict.render())
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(verdict.to_json(), out, indent=2)
                out.write("\n")
        except OSError as error:
            print(f"error: cannot write {args.json}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if verdict.violations:
        return EXIT_VIOLATION
    if verdict.undecided:
        return EXIT_UNDECIDED
    return EXIT_ALLOWED
