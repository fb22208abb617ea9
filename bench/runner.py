"""The parent process: worker pool, one workload run from setup to teardown, the results.

``Bench`` owns a pool of ``processes`` worker processes (``multiprocessing``, *spawn*, so a
worker shares nothing with the parent but its pipe and one slot of a progress array) that
lives for the whole command, so a compare of many runs pays the start-up once. For each
workload run it

1. creates the run's root and the znodes the workload reads (``bench.znodes``), over one
   session to the target's first host;
2. sends every worker its ``WorkerPlan`` and waits until all have their sessions open, then
   says ``go`` to all at once; while they run, it prints the progress line;
3. gathers the ``WorkerResult``s, deletes the root and everything under it, and merges the
   results into one ``WorkloadResult`` (the JSON and the tables are made from these).

A worker that fails, dies or overruns its bound is stopped by its PID and the pool is
started again; the run reports the failure as a problem rather than hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import multiprocessing
import multiprocessing.connection
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any, Final, TextIO

from bench.histogram import LatencyHistogram
from bench.wire import (
    BenchProtocolError,
    close_call_session,
    error_name,
    open_call_session,
    sync_through,
)
from bench.worker import (
    CLEANUP_TIMEOUT_S,
    COUNT_RUN_TIMEOUT_S,
    DRAIN_TIMEOUT_S,
    READY_TIMEOUT_S,
    WorkerPlan,
    WorkerResult,
    worker_main,
)
from bench.workloads import WORKLOADS
from bench.znodes import create_root, prepare, remove_tree

WORKER_STOP_TIMEOUT_S: Final = 5.0
PROGRESS_TTY_INTERVAL_S: Final = 0.5
PROGRESS_LOG_INTERVAL_S: Final = 5.0
SETUP_TIMEOUT_S: Final = 60.0
TEARDOWN_TIMEOUT_S: Final = 330.0
DEFAULT_PORT: Final = 2181


class BenchError(Exception):
    """A benchmark could not run (bad arguments, unreachable server); the message says why."""


# --- what to run, and against what -------------------------------------------------------------


def parse_hosts(text: str) -> tuple[tuple[str, int], ...]:
    """``host[:port][,host[:port]...]`` (port 2181 when omitted)."""
    hosts: list[tuple[str, int]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        try:
            hosts.append((host.strip("[]"), int(port) if port else DEFAULT_PORT))
        except ValueError:
            raise BenchError(f"bad host {item!r}: expected host:port") from None
    if not hosts:
        raise BenchError(f"no host in {text!r}")
    return tuple(hosts)


@dataclass(frozen=True, slots=True)
class Target:
    """A server (or ensemble) to measure: its name in reports, its hosts, and the PIDs of its
    server processes on this machine when known (their CPU time is summed)."""

    name: str
    hosts: tuple[tuple[str, int], ...]
    server_pids: tuple[int, ...] = ()

    @property
    def hosts_text(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self.hosts)


@dataclass(frozen=True, slots=True)
class Settings:
    """How every workload is run (the same for both targets of a compare)."""

    workloads: tuple[str, ...]
    clients: int = 16
    in_flight: int = 4
    processes: int = 2
    duration_s: float | None = 5.0
    count: int | None = None
    warmup_s: float = 0.5
    value_size: int = 100
    watchers: int = 100
    children_count: int = 1000

    def validate(self) -> None:
        unknown = [w for w in self.workloads if w not in WORKLOADS]
        if unknown:
            raise BenchError(f"unknown workload {unknown[0]!r}; known: {', '.join(WORKLOADS)}")
        if not self.workloads:
            raise BenchError("no workload to run")
        if self.processes < 1 or self.clients < self.processes:
            raise BenchError("need at least one client per process (--clients >= --processes)")
        if self.in_flight < 1:
            raise BenchError("--in-flight must be at least 1")
        if (self.duration_s is None) == (self.count is None):
            raise BenchError("give either a duration or a count")
        if self.duration_s is not None and self.duration_s <= 0:
            raise BenchError("--duration must be positive")
        if self.count is not None and self.count < 1:
            raise BenchError("--count must be at least 1")
        if self.value_size < 0 or self.watchers < 1 or self.children_count < 0:
            raise BenchError("--value-size, --watchers and --children must not be negative")

    @property
    def shape(self) -> str:
        """``c64 (2 processes × 8 connections × 4 in flight)``."""
        per_process = self.clients / self.processes
        per = f"{per_process:g}"
        return (
            f"c{self.clients * self.in_flight} ({self.processes} processes × {per} connections"
            f" × {self.in_flight} in flight)"
        )

    def run_bound_s(self) -> float:
        """How long the parent waits for the workers' results before stopping them."""
        measured = COUNT_RUN_TIMEOUT_S if self.duration_s is None else self.duration_s
        return self.warmup_s + measured + 2 * DRAIN_TIMEOUT_S + CLEANUP_TIMEOUT_S + 30.0


