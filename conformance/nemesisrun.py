"""A nemesis run: an ensemble the suite starts, clients working, faults coming and going.

``run_nemesis(options)`` does, in order (the shape of the simulator's seeded runs,
``simulation/swarm.py``, on real processes):

1. **Start**: a ``LocalEnsemble`` of ``options.size`` zkref or Apache ZooKeeper servers on
   127.0.0.1, every peer connection through the suite's proxies; the schedule is drawn from the
   seed (``conformance.schedule``) and printed before anything starts.
2. **Safety phase** (``options.duration_s``): ``options.clients`` workers
   (``conformance.workers``) work through the whole connect string, every request and reply
   recorded in one history that starts with a snapshot of the tree; the nemesis follows the
   schedule — kill -9 and restart, SIGSTOP and SIGCONT, partitions of the proxies — resolving
   "the leader" and "a follower" from ``srvr`` when each fault starts; ``srvr`` is asked every
   ``MONITOR_INTERVAL_S`` for the time line.
3. **Liveness phase**: everything healed, resumed and restarted; within ``LIVENESS_TIMEOUT_S``
   one leader must be followed by every server and a write sent after the healing must be
   answered; the clients work ``RECOVERY_S`` more, then close their sessions.
4. **Read-back**: each server alone, after a sync, is read for everything the clients'
   acknowledged writes promise (``Worker.durable``) and the contested znodes; then the
   ephemerals are watched until every session that owned one has ended (bounded).
5. **Judgement** (``conformance.nemesisreport.analyse``): the servers are stopped first (the
   checker needs the CPU) and their logs searched for a tree that differed from its leader's
   (``LocalEnsemble.divergences``), then the history goes to the checker and the read-back to
   the accounting of lost writes.

Everything is bounded in time (each phase has its limit) and in load (``think_ms`` between
a client's requests). The servers are stopped by PID whatever happens — the end, an error,
Ctrl-C, SIGTERM (``cli`` turns it into KeyboardInterrupt) — and by the reaper if the suite is
killed. Server directories and the history are kept with ``options.keep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.client import Client, ClientError
from conformance.ensemble import EnsembleSettings, LocalEnsemble, member_kinds
from conformance.history import Header, HistoryRecorder, ServerSettings
from conformance.nemesis import NodeError
from conformance.schedule import FAULTS, FaultPlan, draw_schedule, render
from conformance.snapshot import SnapshotError, take_snapshot
from conformance.suite import server_version
from conformance.workers import ROOT, SHARED, SHARED_PARENTS, Durable, Worker, layout
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.profiles import profile_for_version
from spec.stat import Stat

MONITOR_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 10.0
LIVENESS_TIMEOUT_S = 120.0
RECOVERY_S = 5.0
READ_BACK_TIMEOUT_S = 60.0
SETUP_TIMEOUT_S = 60.0
SNAPSHOT_ATTEMPTS = 5


@dataclass
class NemesisOptions:
    kind: str
    size: int = 3
    faults: tuple[str, ...] = FAULTS
    duration_s: float = 60.0
    clients: int = 8
    seed: int | None = None
    tick_time_ms: int = 1000
    plants: tuple[str, ...] = ()
    keep: Path | None = None  # keep the servers' directories and the history here
    think_ms: float = 50.0  # a client's mean pause between two requests
    session_timeout_ms: int = 8000
    request_timeout_s: float = 4.0
    mode: str = "zookeeper"  # the checker's guarantee
    liveness_timeout_s: float = LIVENESS_TIMEOUT_S


@dataclass
class FaultEvent:
    """A fault as it happened: its plan, when, whom it hit, and who led then."""

    plan: FaultPlan
    start_ns: int
    victims: tuple[int, ...]
    leader: int | None
    detail: str
    end_ns: int | None = None

    def to_json(self, origin_ns: int) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "started_s": round((self.start_ns - origin_ns) / 1e9, 3),
            "ended_s": None if self.end_ns is None else round((self.end_ns - origin_ns) / 1e9, 3),
            "victims": list(self.victims),
            "leader": self.leader,
            "detail": self.detail,
        }


@dataclass
class FinalRead:
    """One server's tree after healing, read from it alone after a sync."""

    sid: int
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    data: dict[str, tuple[bytes | None, Stat]] = field(default_factory=dict)
    error: str = ""


