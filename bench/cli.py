"""The command line: ``python -m bench run`` and ``python -m bench compare``, which ``zkref``
offers as ``zkref bench run`` and ``zkref bench compare``.

A target is either servers already running (``host:port[,host:port...]``) or servers this
command starts itself and stops when it ends (``start:KIND[:SIZE]``: ``start:zkref:3`` is a
three-server zkref ensemble, ``start:apache`` a standalone Apache ZooKeeper; see
``bench.launch``). Started servers are measured with their CPU time (all their PIDs).
``failover`` (``bench.failover``) kills ensemble leaders and times how soon writes resume.

Exit status: 0 when every workload completed operations without a problem, 1 when some
workload reported a problem (error replies, a failed worker, leftovers it could not delete;
the results are still printed and written), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.launch import KINDS, Ensemble, LaunchError, signals_raise
from bench.report import (
    compare_document,
    compare_legend,
    compare_table,
    compare_workloads,
    machine,
    problems_text,
    run_document,
    run_table,
    write_json,
)
from bench.runner import (
    Bench,
    BenchError,
    Settings,
    Target,
    WorkloadResult,
    parse_hosts,
    stderr_progress,
)
from bench.svg import Bar, bar_chart
from bench.workloads import DEFAULT_WORKLOADS, WORKLOADS


def _workloads(text: str) -> tuple[str, ...]:
    if text == "all":
        return DEFAULT_WORKLOADS
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    lowered = {name.lower(): name for name in WORKLOADS}
    resolved = []
    for name in names:
        if name.lower() not in lowered:
            raise argparse.ArgumentTypeError(
                f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}"
            )
        resolved.append(lowered[name.lower()])
    return tuple(resolved)


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    names = "\n".join(f"  {w.name:<12} {w.description}" for w in WORKLOADS.values())
    parser.epilog = f"workloads:\n{names}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--workloads",
        type=_workloads,
        default=DEFAULT_WORKLOADS,
        metavar="W[,W...]",
        help="workloads to run, in order, or 'all' (default: all)",
    )
    parser.add_argument(
        "--clients", type=int, default=16, metavar="N", help="connections in total (16)"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=4,
        metavar="N",
        help="operations outstanding per connection (4)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        metavar="N",
        help="worker processes the connections are spread over (2)",
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="seconds measured per workload, after the warm-up (default 5)",
    )
    amount.add_argument(
        "--count", type=int, metavar="N", help="operations per workload instead of a duration"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds run before measuring, with --duration (0.5)",
    )
    parser.add_argument(
        "--value-size", type=int, default=100, metavar="BYTES", help="znode value size (100)"
    )
    parser.add_argument(
        "--watchers",
        type=int,
        default=100,
        metavar="N",
        help="watcher sessions of the fan-out workload (100)",
    )
    parser.add_argument(
        "--children",
        type=int,
        default=1000,
        metavar="N",
        help="children of the node getChildren reads (1000)",
    )
    parser.add_argument(
        "--prime",
        type=float,
        default=0.0,
        metavar="S",
        help="first run every workload for S seconds against each target, unreported "
        "(a JVM compiles its hot paths; 0: no priming pass)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Benchmark ZooKeeper servers (Apache ZooKeeper, zkref, ...) "
        "over the wire protocol.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # Parsed by bench.failover itself (main hands it the rest of the command line).
    commands.add_parser(
        "failover",
        add_help=False,
        help="kill ensemble leaders while a client writes; time until writes resume",
    )
    run = commands.add_parser(
        "run",
        help="run workloads against one server or ensemble",
        description="Run workloads against one server or ensemble and print ops/s and "
        "latency percentiles per workload.",
    )
    run.add_argument(
        "--hosts",
        required=True,
        metavar="H[,H...]",
        help="host:port list (port 2181 default), or start:KIND[:SIZE] to start "
        f"servers ({'|'.join(KINDS)}, SIZE servers, 1 by default) and stop them afterwards",
    )
    run.add_argument("--name", default="target", help="the target's name in the report (target)")
    run.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        metavar="PID",
        help="a server's PID on this machine, to report the CPU time per operation of all "
        "of them together (repeat for an ensemble)",
    )
    _add_load_options(run)
    compare = commands.add_parser(
        "compare",
        help="run the same workloads against two targets, alternating, and report B/A",
        description="Run every workload against both targets in turn (A B, then B A, ... "
        "for each round) and report per workload the ratio B/A with its spread over rounds.",
    )
    compare.add_argument(
        "a",
        metavar="A=HOSTS",
        help="first target: name=host:port[,...], or name=start:KIND[:SIZE] to start servers",
    )
    compare.add_argument(
        "b",
        metavar="B=HOSTS",
        help="second target: name=host:port[,...], or name=start:KIND[:SIZE] to start servers",
    )
    compare.add_argument("--rounds", type=int, default=3, metavar="N", help="rounds (3)")
    compare.add_argument(
        "--server-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="a target's server PID on this machine, to report its CPU time per operation "
        "(repeat the NAME for each server of an ensemble)",
    )
    compare.add_argument("--plot", type=Path, metavar="FILE.svg", help="write an SVG bar chart")
    _add_load_options(compare)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    duration = args.duration if args.duration is not None or args.count is not None else 5.0
    return Settings(
        workloads=args.workloads,
        clients=args.clients,
        in_flight=args.in_flight,
        processes=args.processes,
        duration_s=duration,
        count=args.count,
        warmup_s=args.warmup,
        value_size=args.value_size,
        watchers=args.watchers,
        children_count=args.children,
    )


START_PREFIX = "start:"


def parse_start(text: str) -> tuple[str, int] | None:
    """``start:KIND[:SIZE]`` as (kind, size); None for anything else (a host list)."""
    if not text.startswith(START_PREFIX):
        return None
    kind, _, size = text[len(START_PREFIX) :].partition(":")
    if kind not in KINDS:
        raise BenchError(f"start:{kind}: unknown server kind; known: {', '.join(KINDS)}")
    if size and not size.isdigit():
        raise BenchError(f"{text}: SIZE must be a number of servers")
    count = int(size) if size else 1
    if not 1 <= count <= 9:
        raise BenchError(f"{text}: an ensemble of 1 to 9 servers")
    return kind, count


class Servers:
    """The servers a command started (``start:KIND[:SIZE]`` targets), all in one temporary
    directory, stopped by PID when the command ends however it ends."""

    def __init__(self, stack: contextlib.ExitStack, progress_line: Callable[[str], None]) -> None:
        self.stack = stack
        self.line = progress_line
        self.home: Path | None = None

    def target(self, name: str, hosts_text: str, pids: Sequence[int] = ()) -> Target:
        started = parse_start(hosts_text)
        if started is None:
            return Target(name, parse_hosts(hosts_text), tuple(pids))
        kind, size = started
        if self.home is None:
            self.home = Path(
                self.stack.enter_context(tempfile.TemporaryDirectory(prefix="zkref-bench-"))
            )
        ensemble = self.stack.enter_context(Ensemble(kind, size, self.home / name))
        what = f"{kind} ensemble of {size}" if size > 1 else f"{kind} standalone"
        self.line(f"starting {name}: {what} in {ensemble.home}")
        try:
            ensemble.start()
        except LaunchError as error:
            raise BenchError(f"{name}: {error}") from None
        roles = ", ".join(f"{m.address} {m.mode()} (pid {m.pid})" for m in ensemble.members)
        self.line(f"{name} serving: {roles}")
        return Target(name, ensemble.hosts, tuple(ensemble.pids()))


@contextlib.contextmanager
def _servers(progress_line: Callable[[str], None]) -> Iterator[Servers]:
    with signals_raise(), contextlib.ExitStack() as stack:
        yield Servers(stack, progress_line)


def _pids(values: Sequence[str]) -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {}
    for value in values:
        name, _, pid = value.partition("=")
        if not pid.isdigit():
            raise BenchError(f"expected --server-pid NAME=PID, got {value!r}")
        pids.setdefault(name, []).append(int(pid))
    return pids


def _split_named(text: str) -> tuple[str, str]:
    name, equals, hosts = text.partition("=")
    if not equals or not name:
        raise BenchError(f"expected NAME=host:port[,...] or NAME=start:KIND[:SIZE], got {text!r}")
    return name, hosts


def _prime(bench: Bench, targets: Sequence[Target], seconds: float) -> None:
    """Run every workload briefly against each target, reporting nothing."""
    if seconds <= 0:
        return
    for target in targets:
        for workload in bench.settings.workloads:
            bench.run_workload(target, workload, "priming", duration_s=seconds)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    """The benchmark with ``argv``, its usage and errors calling it ``prog`` (``zkref bench``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["failover"]:
        from bench.failover import main as failover_main

        return failover_main(arguments[1:], f"{prog} failover")
    parser = _parser(prog)
    args = parser.parse_args(arguments)
    try:
        if args.command == "run":
            return _run(args)
        return _compare(args)
    except BenchError as error:
        parser.exit(2, f"{prog}: {error}\n")
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = machine()
    progress = stderr_progress(args.quiet)
    results: list[WorkloadResult] = []
    with _servers(progress.line) as servers:
        target = servers.target(args.name, args.hosts, args.server_pid)
        progress.line(f"zkref bench run: {target.name} at {target.hosts_text}, {settings.shape}")
        with Bench(settings, progress) as bench:
            _prime(bench, [target], args.prime)
            for workload in settings.workloads:
                results.append(bench.run_workload(target, workload))
    print(f"\n{target.name} at {target.hosts_text}: {settings.shape}")
    print(run_table(results))
    problems = problems_text(results)
    if problems:
        print(f"\nproblems:\n{problems}")
    if args.json is not None:
        write_json(args.json, run_document(target, settings, started, results))
    return 0 if all(r.ok for r in results) else 1


def _compare(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pids = _pids(args.server_pid)
    (a_name, a_hosts), (b_name, b_hosts) = _split_named(args.a), _split_named(args.b)
    if a_name == b_name:
        raise BenchError("the two targets need different names")
    if args.rounds < 1:
        raise BenchError("--rounds must be at least 1")
    settings.validate()
    started = machine()
    progress = stderr_progress(args.quiet)
    results: list[WorkloadResult] = []
    with _servers(progress.line) as servers:
        a = servers.target(a_name, a_hosts, pids.get(a_name, ()))
        b = servers.target(b_name, b_hosts, pids.get(b_name, ()))
        progress.line(
            f"zkref bench compare: A = {a.name} at {a.hosts_text}, B = {b.name} at "
            f"{b.hosts_text}, {settings.shape}, {args.rounds} rounds"
        )
        with Bench(settings, progress) as bench:
            _prime(bench, [a, b], args.prime)
            for round_index in range(args.rounds):
                # A B in even rounds, B A in odd ones: neither target always goes first.
                order = (a, b) if round_index % 2 == 0 else (b, a)
                label = f"round {round_index + 1}/{args.rounds}"
                for workload in settings.workloads:
                    for target in order:
                        results.append(bench.run_workload(target, workload, label))
    comparisons = compare_workloads(a, b, settings.workloads, results)
    print(f"\n{settings.shape}; {compare_legend(a, b, args.rounds)}")
    print(compare_table(a, b, comparisons))
    problems = problems_text(results)
    if problems:
        print(f"\nproblems:\n{problems}")
    if args.json is not None:
        document = compare_document(a, b, settings, args.rounds, started, comparisons, results)
        write_json(args.json, document)
    if args.plot is not None:
        bars = {}
        for c in comparisons:
            for name, spread in c.ops_per_s.items():
                if spread.median is not None:
                    bars[(c.workload, name)] = Bar(spread.median, spread.low, spread.high)
        title = f"zkref bench compare: {b.name} vs {a.name}"
        subtitle = f"{settings.shape}, {args.rounds} rounds, {started['date']}, {started['host']}"
        chart = bar_chart(
            title, subtitle, settings.workloads, [a.name, b.name], bars, "ops/s (median)"
        )
        args.plot.write_text(chart)
    return 0 if all(r.ok for r in results) else 1