# --- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class WorkloadResult:
    """One workload run against one target: what the tables and the JSON show."""

    workload: str
    target: str
    hosts: str
    started_at: str
    ops: int = 0
    window_s: float = 0.0
    ops_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    client_cpu_us_per_op: float | None = None
    client_cpu_busy: float | None = None
    server_cpu_us_per_op: float | None = None
    notifications: int = 0
    teardown: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    histogram: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.ops > 0 and not self.problems

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> WorkloadResult:
        return cls(**document)


def summarise(
    workload: str,
    target: Target,
    started_at: str,
    settings: Settings,
    results: Sequence[WorkerResult],
) -> WorkloadResult:
    """Merge the workers' results of one run."""
    histogram = LatencyHistogram()
    errors: dict[str, int] = {}
    problems: list[str] = []
    ops = 0
    cpu_s = 0.0
    notifications = 0
    for result in results:
        histogram.merge(result.histogram)
        ops += result.completed
        cpu_s += result.cpu_s
        notifications += result.notifications
        for code, count in result.errors.items():
            errors[error_name(code)] = errors.get(error_name(code), 0) + count
        problems.extend(f"worker {result.worker_index}: {p}" for p in result.problems)
    if settings.duration_s is not None:
        window_s = settings.duration_s
    else:
        window_s = max((r.window_s for r in results), default=0.0)
    active = 1 if WORKLOADS[workload].single_process else len(results)
    server_cpu_s = results[0].server_cpu_s if results else None
    summary = WorkloadResult(workload, target.name, target.hosts_text, started_at)
    summary.ops = ops
    summary.window_s = round(window_s, 6)
    summary.ops_per_s = round(ops / window_s, 1) if window_s > 0 else 0.0
    summary.latency_ms = {
        "p50": _ms(histogram.percentile_ns(50)),
        "p99": _ms(histogram.percentile_ns(99)),
        "p999": _ms(histogram.percentile_ns(99.9)),
        "mean": _ms(histogram.mean_ns),
        "max": _ms(histogram.max_ns),
    }
    summary.errors = errors
    if errors:
        described = ", ".join(f"{count} × {name}" for name, count in sorted(errors.items()))
        problems.append(f"error replies: {described}")
    summary.client_cpu_s = round(cpu_s, 4)
    if ops:
        summary.client_cpu_us_per_op = round(cpu_s / ops * 1e6, 2)
        if server_cpu_s is not None:
            summary.server_cpu_us_per_op = round(server_cpu_s / ops * 1e6, 2)
    if window_s > 0:
        summary.client_cpu_busy = round(cpu_s / (window_s * active), 3)
    summary.notifications = notifications
    summary.problems = problems
    summary.histogram = histogram.to_json()
    return summary


def _ms(value_ns: float) -> float:
    return round(value_ns / 1e6, 4)


# --- progress ----------------------------------------------------------------------------------