@dataclass
class RunRecord:
    """Everything a run observed besides the history, for ``nemesisreport.analyse``."""

    options: NemesisOptions
    seed: int
    plans: list[FaultPlan]
    hosts: list[str]
    profile: str
    server_version: str
    history_path: Path
    home: Path
    started_ns: int = 0
    faults_ended_ns: int = 0
    ended_ns: int = 0
    formed_in_s: float = 0.0
    events: list[FaultEvent] = field(default_factory=list)
    modes: list[tuple[int, dict[int, str | None]]] = field(default_factory=list)
    durable: dict[int, Durable] = field(default_factory=dict)
    final: list[FinalRead] = field(default_factory=list)
    ephemerals_left: list[tuple[str, int]] = field(default_factory=list)  # (path, owner)
    liveness: str = ""  # empty: healed, formed and wrote again; else what did not happen
    liveness_formed_s: float | None = None
    liveness_write_s: float | None = None
    sessions: int = 0
    aborted: str = ""
    # Per server, what its log says of a tree that differed from its leader's (or of a zkref
    # failure): read once every server has stopped (``LocalEnsemble.divergences``).
    divergences: dict[int, list[str]] = field(default_factory=dict)


Progress = Callable[[str], None]


def schedule_header(options: NemesisOptions, seed: int, plans: list[FaultPlan]) -> list[str]:
    """What a run prints before it starts: what, how long, and the schedule."""
    faults = ",".join(options.faults) or "none"
    plants = f", planted bugs: {','.join(options.plants)}" if options.plants else ""
    servers = f"{options.size} {options.kind} servers"
    if options.kind == "mixed":
        kinds = member_kinds(options.kind, options.size)
        servers += (
            " ("
            + "; ".join(
                f"{kind} {_names([sid for sid in kinds if kinds[sid] == kind])}"
                for kind in ("apache", "zkref")
            )
            + ")"
        )
    return [
        f"nemesis run: {servers}, faults {faults}, "
        f"{options.duration_s:.0f} s, {options.clients} clients, tickTime "
        f"{options.tick_time_ms} ms, seed {seed}{plants}",
        f"schedule (replay with --seed {seed}): {len(plans)} faults",
        *render(plans),
    ]


def run_nemesis(options: NemesisOptions, progress: Progress = lambda _: None) -> RunRecord:
    """Run (see the module docstring); the record, whose history is at ``history_path``."""
    seed = options.seed if options.seed is not None else random.randrange(1 << 31)
    plans = draw_schedule(
        seed, options.faults, options.duration_s, options.size, options.tick_time_ms
    )
    for line in schedule_header(options, seed, plans):
        progress(line)
    with contextlib.ExitStack() as stack:
        if options.keep is not None:
            home = options.keep
            home.mkdir(parents=True, exist_ok=True)
        else:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zkref-nemesis-")))
        settings = EnsembleSettings(tick_time_ms=options.tick_time_ms)
        ensemble = stack.enter_context(
            LocalEnsemble(options.kind, options.size, home / "servers", settings, options.plants)
        )
        progress(f"starting {options.size} {options.kind} servers in {home / 'servers'}")
        leader = ensemble.start()
        progress(
            f"formed in {ensemble.formed_in_s:.1f} s, server {leader} leads; "
            f"connect string {ensemble.connect_string}; PIDs "
            + ", ".join(f"{sid}:{ensemble.members[sid].pid}" for sid in ensemble.sids)
        )
        hosts = ensemble.hosts
        version = server_version(tuple(hosts))
        record = RunRecord(
            options,
            seed,
            plans,
            hosts,
            profile_for_version(version).name,
            version,
            home / "history.jsonl",
            home,
            formed_in_s=ensemble.formed_in_s,
        )
        try:
            asyncio.run(_drive(ensemble, record, progress))
        finally:
            ensemble.stop()
        record.divergences = ensemble.divergences()
        if options.keep is None:
            # The history outlives the temporary directory: the report's evidence.
            kept = Path(tempfile.mkdtemp(prefix="zkref-nemesis-history-")) / "history.jsonl"
            kept.write_bytes(record.history_path.read_bytes())
            record.history_path = kept
    return record


