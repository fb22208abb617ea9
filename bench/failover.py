"""Leader failover: how soon an ensemble acknowledges writes again after its leader is killed.

``python -m bench failover --ensemble zkref|apache|both --rounds 3`` starts the ensembles
itself (``bench.launch``: three servers of each kind on loopback, data in a temporary
directory, every process stopped by its PID on the way out, however the command ends) and
gives each one *writer*: one client session over the whole connect string that creates
znodes one at a time, ``/failover/w-<n>``, each with a new ``n``. A round, for one ensemble:

1. the writer writes for ``settle_s``;
2. the leader (the server whose ``srvr`` says ``Mode: leader``) is killed with SIGKILL, and
   the time is taken just before the signal;
3. **failover time**: from the kill until the first write *sent after the kill* is
   acknowledged. A write in flight at the kill does not count, whatever happens to it;
4. the writer goes on while the killed server is started again (same ports, same data); the
   round ends once every server serves again.

Rounds alternate between the ensembles (zkref, apache, then apache, zkref, ...), so neither
always runs first on this shared machine; a writer that is not in its round is idle and only
pings. After the last round each writer closes its session and the harness checks, on every
server directly (``sync`` first, then ``getChildren``), that every acknowledged write is
there, and that all servers hold the same znodes (a write whose outcome the client never
learned may be there or not, but the same on all).

The writer is one client for both kinds of server, and it behaves like Apache ZooKeeper's
Java client in the ways that matter here: on a lost connection it re-attaches its session
(id, password, last zxid seen) to the next server of the list, then the next, with a pause
of ``RETRY_DELAY_S`` after each full pass (the Java client's is a random 0-1 s, which
would measure the client rather than the server); a connection attempt may take a third of
the session timeout (the timeout divided by the number of servers, as ``ClientCnxn`` does)
and a request two thirds of it (``ClientCnxn``'s read timeout) before the connection is
dropped. A write whose connection was lost has an unknown outcome and is never re-sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from bench.launch import Ensemble, LaunchError, Member, apache_available, signals_raise
from bench.wire import (
    BenchProtocolError,
    CallSession,
    PathTemplate,
    RequestTemplate,
    SessionRefused,
    check,
    close_call_session,
    connect_frame,
    open_call_session,
)
from reference.jute import CreateRequest, GetChildrenRequest, GetChildrenResponse, SyncRequest
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.modes import CreateMode
from spec.opcodes import OpCode, Xid

PARENT: Final = "/failover"
SESSION_TIMEOUT_MS: Final = 10_000
"""The writer's session timeout (kazoo's default)."""
RETRY_DELAY_S: Final = 0.05
"""The writer's pause after trying every server once without success."""
RESUME_TIMEOUT_S: Final = 60.0
"""A round fails if no write is acknowledged this long after the kill."""
SETTLE_S: Final = 1.0
"""How long the writer writes before the kill."""
AFTER_RESUME_S: Final = 0.5
"""How long the writer writes after resuming, before the killed server is started again."""
VERIFY_TIMEOUT_S: Final = 60.0
TARGET_FLOOR_S: Final = 2.0
TARGET_FACTOR: Final = 1.5
VALUE: Final = b"x" * 16

_CREATE: Final = PathTemplate(
    OpCode.create, CreateRequest("/", VALUE, OPEN_ACL_UNSAFE, int(CreateMode.PERSISTENT))
)
_PING: Final = RequestTemplate(OpCode.ping, None).frame(Xid.PING)


class FailoverError(Exception):
    """The measurement could not be made (the message says why)."""


@dataclass(slots=True)
class RoundResult:
    """One kill of one ensemble's leader."""

    ensemble: str
    round: int
    killed_sid: int
    new_leader_sid: int | None
    failover_s: float | None  # kill -> first write sent after it acknowledged
    reconnected_s: float | None  # kill -> the writer's session attached again
    lost_writes: int  # writes in flight when their connection was lost (outcome unknown)
    restart_s: float  # the killed server started again -> it serves
    problem: str | None = None