class Progress:
    """The progress line: rewritten in place on a terminal, a line every few seconds in a log."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.tty = stream is not None and stream.isatty()
        self.last_shown = 0.0
        self.shown = False

    def update(self, text: str) -> None:
        stream = self.stream
        if stream is None:
            return
        now = time.monotonic()
        interval = PROGRESS_TTY_INTERVAL_S if self.tty else PROGRESS_LOG_INTERVAL_S
        if now - self.last_shown < interval:
            return
        self.last_shown = now
        if self.tty:
            stream.write(f"\r\x1b[K{text}")
            self.shown = True
        else:
            stream.write(f"{text}\n")
        stream.flush()

    def line(self, text: str) -> None:
        """A line that stays (a finished run)."""
        stream = self.stream
        if stream is None:
            return
        if self.tty and self.shown:
            stream.write("\r\x1b[K")
            self.shown = False
        stream.write(f"{text}\n")
        stream.flush()
        # On a terminal the next run's progress shows at once; in a log, after an interval.
        self.last_shown = 0.0 if self.tty else time.monotonic()


# --- the worker pool ---------------------------------------------------------------------------


class WorkerFailure(Exception):
    """A worker failed, died or overran its bound; the message says which and why."""


class WorkerPool:
    """``processes`` worker processes, each with its pipe and a slot in ``progress``."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._context = multiprocessing.get_context("spawn")
        self.progress: Any = self._context.Array("q", processes, lock=False)
        self.workers: list[tuple[SpawnProcess, Connection]] = []

    def start(self) -> None:
        assert not self.workers, "started twice"
        for index in range(self.processes):
            parent_end, child_end = self._context.Pipe()
            process = self._context.Process(
                target=worker_main,
                args=(child_end, self.progress, index),
                name=f"zkref-bench-worker-{index}",
                daemon=True,
            )
            process.start()
            child_end.close()
            self.workers.append((process, parent_end))

    def stop(self) -> None:
        """Ask every worker to exit; stop those that do not by their PID."""
        for _, control in self.workers:
            with contextlib.suppress(OSError):
                control.send(("exit", None))
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        for process, control in self.workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()  # SIGTERM to this worker's PID
                process.join(WORKER_STOP_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join(WORKER_STOP_TIMEOUT_S)
            control.close()
        self.workers = []

    def restart(self) -> None:
        self.stop()
        self.start()

    def run(
        self,
        plans: Sequence[WorkerPlan],
        bound_s: float,
        on_progress: Callable[[int, float], None],
    ) -> list[WorkerResult]:
        """Prepare every worker, start them together, return their results in order."""
        assert len(plans) == len(self.workers)
        for index in range(self.processes):
            self.progress[index] = 0
        for (_, control), plan in zip(self.workers, plans, strict=True):
            control.send(("prepare", plan))
        replies = self._collect("ready", READY_TIMEOUT_S + 5.0, None)
        failures = [str(payload) for kind, payload in replies.values() if kind != "ready"]
        if failures:
            for index, (kind, _) in replies.items():
                if kind == "ready":
                    self.workers[index][1].send(("abort", None))
            ready = [i for i, (kind, _) in replies.items() if kind == "ready"]
            self._collect("result", WORKER_STOP_TIMEOUT_S, None, only=ready)
            raise WorkerFailure("; ".join(failures))
        for _, control in self.workers:
            control.send(("go", None))
        replies = self._collect("result", bound_s, on_progress)
        failures = [str(payload) for kind, payload in replies.values() if kind != "result"]
        if failures:
            raise WorkerFailure("; ".join(failures))
        results = [replies[index][1] for index in sorted(replies)]
        assert all(isinstance(r, WorkerResult) for r in results), "a reply that is no result"
        return results  # type: ignore[return-value]

    def _collect(
        self,
        expected: str,
        bound_s: float,
        on_progress: Callable[[int, float], None] | None,
        only: Sequence[int] | None = None,
    ) -> dict[int, tuple[str, object]]:
        """One message from each worker (or each of ``only``), within ``bound_s``."""
        started = time.monotonic()
        waiting = {
            control: index
            for index, (_, control) in enumerate(self.workers)
            if only is None or index in only
        }
        replies: dict[int, tuple[str, object]] = {}
        while waiting:
            elapsed = time.monotonic() - started
            if elapsed > bound_s:
                names = ", ".join(f"worker {i}" for i in sorted(waiting.values()))
                raise WorkerFailure(f"no {expected} from {names} within {bound_s:.0f} s")
            for ready in multiprocessing.connection.wait(list(waiting), timeout=0.2):
                assert isinstance(ready, Connection)
                index = waiting.pop(ready)
                try:
                    kind, payload = ready.recv()
                except (EOFError, OSError):
                    kind, payload = "died", f"worker {index} exited unexpectedly"
                replies[index] = (kind, payload)
            if on_progress is not None:
                on_progress(sum(self.progress), time.monotonic() - started)
        return replies


# --- one workload run --------------------------------------------------------------------------


class Bench:
    """Runs workloads against targets with one worker pool (use as a context manager)."""

    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        settings.validate()
        self.settings = settings
        self.progress = progress or Progress(None)
        self.pool = WorkerPool(settings.processes)

    def __enter__(self) -> Bench:
        self.pool.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.stop()

    def run_workload(
        self, target: Target, workload: str, label: str = "", duration_s: float | None = None
    ) -> WorkloadResult:
        """One run of ``workload`` against ``target`` (``duration_s``: instead of the
        settings' duration or count, this long with no warm-up)."""
        settings = self.settings
        if duration_s is not None:
            settings = replace(settings, duration_s=duration_s, count=None, warmup_s=0.0)
        started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        tag = f"{workload:<12} {target.name:<10}{(' ' + label) if label else ''}"
        try:
            root = asyncio.run(self._setup(target, workload))
        except (OSError, BenchProtocolError, TimeoutError) as error:
            result = WorkloadResult(workload, target.name, target.hosts_text, started_at)
            result.problems.append(f"setup failed: {type(error).__name__}: {error}")
            self.progress.line(f"{tag}  FAILED: {result.problems[0]}")
            return result
        plans = [
            WorkerPlan(
                workload=workload,
                root=root,
                hosts=target.hosts,
                worker_index=index,
                processes=settings.processes,
                clients=settings.clients,
                in_flight=settings.in_flight,
                duration_s=settings.duration_s,
                warmup_s=settings.warmup_s if settings.duration_s is not None else 0.0,
                count=settings.count,
                value_size=settings.value_size,
                watchers=settings.watchers,
                server_pids=target.server_pids,
            )
            for index in range(settings.processes)
        ]

        def on_progress(ops: int, elapsed_s: float) -> None:
            rate = ops / elapsed_s if elapsed_s > 0 else 0.0
            planned = (
                f"/{settings.warmup_s + settings.duration_s:.0f}"
                if settings.duration_s is not None
                else ""
            )
            self.progress.update(
                f"{tag}  {elapsed_s:5.1f}{planned} s  {ops:>10,} ops  {rate:>9,.0f} ops/s"
            )

        problems: list[str] = []
        try:
            results = self.pool.run(plans, settings.run_bound_s(), on_progress)
        except WorkerFailure as error:
            results = []
            problems.append(str(error))
            if workload == "fanout" and "connection" in str(error):
                problems.append(
                    f"the fan-out workload opens {settings.watchers} sessions at once: a "
                    "server's maxClientCnxns (60 per client IP by default) may refuse them; "
                    "raise it or pass a smaller --watchers"
                )
            self.pool.restart()
        teardown = self._teardown(target, root)
        result = summarise(workload, target, started_at, settings, results)
        result.problems[:0] = problems
        result.teardown = teardown
        if teardown.get("problem"):
            result.problems.append(f"teardown of {root}: {teardown['problem']}")
        self.progress.line(f"{tag}  {describe(result)}")
        return result

    def _teardown(self, target: Target, root: str) -> dict[str, object]:
        try:
            outcome = asyncio.run(self._remove(target, root))
        except (OSError, BenchProtocolError, TimeoutError) as error:
            return {"root": root, "problem": f"{type(error).__name__}: {error}"}
        return {"root": root, **asdict(outcome)}

    async def _setup(self, target: Target, workload: str) -> str:
        settings = self.settings
        async with asyncio.timeout(SETUP_TIMEOUT_S):
            session = await open_call_session(*target.hosts[0])
            try:
                root = await create_root(session)
                await prepare(
                    session,
                    workload,
                    root,
                    settings.clients,
                    settings.value_size,
                    settings.children_count,
                )
            finally:
                await close_call_session(session)
            # An ensemble's other servers may not have applied the setup yet (reads may
            # lag): a sync through each makes it catch up before any worker reads there.
            await asyncio.gather(*(sync_through(host, root) for host in set(target.hosts[1:])))
        return root

    async def _remove(self, target: Target, root: str) -> Any:
        async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
            session = await open_call_session(*target.hosts[0])
            try:
                return await remove_tree(session, root)
            finally:
                await close_call_session(session)


def describe(result: WorkloadResult) -> str:
    """One line for a finished run."""
    if not result.ops:
        return f"FAILED: {'; '.join(result.problems) or 'no operation completed'}"
    latency = result.latency_ms
    text = (
        f"{result.ops_per_s:>10,.0f} ops/s  p50 {latency['p50']:.3f}  p99 {latency['p99']:.3f}"
        f"  p999 {latency['p999']:.3f} ms"
    )
    if result.client_cpu_us_per_op is not None:
        text += f"  client {result.client_cpu_us_per_op:.1f} µs/op"
    if result.problems:
        text += f"  PROBLEMS: {'; '.join(result.problems)}"
    return text


def stderr_progress(quiet: bool) -> Progress:
    return Progress(None if quiet else sys.stderr)