async def _drive(ensemble: LocalEnsemble, record: RunRecord, progress: Progress) -> None:
    options = record.options
    header = Header(
        profile=record.profile,
        hosts=tuple(record.hosts),
        settings=ServerSettings(),
        fresh=False,
        started_ns=time.monotonic_ns(),
        note=f"nemesis run: {options.kind} x{options.size}, seed {record.seed}",
    )
    recorder = HistoryRecorder(record.history_path, header)
    try:
        await asyncio.wait_for(_setup(record, recorder), SETUP_TIMEOUT_S)
        workers = [
            Worker(
                index,
                record.hosts,
                recorder,
                random.Random(f"nemesis-worker-{record.seed}-{index}"),
                options.session_timeout_ms,
                options.request_timeout_s,
                options.think_ms / 1000,
            )
            for index in range(options.clients)
        ]
        record.started_ns = time.monotonic_ns()
        for worker in workers:
            worker.start()
        stop_monitor = asyncio.Event()
        monitor = asyncio.create_task(_monitor(ensemble, record, stop_monitor))
        ticker = asyncio.create_task(_progress(record, workers, progress))
        try:
            await _nemesis(ensemble, record, progress)
            record.faults_ended_ns = time.monotonic_ns()
            await _liveness(ensemble, record, recorder, progress)
            await asyncio.sleep(RECOVERY_S)
        finally:
            ticker.cancel()
            await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
            stop_monitor.set()
            with contextlib.suppress(Exception):
                await monitor
        record.durable = {worker.index: worker.durable for worker in workers}
        record.sessions = sum(len(worker.sessions) for worker in workers)
        progress("read-back: every server alone, after a sync")
        record.final = [
            await _read_back(sid, host, recorder, options)
            for sid, host in zip(ensemble.sids, record.hosts, strict=True)
        ]
        await _wait_ephemerals(record, recorder, options, progress)
        record.ended_ns = time.monotonic_ns()
    finally:
        recorder.close()


async def _setup(record: RunRecord, recorder: HistoryRecorder) -> None:
    """The snapshot that starts the history, then the znodes the workers use."""
    options = record.options
    reader = Client(record.hosts, name="snapshot", reconnect=False)
    await reader.start()
    try:
        for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
            try:
                snapshot = await take_snapshot(reader)
                break
            except SnapshotError:
                if attempt == SNAPSHOT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await reader.close()
    recorder.record(snapshot)
    setup = Client(
        record.hosts,
        name="setup",
        recorder=recorder,
        session_timeout_ms=options.session_timeout_ms,
        request_timeout_s=options.request_timeout_s,
    )
    await setup.start()
    try:
        for path in layout(options.clients):
            reply = await setup.call(rq.Create(path, b"", OPEN_ACL_UNSAFE, 0))
            if reply.err not in (Code.OK, Code.NODEEXISTS):
                raise NodeError(f"cannot create {path}: {Code(reply.err).name}")
    finally:
        await setup.close()


async def _monitor(ensemble: LocalEnsemble, record: RunRecord, stop: asyncio.Event) -> None:
    """``srvr``'s modes every ``MONITOR_INTERVAL_S`` (who led when, for the time line)."""
    while not stop.is_set():
        modes = await asyncio.to_thread(ensemble.modes)
        record.modes.append((time.monotonic_ns(), modes))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), MONITOR_INTERVAL_S)


async def _progress(record: RunRecord, workers: list[Worker], progress: Progress) -> None:
    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        elapsed = (time.monotonic_ns() - record.started_ns) / 1e9
        leader = next(
            (
                sid
                for sid, mode in (record.modes[-1][1] if record.modes else {}).items()
                if mode == "leader"
            ),
            None,
        )
        progress(
            f"{elapsed:6.0f} s: {sum(w.operations for w in workers)} requests, "
            f"{len(record.events)} faults so far, leader {leader or '?'}"
        )


