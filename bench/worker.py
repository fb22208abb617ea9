"""A load-generating worker process: its sessions, its measured window, its own CPU time.

The parent (``bench.runner``) starts ``processes`` workers once and sends each a
``WorkerPlan`` per workload run over a pipe. A worker then

1. opens the sessions of the connections it owns (connection ``g`` belongs to worker
   ``g % processes``; its server is ``hosts[g % len(hosts)]``) and answers ``ready``;
2. on ``go``, runs the workload: after ``warmup_s`` the measured window opens and lasts
   ``duration_s`` (or, with a ``count``, until every session has done its quota);
3. drains what is outstanding, removes the znodes it created itself (create), closes its
   sessions and sends a ``WorkerResult``: operations completed within the window, their
   latency histogram, error replies by code, and the CPU time this process used during the
   window (so a reader can tell whether the load generator was the bottleneck).

While it runs it writes its completed-operation count into its slot of a shared array,
which the parent reads for the progress line. Every wait is bounded; a worker whose parent
is gone sees the pipe close and exits.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from time import perf_counter_ns
from typing import Any, Final

from bench.connect import ConnectCloseClient, resolve
from bench.fanout import FanoutRound, TimestampedWatcher
from bench.histogram import LATENCY_SAMPLES_BUFFERED_MAX, LatencyHistogram
from bench.wire import (
    BenchProtocolError,
    CallSession,
    LoadSession,
    Meter,
    RequestTemplate,
    close_call_session,
    open_call_session,
    open_load_session,
)
from bench.workloads import (
    DELETE_ANY_VERSION,
    UNLIMITED,
    WORKLOADS,
    NumberedPathSource,
    created_prefix,
    fanout_node,
    operation_source,
    value_of,
)
from reference.jute import GetDataRequest, SetDataRequest
from spec.opcodes import OpCode

READY_TIMEOUT_S: Final = 60.0
"""Bound on opening every session of a worker, and on waiting for ``go``."""
DRAIN_TIMEOUT_S: Final = 10.0
"""Bound on waiting for outstanding replies after the window closes."""
COUNT_RUN_TIMEOUT_S: Final = 3600.0
"""Bound on a run with ``--count``."""
CLEANUP_TIMEOUT_S: Final = 120.0
"""Bound on deleting the znodes a create run made."""
CLEANUP_WINDOW_MIN: Final = 16
"""Deletes in flight per session while cleaning up."""
PROGRESS_INTERVAL_S: Final = 0.2
FANOUT_ROUND_TIMEOUT_S: Final = 10.0
SESSION_OPEN_BATCH: Final = 32
"""Sessions a worker opens at once (a burst of handshakes is not what we measure)."""


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """One workload run, as one worker sees it (picklable)."""

    workload: str
    root: str
    hosts: tuple[tuple[str, int], ...]
    worker_index: int
    processes: int
    clients: int
    in_flight: int
    duration_s: float | None
    warmup_s: float
    count: int | None
    value_size: int
    watchers: int
    server_pids: tuple[int, ...]

    def connections(self) -> list[int]:
        """The global indices of the connections this worker owns."""
        return list(range(self.worker_index, self.clients, self.processes))

    def host_of(self, connection: int) -> tuple[str, int]:
        return self.hosts[connection % len(self.hosts)]

    def quota(self, connection: int) -> int:
        """Operations connection ``connection`` performs (``UNLIMITED`` for a timed run)."""
        if self.count is None:
            return UNLIMITED
        share, extra = divmod(self.count, self.clients)
        return share + (1 if connection < extra else 0)


@dataclass(slots=True)
class WorkerResult:
    """What one worker measured in one run (picklable)."""

    worker_index: int
    completed: int = 0
    window_s: float = 0.0
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: dict[int, int] = field(default_factory=dict)
    cpu_s: float = 0.0
    server_cpu_s: float | None = None
    notifications: int = 0
    problems: list[str] = field(default_factory=list)


def read_processes_cpu_s(pids: tuple[int, ...]) -> float | None:
    """The CPU seconds of all of ``pids`` together; None if any cannot be read."""
    total = 0.0
    for pid in pids:
        cpu_s = read_process_cpu_s(pid)
        if cpu_s is None:
            return None
        total += cpu_s
    return total


def read_process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc; None if
    it cannot be read (not Linux, not our machine, gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = text[text.rindex(b")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


class Window:
    """The measured window's bounds and the CPU times read at its edges."""

    def __init__(self, plan: WorkerPlan, go_ns: int) -> None:
        self.plan = plan
        if plan.count is None:
            assert plan.duration_s is not None
            self.start_ns = go_ns + int(plan.warmup_s * 1e9)
            self.end_ns = self.start_ns + int(plan.duration_s * 1e9)
        else:
            self.start_ns = go_ns
            self.end_ns = go_ns + int(COUNT_RUN_TIMEOUT_S * 1e9)
        self.cpu_start_s = 0.0
        self.cpu_end_s: float | None = None
        self.server_cpu_start_s: float | None = None
        self.server_cpu_end_s: float | None = None
        self.closed_ns: int | None = None

    def open(self) -> None:
        self.cpu_start_s = time.process_time()
        if self.plan.server_pids and self.plan.worker_index == 0:
            self.server_cpu_start_s = read_processes_cpu_s(self.plan.server_pids)

    def close(self) -> None:
        if self.cpu_end_s is not None:
            return
        self.closed_ns = perf_counter_ns()
        self.cpu_end_s = time.process_time()
        if self.server_cpu_start_s is not None:
            self.server_cpu_end_s = read_processes_cpu_s(self.plan.server_pids)

    def schedule(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
        """Read the CPU clocks when the window opens and closes (a timed run)."""
        handles: list[asyncio.TimerHandle] = []
        now_ns = perf_counter_ns()
        for at_ns, action in ((self.start_ns, self.open), (self.end_ns, self.close)):
            handles.append(loop.call_later(max(0, at_ns - now_ns) / 1e9, action))
        return handles

    def fill(self, result: WorkerResult, last_completion_ns: int) -> None:
        self.close()
        assert self.cpu_end_s is not None
        result.cpu_s = self.cpu_end_s - self.cpu_start_s
        if self.plan.count is None:
            assert self.plan.duration_s is not None
            result.window_s = self.plan.duration_s
        else:
            end = max(last_completion_ns, self.start_ns)
            result.window_s = (end - self.start_ns) / 1e9
        if self.server_cpu_start_s is not None and self.server_cpu_end_s is not None:
            result.server_cpu_s = self.server_cpu_end_s - self.server_cpu_start_s


# --- the process ---------------------------------------------------------------------------


def worker_main(control: Connection, progress: Any, worker_index: int) -> None:
    """The worker process: run plans until told to exit or the parent goes away."""
    while True:
        try:
            command, payload = control.recv()
        except (EOFError, OSError):
            return
        if command == "exit":
            return
        if command != "prepare":
            continue
        assert isinstance(payload, WorkerPlan)
        try:
            result = asyncio.run(_execute(payload, control, progress))
        except Exception as error:  # reported to the parent, which shows it and stops
            control.send(("failed", f"worker {worker_index}: {type(error).__name__}: {error}"))
            continue
        control.send(("result", result))


async def _wait_for_command(control: Connection, timeout_s: float) -> tuple[str, object]:
    """The parent's next command, read without blocking the event loop."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(control.fileno(), on_readable)
    try:
        async with asyncio.timeout(timeout_s):
            await readable
    finally:
        loop.remove_reader(control.fileno())
    message: tuple[str, object] = control.recv()
    return message


async def _execute(plan: WorkerPlan, control: Connection, progress: Any) -> WorkerResult:
    """Run one plan: sessions up, ``ready``, wait for ``go``, measure, clean up."""
    workload = WORKLOADS[plan.workload]
    runner: Callable[[WorkerPlan, Connection, Any], Coroutine[Any, Any, WorkerResult]]
    if workload.single_process and plan.worker_index != 0:
        runner = _idle
    elif plan.workload == "connect":
        runner = _run_connect
    elif plan.workload == "fanout":
        runner = _run_fanout
    else:
        runner = _run_pipelined
    progress[plan.worker_index] = 0
    return await runner(plan, control, progress)


async def _ready_then_go(control: Connection) -> int:
    """Tell the parent we are ready; the time ``go`` arrived (``abort`` raises)."""
    control.send(("ready", None))
    command, _ = await _wait_for_command(control, READY_TIMEOUT_S)
    if command != "go":
        raise BenchProtocolError(f"told to {command} instead of go")
    return perf_counter_ns()


def _report_progress(
    progress: Any, index: int, meter: Meter, histogram: LatencyHistogram
) -> asyncio.Task[None]:
    """Copy the completed count to the shared array; fold latencies before the buffer grows
    past its bound."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            progress[index] = meter.completed_total
            if len(histogram.pending) >= LATENCY_SAMPLES_BUFFERED_MAX // 2:
                histogram.fold()
                meter.latencies = histogram.pending

    return asyncio.get_running_loop().create_task(loop())


class _Measured:
    """One worker's measured window, from ``go`` to ``finish``: the meter the workload
    counts into, the progress reports, and the timers that open and close the window (or,
    with ``--count``, a window open from the start)."""

    def __init__(self, plan: WorkerPlan, progress: Any, result: WorkerResult, go_ns: int) -> None:
        self.plan, self.progress = plan, progress
        self.window = Window(plan, go_ns)
        histogram = result.histogram
        self.meter = Meter(histogram.pending, self.window.start_ns, self.window.end_ns)
        self._reporter = _report_progress(progress, plan.worker_index, self.meter, histogram)
        loop = asyncio.get_running_loop()
        self._timers = self.window.schedule(loop) if plan.count is None else []
        if plan.count is not None:
            self.window.open()

    def finish(self, result: WorkerResult) -> None:
        """Stop the timers and reports; put the window, the count and latencies in ``result``."""
        for timer in self._timers:
            timer.cancel()
        self._reporter.cancel()
        meter, histogram = self.meter, result.histogram
        self.progress[self.plan.worker_index] = meter.completed_total
        self.window.fill(result, meter.last_completion_ns)
        result.completed = meter.completed
        histogram.pending = meter.latencies if meter.latencies is not None else histogram.pending
        histogram.fold()


async def _idle(plan: WorkerPlan, control: Connection, progress: Any) -> WorkerResult:
    await _ready_then_go(control)
    return WorkerResult(plan.worker_index)


async def _open_all(
    plan: WorkerPlan, opener: Callable[[str, int], Coroutine[Any, Any, Any]], count: int
) -> list[Any]:
    """Open ``count`` sessions (round-robin over the hosts), a batch at a time; if one fails,
    abort the others and raise its error."""
    sessions: list[Any] = []
    failure: BaseException | None = None
    for start in range(0, count, SESSION_OPEN_BATCH):
        batch = range(start, min(count, start + SESSION_OPEN_BATCH))
        opened = await asyncio.gather(
            *(opener(*plan.host_of(i)) for i in batch), return_exceptions=True
        )
        for outcome in opened:
            if isinstance(outcome, BaseException):
                failure = failure or outcome
            else:
                sessions.append(outcome)
        if failure is not None:
            for session in sessions:
                session.abort()
            raise failure
    return sessions


# --- pipelined workloads -------------------------------------------------------------------


async def _run_pipelined(plan: WorkerPlan, control: Connection, progress: Any) -> WorkerResult:
    connections = plan.connections()
    result = WorkerResult(plan.worker_index)
    sessions: list[LoadSession] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            for connection in connections:
                sessions.append(await open_load_session(*plan.host_of(connection)))
        sources = [
            operation_source(plan.workload, plan.root, g, plan.value_size, plan.quota(g))
            for g in connections
        ]
        measured = _Measured(plan, progress, result, await _ready_then_go(control))
        meter, window = measured.meter, measured.window
        drains = [
            s.run(src, meter, plan.in_flight) for s, src in zip(sessions, sources, strict=True)
        ]
        bound_s = (window.end_ns - perf_counter_ns()) / 1e9 + DRAIN_TIMEOUT_S
        try:
            async with asyncio.timeout(max(bound_s, DRAIN_TIMEOUT_S)):
                await asyncio.gather(*drains)
        except TimeoutError:
            result.problems.append(
                f"replies still outstanding {DRAIN_TIMEOUT_S:.0f} s after the window closed"
            )
        measured.finish(result)
        result.errors = meter.errors
        result.notifications = meter.notifications
        result.problems.extend(s.failure for s in sessions if s.failure is not None)
        if plan.workload == "create":
            await _delete_created(plan, sessions, sources, result)
    finally:
        await _close_load_sessions(sessions)
    return result


async def _delete_created(
    plan: WorkerPlan, sessions: list[LoadSession], sources: list[Any], result: WorkerResult
) -> None:
    """Delete every znode this worker's sessions may have created (not measured)."""
    cleanup = Meter(None, 0, 1 << 62)
    drains = []
    for session, source, connection in zip(sessions, sources, plan.connections(), strict=True):
        assert isinstance(source, NumberedPathSource)
        if session.failure is None and source.issued:
            deletes = NumberedPathSource(
                DELETE_ANY_VERSION, created_prefix(plan.root, connection), source.issued
            )
            drains.append(session.run(deletes, cleanup, max(plan.in_flight, CLEANUP_WINDOW_MIN)))
    try:
        async with asyncio.timeout(CLEANUP_TIMEOUT_S):
            await asyncio.gather(*drains)
    except TimeoutError:
        result.problems.append(f"deleting the created znodes took over {CLEANUP_TIMEOUT_S} s")


async def _close_load_sessions(sessions: list[LoadSession]) -> None:
    closing = [s.close_session() for s in sessions]
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            await asyncio.gather(*closing)
    except TimeoutError:
        pass
    for session in sessions:
        if session.transport is not None:
            session.transport.close()


# --- connect + close -------------------------------------------------------------------------


async def _run_connect(plan: WorkerPlan, control: Connection, progress: Any) -> WorkerResult:
    """Each of this worker's clients opens and closes sessions one after another
    (``bench.connect``)."""
    result = WorkerResult(plan.worker_index)
    addresses = {g: resolve(*plan.host_of(g)) for g in plan.connections()}
    measured = _Measured(plan, progress, result, await _ready_then_go(control))
    meter, window = measured.meter, measured.window
    loop = asyncio.get_running_loop()
    failures: dict[str, int] = {}
    clients = []
    for g, (family, address) in addresses.items():
        done: asyncio.Future[None] = loop.create_future()
        clients.append(ConnectCloseClient(family, address, meter, plan.quota(g), done, failures))
    for client in clients:
        client.start()
    bound_s = (window.end_ns - perf_counter_ns()) / 1e9 + DRAIN_TIMEOUT_S
    try:
        async with asyncio.timeout(bound_s):
            await asyncio.gather(*(client.done for client in clients))
    except TimeoutError:
        result.problems.append("sessions still open after the window closed")
    for client in clients:
        client.abort()
    measured.finish(result)
    result.problems.extend(f"{count} × {reason}" for reason, count in failures.items())
    return result


# --- watch fan-out ---------------------------------------------------------------------------


async def _run_fanout(plan: WorkerPlan, control: Connection, progress: Any) -> WorkerResult:
    """Rounds of: every watcher sets a watch (getData), one setData, wait for them all
    (``bench.fanout``; latencies from kernel receive timestamps)."""
    result = WorkerResult(plan.worker_index)
    path = fanout_node(plan.root)
    state = FanoutRound(path)
    watchers: list[TimestampedWatcher] = []
    writer: CallSession | None = None
    try:
        watchers = await _open_all(
            plan, lambda host, port: TimestampedWatcher(state).open(host, port), plan.watchers
        )
        if not all(w.kernel_timestamps for w in watchers):
            result.problems.append("no kernel receive timestamps: latencies include reading")
        writer = await open_call_session(*plan.hosts[0])
        watch = RequestTemplate(OpCode.getData, GetDataRequest(path, True))
        write = RequestTemplate(OpCode.setData, SetDataRequest(path, value_of(plan.value_size), -1))
        measured = _Measured(plan, progress, result, await _ready_then_go(control))
        meter, window = measured.meter, measured.window
        remaining = plan.count if plan.count is not None else UNLIMITED
        try:
            while remaining > 0 and perf_counter_ns() < window.end_ns:
                remaining -= 1
                async with asyncio.timeout(FANOUT_ROUND_TIMEOUT_S):
                    acknowledged = state.expect_acks(len(watchers))
                    for watcher in watchers:
                        watcher.set_watch(watch)
                    await acknowledged
                    notified = state.expect_notifications(len(watchers))
                    started = perf_counter_ns()
                    sent_wall_ns = time.time_ns()
                    written = writer.call_frame(OpCode.setData, write)
                    await notified
                    await written
                finished = perf_counter_ns()
                meter.completed_total += 1
                meter.last_completion_ns = finished
                if window.start_ns <= finished < window.end_ns:
                    meter.completed += 1
                    if started >= window.start_ns and meter.latencies is not None:
                        meter.latencies.append(max(0, state.last_arrival_ns - sent_wall_ns))
        except (TimeoutError, BenchProtocolError, OSError) as error:
            result.problems.append(f"fan-out round failed: {type(error).__name__}: {error}")
        measured.finish(result)
        result.notifications = state.notifications
    finally:
        closing = [w.close(DRAIN_TIMEOUT_S) for w in watchers]
        if writer is not None:
            closing.append(close_call_session(writer))
        await asyncio.gather(*closing)
    return result