@dataclass(slots=True)
class Verification:
    """What every server holds after the rounds."""

    ensemble: str
    acknowledged: int
    unknown: int
    servers: dict[int, int] = field(default_factory=dict)  # sid -> znodes under PARENT
    missing: dict[int, int] = field(default_factory=dict)  # sid -> acknowledged not there
    agree: bool = False
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.agree and not any(self.missing.values())


class Writer:
    """One session over ``hosts`` writing one znode at a time (see the module docstring)."""

    def __init__(self, name: str, hosts: Sequence[tuple[str, int]]) -> None:
        self.name = name
        self.hosts = list(hosts)
        self.index = 0
        self.session: CallSession | None = None
        self.session_id = 0
        self.password = bytes(16)
        self.last_zxid = 0
        self.sequence = 0
        self.acked: list[str] = []
        self.unknown: list[str] = []
        self.acks: list[tuple[float, float]] = []  # (sent, acknowledged), monotonic seconds
        self.attached: list[float] = []  # times the session was (re-)attached
        self.writing = asyncio.Event()
        self.stopping = False
        self.expired = False
        self.failure: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def connect_timeout_s(self) -> float:
        return SESSION_TIMEOUT_MS / 1000 / len(self.hosts)

    @property
    def request_timeout_s(self) -> float:
        return SESSION_TIMEOUT_MS / 1000 * 2 / 3

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop writing, close the session (bounded)."""
        self.stopping = True
        self.writing.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, self.request_timeout_s + 5)
        if self.session is not None:
            await close_call_session(self.session)
            self.session = None

    def first_ack_after(self, instant: float) -> tuple[float, float] | None:
        """(sent, acknowledged) of the first write sent after ``instant``."""
        for sent, acked in self.acks:
            if sent > instant:
                return sent, acked
        return None

    async def _run(self) -> None:
        try:
            while not self.stopping:
                if self.session is None or self.session.lost.done():
                    await self._attach()
                    continue
                if not self.writing.is_set():
                    await self._idle()
                    continue
                await self._write_one()
        except SessionRefused:
            self.expired = True
            self.failure = f"{self.name}: the session 0x{self.session_id:x} expired"
        except Exception as error:  # reported, never hidden
            self.failure = f"{self.name}: {type(error).__name__}: {error}"

    async def _attach(self) -> None:
        """Re-attach the session (or create it, the first time) at the next server."""
        old = self.session
        self.session = None
        if old is not None:
            old.abort()
            self.index = (self.index + 1) % len(self.hosts)
        tried = 0
        while not self.stopping:
            host = self.hosts[self.index]
            frame = connect_frame(
                self.session_id, self.password, self.last_zxid, SESSION_TIMEOUT_MS
            )
            try:
                session = await open_call_session(
                    *host, connect=frame, timeout_s=self.connect_timeout_s
                )
            except SessionRefused:
                raise
            except (OSError, BenchProtocolError, TimeoutError):
                tried += 1
                self.index = (self.index + 1) % len(self.hosts)
                if tried % len(self.hosts) == 0:
                    await asyncio.sleep(RETRY_DELAY_S)
                continue
            response = await session.handshake
            if self.session_id == 0:
                self.session_id = response.sessionId
                self.password = response.passwd or bytes(16)
            self.session = session
            self.attached.append(time.monotonic())
            return

    async def _idle(self) -> None:
        """Not our round: ping every third of the session timeout so the session lives."""
        session = self.session
        assert session is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.writing.wait(), SESSION_TIMEOUT_MS / 3000)
        if not self.writing.is_set() and session.transport is not None:
            session.transport.write(_PING)

    async def _write_one(self) -> None:
        session = self.session
        assert session is not None
        self.sequence += 1
        path = f"{PARENT}/w-{self.sequence:010d}"
        sent = time.monotonic()
        future = session.call_path(_CREATE, path)
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), self.request_timeout_s)
        except (BenchProtocolError, TimeoutError):
            # The connection was lost (or the server is silent): the outcome is unknown.
            self.unknown.append(path)
            session.abort()
            return
        acked = time.monotonic()
        if reply.header.zxid > 0:
            self.last_zxid = max(self.last_zxid, reply.header.zxid)
        if reply.header.err != 0:
            raise FailoverError(f"create {path} answered {Code(reply.header.err).name}")
        self.acked.append(path)
        self.acks.append((sent, acked))


@dataclass(slots=True)
class Subject:
    """One ensemble under test, its writer and its results."""

    name: str
    ensemble: Ensemble
    writer: Writer
    rounds: list[RoundResult] = field(default_factory=list)


async def _create_parent(hosts: Sequence[tuple[str, int]]) -> None:
    session = await open_call_session(*hosts[0])
    try:
        reply = await session.call_path(
            PathTemplate(
                OpCode.create, CreateRequest("/", b"", OPEN_ACL_UNSAFE, int(CreateMode.PERSISTENT))
            ),
            PARENT,
        )
        check(reply, f"create {PARENT}", Code.NODEEXISTS)
    finally:
        await close_call_session(session)


async def _run_round(subject: Subject, number: int, progress: Progress) -> RoundResult:
    ensemble, writer = subject.ensemble, subject.writer
    writer.writing.set()
    await asyncio.sleep(SETTLE_S)
    leader: Member | None = await asyncio.to_thread(ensemble.leader)
    if leader is None or leader.pid is None:
        raise FailoverError(f"{subject.name}: no server says it leads")
    lost_before = len(writer.unknown)
    killed_at = time.monotonic()
    os.kill(leader.pid, signal.SIGKILL)  # here, so that killed_at is the kill's time
    await asyncio.to_thread(leader.kill)  # reaps it
    problem = None
    deadline = killed_at + RESUME_TIMEOUT_S
    first = writer.first_ack_after(killed_at)
    while first is None and time.monotonic() < deadline and writer.failure is None:
        await asyncio.sleep(0.005)
        first = writer.first_ack_after(killed_at)
    if first is None:
        problem = writer.failure or f"no write acknowledged within {RESUME_TIMEOUT_S:.0f} s"
    failover_s = None if first is None else first[1] - killed_at
    reattached = [t for t in writer.attached if t > killed_at]
    await asyncio.sleep(AFTER_RESUME_S)
    restarting = time.monotonic()
    try:
        await asyncio.to_thread(ensemble.restart, leader)
    except LaunchError as error:
        problem = problem or str(error)
    restart_s = time.monotonic() - restarting
    new_leader = await asyncio.to_thread(ensemble.leader)
    writer.writing.clear()
    result = RoundResult(
        ensemble=subject.name,
        round=number,
        killed_sid=leader.sid,
        new_leader_sid=new_leader.sid if new_leader is not None else None,
        failover_s=None if failover_s is None else round(failover_s, 4),
        reconnected_s=round(reattached[0] - killed_at, 4) if reattached else None,
        lost_writes=len(writer.unknown) - lost_before,
        restart_s=round(restart_s, 3),
        problem=problem,
    )
    progress(describe_round(result))
    return result


async def _children_at(host: tuple[str, int]) -> list[str]:
    session = await open_call_session(*host)
    try:
        check(await session.call(OpCode.sync, SyncRequest(PARENT)), f"sync {PARENT}")
        reply = check(
            await session.call(OpCode.getChildren, GetChildrenRequest(PARENT, False)),
            f"getChildren {PARENT}",
        )
    finally:
        await close_call_session(session)
    assert isinstance(reply.record, GetChildrenResponse)
    return list(reply.record.children or ())


async def verify(subject: Subject) -> Verification:
    """Every acknowledged write on every server, and every server the same (see above)."""
    writer = subject.writer
    result = Verification(subject.name, len(writer.acked), len(writer.unknown))
    acknowledged = {path.rsplit("/", 1)[1] for path in writer.acked}
    seen: list[set[str]] = []
    try:
        async with asyncio.timeout(VERIFY_TIMEOUT_S):
            for member in subject.ensemble.members:
                children = set(await _children_at(("127.0.0.1", member.client_port)))
                seen.append(children)
                result.servers[member.sid] = len(children)
                result.missing[member.sid] = len(acknowledged - children)
    except (OSError, BenchProtocolError, TimeoutError) as error:
        result.problem = f"{type(error).__name__}: {error}"
        return result
    result.agree = all(children == seen[0] for children in seen)
    return result


class Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def describe_round(r: RoundResult) -> str:
    if r.failover_s is None:
        return f"round {r.round} {r.ensemble}: leader {r.killed_sid} killed; FAILED: {r.problem}"
    return (
        f"round {r.round} {r.ensemble}: leader {r.killed_sid} killed, writes acknowledged again"
        f" after {r.failover_s:.3f} s (session re-attached after {r.reconnected_s} s; new leader"
        f" {r.new_leader_sid}; {r.lost_writes} write(s) of unknown outcome; the killed server"
        f" served again {r.restart_s:.1f} s after its restart)"
    )


@dataclass(slots=True)
class Report:
    rounds: list[RoundResult]
    verifications: list[Verification]
    worst_s: dict[str, float | None]
    target_s: float | None
    met: bool | None
    # Every server process started, per ensemble (all stopped when ``run`` returns).
    pids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.problem is None for r in self.rounds) and all(v.ok for v in self.verifications)


def summarise(rounds: list[RoundResult], verifications: list[Verification]) -> Report:
    names = list(dict.fromkeys(r.ensemble for r in rounds))
    worst: dict[str, float | None] = {}
    for name in names:
        times = [r.failover_s for r in rounds if r.ensemble == name]
        measured = [t for t in times if t is not None]
        # A round in which writes never resumed has no time: then there is no worst either.
        worst[name] = max(measured) if len(measured) == len(times) else None
    target = met = None
    if worst.get("apache") is not None:
        apache_worst = worst["apache"]
        assert apache_worst is not None
        target = max(TARGET_FLOOR_S, TARGET_FACTOR * apache_worst)
        zkref_worst = worst.get("zkref")
        met = None if zkref_worst is None else zkref_worst <= target
    return Report(rounds, verifications, worst, target, met)


def report_text(report: Report) -> str:
    names = list(report.worst_s)
    lines = [
        "round  " + "  ".join(f"{name + ' failover s':>18}" for name in names),
    ]
    numbers = sorted({r.round for r in report.rounds})
    for number in numbers:
        cells = []
        for name in names:
            found = [r for r in report.rounds if r.round == number and r.ensemble == name]
            value = found[0].failover_s if found else None
            cells.append(f"{'FAILED' if value is None else f'{value:.3f}':>18}")
        lines.append(f"{number:>5}  " + "  ".join(cells))
    worst = [
        f"{'-' if report.worst_s[n] is None else f'{report.worst_s[n]:.3f}':>18}" for n in names
    ]
    lines.append("worst  " + "  ".join(worst))
    for name in names:
        times = [r.failover_s for r in report.rounds if r.ensemble == name and r.failover_s]
        if times:
            lines.append(f"{name}: median {statistics.median(times):.3f} s over {len(times)}")
    if report.target_s is not None:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[report.met]
        lines.append(
            f"target: zkref's worst <= max({TARGET_FLOOR_S:g} s, {TARGET_FACTOR:g} x apache's"
            f" worst) = {report.target_s:.3f} s: {verdict}"
        )
    for v in report.verifications:
        if v.problem is not None:
            lines.append(f"{v.ensemble}: verification FAILED: {v.problem}")
            continue
        per_server = ", ".join(
            f"server {sid}: {count} znodes, {v.missing[sid]} acknowledged missing"
            for sid, count in v.servers.items()
        )
        lines.append(
            f"{v.ensemble}: {v.acknowledged} writes acknowledged, {v.unknown} of unknown outcome;"
            f" {per_server}; servers {'agree' if v.agree else 'DISAGREE'}"
            f" -> {'ok' if v.ok else 'FAILED'}"
        )
    return "\n".join(lines)


async def run(
    kinds: Sequence[str], rounds: int, size: int, home: Path, progress: Progress
) -> Report:
    """Start the ensembles, run the rounds alternating between them, verify, stop."""
    subjects: list[Subject] = []
    with contextlib.ExitStack() as stack:
        for kind in kinds:
            ensemble = stack.enter_context(Ensemble(kind, size, home / kind))
            progress(f"starting {kind}: {size} servers in {ensemble.home}")
            try:
                await asyncio.to_thread(ensemble.start)
            except LaunchError as error:
                raise FailoverError(str(error)) from None
            progress(
                f"{kind} serving: "
                + ", ".join(f"{m.sid}={m.mode()} (pid {m.pid})" for m in ensemble.members)
            )
            await _create_parent(ensemble.hosts)
            subjects.append(Subject(kind, ensemble, Writer(kind, ensemble.hosts)))
        for subject in subjects:
            subject.writer.start()
        try:
            for number in range(1, rounds + 1):
                order = subjects if number % 2 == 1 else list(reversed(subjects))
                for subject in order:
                    subject.rounds.append(await _run_round(subject, number, progress))
        finally:
            for subject in subjects:
                await subject.writer.stop()
        verifications = [await verify(subject) for subject in subjects]
        for subject in subjects:
            if subject.writer.failure is not None:
                verifications[subjects.index(subject)].problem = subject.writer.failure
    all_rounds = [
        r
        for number in range(1, rounds + 1)
        for s in subjects
        for r in s.rounds
        if r.round == number
    ]
    report = summarise(all_rounds, verifications)
    for subject in subjects:
        report.pids[subject.name] = [
            pid for member in subject.ensemble.members for pid in member.pids_started
        ]
    return report


def main(argv: Sequence[str], prog: str) -> int:
    """``bench failover``: parse, run, print; exit 1 if a round or a verification failed."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Kill the leader of an ensemble (kill -9) while a client writes, "
        "several times, restarting it each time; report how soon writes are acknowledged "
        "again, and check that every acknowledged write is on every server.",
    )
    parser.add_argument(
        "--ensemble",
        choices=["zkref", "apache", "both"],
        default="both",
        help="which ensembles to start and measure (both: alternating rounds)",
    )
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="kills (3)")
    parser.add_argument("--size", type=int, default=3, metavar="N", help="servers (3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the servers' data directories and logs in DIR (by default they are in a "
        "temporary directory, removed at the end)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(list(argv))
    if args.rounds < 1 or args.size < 3:
        parser.exit(2, f"{prog}: need --rounds >= 1 and --size >= 3\n")
    kinds = ["zkref", "apache"] if args.ensemble == "both" else [args.ensemble]
    if "apache" in kinds:
        missing = apache_available()
        if missing is not None:
            parser.exit(2, f"{prog}: Apache ZooKeeper cannot run here: {missing}\n")
    progress = Progress(args.quiet)
    try:
        with signals_raise(), contextlib.ExitStack() as stack:
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                home = Path(tempfile.mkdtemp(prefix="zkref-failover-", dir=args.keep))
            else:
                home = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="zkref-failover-"))
                )
            report = asyncio.run(run(kinds, args.rounds, args.size, home, progress))
    except FailoverError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    print(report_text(report))
    if args.json is not None:
        document = {
            "tool": "zkref bench failover",
            "rounds": [asdict(r) for r in report.rounds],
            "verifications": [asdict(v) for v in report.verifications],
            "worst_s": report.worst_s,
            "target_s": report.target_s,
            "met": report.met,
            "pids": report.pids,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0 if report.ok else 1