async def _nemesis(ensemble: LocalEnsemble, record: RunRecord, progress: Progress) -> None:
    """Follow the schedule until the safety phase's duration is over."""
    origin = record.started_ns
    end = origin + int(record.options.duration_s * 1e9)
    for plan in record.plans:
        await _sleep_until(origin + int(plan.at_s * 1e9))
        event = await _start_fault(ensemble, plan)
        record.events.append(event)
        progress(f"{(event.start_ns - origin) / 1e9:6.1f} s: {plan.describe()}: {event.detail}")
        await _sleep_until(event.start_ns + int(plan.hold_s * 1e9))
        await asyncio.to_thread(_end_fault, ensemble, event)
        event.end_ns = time.monotonic_ns()
    await _sleep_until(end)


async def _sleep_until(instant_ns: int) -> None:
    delay = (instant_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


async def _start_fault(ensemble: LocalEnsemble, plan: FaultPlan) -> FaultEvent:
    leader = await asyncio.to_thread(ensemble.leader)
    up = [sid for sid in ensemble.running() if sid not in ensemble.paused]
    chooser = random.Random(plan.choice)
    target = leader if leader is not None else up[plan.choice % len(up)]
    others = [sid for sid in ensemble.sids if sid != target]
    start_ns = time.monotonic_ns()
    if plan.kind in ("kill", "pause"):
        if plan.variant == "leader":
            victims = [target]
        elif plan.variant == "follower":
            followers = [sid for sid in up if sid != leader] or up
            victims = [followers[plan.choice % len(followers)]]
        elif plan.variant == "minority":
            victims = [target, *chooser.sample(others, (ensemble.size - 1) // 2 - 1)]
        else:
            victims = [up[plan.choice % len(up)]]
        for sid in victims:
            (ensemble.kill if plan.kind == "kill" else ensemble.pause)(sid)
        verb = "killed" if plan.kind == "kill" else "paused"
        detail = f"{verb} server{'s' if len(victims) > 1 else ''} {_names(victims)}"
    elif plan.variant == "majority":
        order = list(ensemble.sids)
        chooser.shuffle(order)
        minority = sorted(order[: (ensemble.size - 1) // 2])
        victims = minority
        majority = sorted(order[(ensemble.size - 1) // 2 :])
        await asyncio.to_thread(ensemble.partition, minority, majority)
        detail = f"{_names(minority)} | {_names(majority)}"
    elif plan.variant == "leader":
        victims = [target]
        await asyncio.to_thread(ensemble.partition, [target], others)
        detail = f"{target} | {_names(others)}"
    else:
        victims = [target]
        if plan.variant == "leader-mute":
            links = [(target, other) for other in others]
        else:
            links = [(other, target) for other in others]
        await asyncio.to_thread(ensemble.cut, links)
        detail = "cut " + ", ".join(f"{a}→{b}" for a, b in links)
    return FaultEvent(plan, start_ns, tuple(victims), leader, detail)


def _end_fault(ensemble: LocalEnsemble, event: FaultEvent) -> None:
    if event.plan.kind == "kill":
        for sid in event.victims:
            ensemble.restart(sid)
    elif event.plan.kind == "pause":
        for sid in event.victims:
            ensemble.resume(sid)
    else:
        ensemble.heal()


def _names(sids: list[int]) -> str:
    return ",".join(str(sid) for sid in sorted(sids))


async def _liveness(
    ensemble: LocalEnsemble, record: RunRecord, recorder: HistoryRecorder, progress: Progress
) -> None:
    """Heal, resume, restart; then a leader every server follows, and a write answered."""
    healed = time.monotonic_ns()
    ensemble.heal()
    for sid in list(ensemble.paused):
        ensemble.resume(sid)
    for sid in ensemble.down():
        ensemble.restart(sid)
    progress("liveness: healed, resumed, restarted every server")
    try:
        leader = await asyncio.to_thread(ensemble.wait_formed, record.options.liveness_timeout_s)
    except NodeError as error:
        record.liveness = f"no leader followed by every server after healing: {error}"
        progress(f"liveness: {record.liveness}")
        return
    record.liveness_formed_s = (time.monotonic_ns() - healed) / 1e9
    progress(f"liveness: server {leader} leads, every server follows")
    writer = Client(
        record.hosts,
        name="liveness",
        recorder=recorder,
        session_timeout_ms=record.options.session_timeout_ms,
        request_timeout_s=record.options.request_timeout_s,
        reconnect_attempts_max=1000,
    )
    deadline = time.monotonic() + record.options.liveness_timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                if writer.session_id == 0:
                    await writer.start()
                reply = await writer.call(rq.SetData(ROOT, b"liveness", -1))
            except ClientError:
                await asyncio.sleep(0.2)
                continue
            if reply.err == Code.OK:
                record.liveness_write_s = (time.monotonic_ns() - healed) / 1e9
                progress(
                    f"liveness: a write answered {record.liveness_write_s:.1f} s after healing"
                )
                return
        record.liveness = (
            f"no write answered within {record.options.liveness_timeout_s:.0f} s of healing"
        )
    finally:
        with contextlib.suppress(ClientError):
            await writer.close()


async def _read_back(
    sid: int, host: str, recorder: HistoryRecorder, options: NemesisOptions
) -> FinalRead:
    """Everything the durable writes promise, read from ``host`` alone after a sync."""
    final = FinalRead(sid)
    client = Client(
        [host],
        name=f"read-back-{sid}",
        recorder=recorder,
        session_timeout_ms=options.session_timeout_ms,
        request_timeout_s=options.request_timeout_s * 4,
        reconnect=False,
    )

    async def read() -> None:
        await client.start()
        synced = await client.call(rq.Sync(ROOT))
        if synced.err != Code.OK:
            raise ClientError(f"sync answered {Code(synced.err).name}")
        parents = [
            *(f"{ROOT}/own-{k}" for k in range(options.clients)),
            f"{ROOT}/seq",
            f"{ROOT}/eph",
            *SHARED_PARENTS,
        ]
        for parent in parents:
            reply = await client.call(rq.GetChildren(parent))
            if isinstance(reply.body, rq.GetChildrenResponse):
                final.children[parent] = reply.body.children
        for path in [*(f"{ROOT}/own-{k}" for k in range(options.clients)), *SHARED]:
            reply = await client.call(rq.GetData(path))
            if isinstance(reply.body, rq.GetDataResponse):
                final.data[path] = (reply.body.data, reply.body.stat)

    try:
        await asyncio.wait_for(read(), READ_BACK_TIMEOUT_S)
    except (ClientError, TimeoutError) as error:
        final.error = f"{type(error).__name__}: {error}"
    finally:
        with contextlib.suppress(ClientError, TimeoutError):
            await asyncio.wait_for(client.close(), options.request_timeout_s * 2)
    return final


async def _wait_ephemerals(
    record: RunRecord, recorder: HistoryRecorder, options: NemesisOptions, progress: Progress
) -> None:
    """Every client closed its session (or lost it); within two session timeouts and a
    margin every ephemeral must be gone. What is left outlived its session."""
    deadline = time.monotonic() + 2 * options.session_timeout_ms / 1000 + 10
    client = Client(
        record.hosts,
        name="ephemerals",
        recorder=recorder,
        session_timeout_ms=options.session_timeout_ms,
        request_timeout_s=options.request_timeout_s,
    )
    left: list[tuple[str, int]] = []
    try:
        await client.start()
        while True:
            left = []
            reply = await client.call(rq.GetChildren(f"{ROOT}/eph"))
            names = reply.body.children if isinstance(reply.body, rq.GetChildrenResponse) else ()
            for name in names:
                path = f"{ROOT}/eph/{name}"
                data = await client.call(rq.Exists(path))
                if isinstance(data.body, rq.StatResponse):
                    left.append((path, data.body.stat.ephemeralOwner))
            if not left or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    except ClientError as error:
        progress(f"ephemerals: could not read them: {error}")
    finally:
        with contextlib.suppress(ClientError, TimeoutError):
            await asyncio.wait_for(client.close(), options.request_timeout_s * 2)
    record.ephemerals_left = left
    if left:
        progress(f"ephemerals: {len(left)} outlived their sessions")


__all__ = [
    "FaultEvent",
    "FinalRead",
    "NemesisOptions",
    "RunRecord",
    "run_nemesis",
    "schedule_header",
]
