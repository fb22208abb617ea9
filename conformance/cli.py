"""Command line of the conformance tools: ``python -m conformance check history.jsonl`` and
``python -m conformance run --hosts host:port[,...]``, which ``zkref`` offers as
``zkref check`` (``check_command``) and ``zkref conformance`` (``run_command``).

``run`` runs the conformance suite (``conformance.suite``) against a live server: progress on
stderr while it runs, then the report (passed / failed per chapter, the evidence of each
failure, how many scenarios and model-checker steps ran); ``--json FILE`` also writes it as
JSON. Exit status 0 if everything passed, 1 on any failure, 2 if the suite could not run.

``check`` reads a history (JSON lines, ``conformance/HISTORY.md``), judges it
(``conformance.checker``) and prints the verdict with its evidence. Exit status: 0 the history
is allowed, 1 it shows a violation, 2 the input is bad (unreadable file, malformed history,
unknown profile), 3 undecided (the bounded search over operations with unknown outcome ran
out before it could decide). ``--json FILE`` also writes the verdict as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance.checker import MODES, check
from conformance.ensemble import KINDS, SIZES, EnsembleSettings, LocalEnsemble, apache_missing
from conformance.history import HistoryFormatError, load_history
from conformance.model import run_model
from conformance.nemesis import NodeError
from conformance.nemesisreport import analyse
from conformance.nemesisrun import LIVENESS_TIMEOUT_S, NemesisOptions, run_nemesis
from conformance.proxy import ProxyError
from conformance.scenarios.base import CONTAINER_CHECK_INTERVAL_MS, REAP_WAIT_MAX_S, Target
from conformance.schedule import FAULTS
from conformance.suite import (
    DEFAULT_DURATION_S,
    DEFAULT_EXAMPLES,
    SuiteError,
    SuiteOptions,
    run_suite,
    server_version,
)
from spec.profiles import PROFILES, profile_for_version

EXIT_ALLOWED = 0
EXIT_VIOLATION = 1
EXIT_BAD_INPUT = 2
EXIT_UNDECIDED = 3

MODE_HELP = (
    "the guarantee to hold the server to. zookeeper (default): what an Apache ZooKeeper "
    "ensemble promises, sync not held to real time (ZOOKEEPER-1675); sync-linearizable: also a "
    "sync, and every read after it on its session, sees every write completed before the sync "
    "was sent (zkref with quorumSync=true, or one server); linearizable: every read sees every "
    "write completed before it was sent (one server)"
)


def _parser(check_prog: str | None = None, run_prog: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``check_prog``/``run_prog`` name a command in its usage lines (default:
    ``python -m conformance check``/``run``)."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Conformance tools for ZooKeeper-compatible servers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check_cmd = commands.add_parser(
        "check",
        prog=check_prog,
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
    check_cmd.add_argument("--mode", choices=MODES, default="zookeeper", help=MODE_HELP)
    check_cmd.add_argument("--json", metavar="FILE", help="also write the verdict as JSON here")
    run_cmd = commands.add_parser(
        "run",
        prog=run_prog,
        help="run the conformance suite (scenarios and the model checker) against a server",
        description=(
            "Run every scenario and the Hypothesis model checker against a live server. "
            "Exit 0: everything passed; 1: a failure; 2: the suite could not run."
        ),
    )
    target = run_cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("--hosts", help="host:port[,host:port...]: the servers under test")
    target.add_argument(
        "--ensemble",
        choices=KINDS,
        help="start an ensemble of this kind here (127.0.0.1, free ports, data in a temporary "
        "directory; mixed: Apache ZooKeeper 3.8 servers and zkref servers, zkref at the "
        "highest id, started first) and run clients against it while a nemesis "
        "kills, pauses and partitions its servers; the history is judged and every "
        "acknowledged write read back",
    )
    run_cmd.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="the version profile to hold the server to (default: from its srvr answer)",
    )
    run_cmd.add_argument("--mode", choices=MODES, default="zookeeper", help=MODE_HELP)
    run_cmd.add_argument(
        "--examples", type=int, default=DEFAULT_EXAMPLES, help="model-checker examples at most"
    )
    run_cmd.add_argument(
        "--seed",
        type=int,
        help="the model checker's seed (default: a random one; the report says which), "
        "to replay a run",
    )
    run_cmd.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION_S,
        help="seconds after which the model checker starts no new example",
    )
    settings = run_cmd.add_argument_group(
        "server settings",
        "Settings of the server that change what clients see. TTL nodes are learned from "
        "the server (what a createTTL answers) unless --extended-types says; the others "
        "cannot be asked for and default to Apache ZooKeeper's.",
    )
    settings.add_argument(
        "--extended-types",
        choices=["on", "off"],
        help="whether the server has TTL nodes (zookeeper.extendedTypesEnabled; "
        "default: ask the server)",
    )
    settings.add_argument(
        "--container-check-interval",
        type=int,
        metavar="MS",
        default=CONTAINER_CHECK_INTERVAL_MS,
        help="how often the server reaps empty containers and expired TTL nodes "
        "(znode.container.checkIntervalMs; %(default)s)",
    )
    settings.add_argument(
        "--container-max-never-used",
        type=int,
        metavar="MS",
        default=0,
        help="znode.container.maxNeverUsedIntervalMs (%(default)s: containers that never had "
        "a child are kept)",
    )
    settings.add_argument(
        "--jute-maxbuffer",
        type=int,
        metavar="BYTES",
        default=0xFFFFF,
        help="the server's jute.maxbuffer (%(default)s)",
    )
    run_cmd.add_argument(
        "--reap-wait",
        type=float,
        metavar="S",
        default=REAP_WAIT_MAX_S,
        help="the longest the suite waits for a reaping (%(default)s s): a reaping scenario "
        "that the container check interval makes longer is reported not checked",
    )
    nemesis = run_cmd.add_argument_group(
        "nemesis run (with --ensemble)",
        "--duration is how long the clients work under faults, --seed draws the schedule "
        "(printed first; the same seed replays it).",
    )
    nemesis.add_argument("--size", type=int, choices=SIZES, default=3, help="servers (%(default)s)")
    nemesis.add_argument(
        "--nemesis",
        default=",".join(FAULTS),
        metavar="FAULTS",
        help="comma-separated faults among kill (kill -9, restart on the same data), pause "
        "(SIGSTOP/SIGCONT), partition (proxied peer links cut, also one-way), or none "
        "(%(default)s)",
    )
    nemesis.add_argument(
        "--clients", type=int, default=8, help="concurrent client sessions (%(default)s)"
    )
    nemesis.add_argument(
        "--tick-time", type=int, default=1000, metavar="MS", help="tickTime (%(default)s)"
    )
    nemesis.add_argument(
        "--think",
        type=float,
        default=50.0,
        metavar="MS",
        help="a client's mean pause between two requests: bounds the load (%(default)s)",
    )
    nemesis.add_argument(
        "--liveness-timeout",
        type=float,
        default=LIVENESS_TIMEOUT_S,
        metavar="S",
        help="after healing, how long one leader followed by all and an answered write may "
        "take (%(default)s)",
    )
    nemesis.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the servers' directories, logs and the history here (default: a temporary "
        "directory, removed; the history is kept and its path printed)",
    )
    nemesis.add_argument(
        "--model",
        action="store_true",
        help="instead of the clients' workload, run the Hypothesis model checker (up to "
        "--examples examples for --duration seconds) with the nemesis as rules: kill -9, "
        "restart, pause, resume, partition and heal interleaved with several sessions' requests",
    )
    # Test-only: start zkref servers with a planted ZAB bug (zkref serve --plant NAME).
    nemesis.add_argument("--plant", action="append", default=[], help=argparse.SUPPRESS)
    run_cmd.add_argument("--chapter", action="append", default=[], help="only these chapters")
    run_cmd.add_argument("--no-model", action="store_true", help="skip the model checker")
    run_cmd.add_argument("--json", metavar="FILE", help="also write the report as JSON here")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.ensemble is not None:
        return _run_nemesis(args)
    options = SuiteOptions(
        hosts=tuple(h.strip() for h in args.hosts.split(",") if h.strip()),
        profile=args.profile,
        examples=args.examples,
        duration_s=args.duration,
        reap_wait_s=args.reap_wait,
        chapters=tuple(args.chapter),
        model=not args.no_model,
        seed=args.seed,
        extended_types=None if args.extended_types is None else args.extended_types == "on",
        container_check_interval_ms=args.container_check_interval,
        container_max_never_used_interval_ms=args.container_max_never_used,
        jute_max_buffer=args.jute_maxbuffer,
        mode=args.mode,
    )
    try:
        report = run_suite(options, lambda line: print(line, file=sys.stderr, flush=True))
    except (SuiteError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(report.render())
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report.to_json(), out, indent=2)
                out.write("\n")
        except OSError as error:
            print(f"error: cannot write {args.json}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_ALLOWED if report.passed else EXIT_VIOLATION


def _run_nemesis(args: argparse.Namespace) -> int:
    """``--ensemble KIND``: a nemesis run (``conformance.nemesisrun``); exit 0 valid,
    1 a violation, 2 it could not run, 3 undecided. SIGTERM is handled as Ctrl-C: every
    server is stopped before the command exits."""
    faults = tuple(f for f in args.nemesis.split(",") if f and f != "none")
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        print(f"error: unknown faults {unknown}; known: {', '.join(FAULTS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.ensemble in ("apache", "mixed") and (missing := apache_missing()) is not None:
        print(f"error: Apache ZooKeeper cannot run here: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = NemesisOptions(
        kind=args.ensemble,
        size=args.size,
        faults=faults,
        duration_s=args.duration,
        clients=args.clients,
        seed=args.seed,
        tick_time_ms=args.tick_time,
        plants=tuple(args.plant),
        keep=None if args.keep is None else Path(args.keep),
        think_ms=args.think,
        mode=args.mode,
        liveness_timeout_s=args.liveness_timeout,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    if args.model:
        try:
            return _run_model_under_nemesis(args, options, progress)
        except KeyboardInterrupt:
            print("interrupted: every server was stopped", file=sys.stderr)
            return 130
        except (NodeError, ProxyError, ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        finally:
            signal.signal(signal.SIGTERM, previous)
    try:
        record = run_nemesis(options, progress)
        progress(f"judging the history ({record.history_path})")
        report = analyse(record)
    except KeyboardInterrupt:
        print("interrupted: every server was stopped", file=sys.stderr)
        return 130
    except (NodeError, ProxyError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report.render())
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report.to_json(), out, indent=2)
                out.write("\n")
        except OSError as error:
            print(f"error: cannot write {args.json}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if report.status == "VALID":
        return EXIT_ALLOWED
    return EXIT_UNDECIDED if report.status == "UNDECIDED" else EXIT_VIOLATION


def _run_model_under_nemesis(
    args: argparse.Namespace, options: NemesisOptions, progress: Callable[[str], None]
) -> int:
    """``--ensemble KIND --model``: the model checker with the nemesis as rules."""
    with (
        tempfile.TemporaryDirectory(prefix="zkref-model-") as home,
        LocalEnsemble(
            options.kind,
            options.size,
            Path(home),
            EnsembleSettings(tick_time_ms=options.tick_time_ms),
            options.plants,
        ) as ensemble,
    ):
        progress(f"starting {options.size} {options.kind} servers in {home}")
        leader = ensemble.start()
        progress(f"formed in {ensemble.formed_in_s:.1f} s, server {leader} leads")
        hosts = tuple(ensemble.hosts)
        target = Target(
            hosts,
            profile_for_version(server_version(hosts)),
            session_timeout_ms=options.session_timeout_ms,
            request_timeout_s=options.request_timeout_s,
            mode=options.mode,
        )
        result = run_model(
            target, args.examples, options.duration_s, progress, options.seed, ensemble
        )
    faults = sum(1 for step in result.trace if step.startswith("nemesis:"))
    print(
        f"model checker under the nemesis against {options.size} {options.kind} servers: "
        f"{result.examples} examples, {result.steps} steps ({faults} nemesis steps), "
        f"{result.operations} operations, seed {result.seed}: "
        + ("PASSED" if result.passed else "FAILED")
    )
    if not result.passed:
        print(result.evidence)
    for note in result.log:
        print(f"  {note}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({**result.to_json(), "nemesis_steps": faults}, out, indent=2)
            out.write("\n")
    return EXIT_ALLOWED if result.passed else EXIT_VIOLATION


def check_command(argv: Sequence[str], prog: str) -> int:
    """``check`` with ``argv``, its usage and errors calling it ``prog`` (``zkref check``)."""
    return main(["check", *argv], check_prog=prog)


def run_command(argv: Sequence[str], prog: str) -> int:
    """``run`` with ``argv``, its usage and errors calling it ``prog`` (``zkref conformance``)."""
    return main(["run", *argv], run_prog=prog)


def main(
    argv: Sequence[str] | None = None,
    *,
    check_prog: str | None = None,
    run_prog: str | None = None,
) -> int:
    args = _parser(check_prog, run_prog).parse_args(argv)
    if args.command == "run":
        return _run(args)
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
