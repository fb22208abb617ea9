"""A client writing through an ensemble's connect string while servers are killed with kill -9.

``Writer`` is one session over the whole connect string (``conformance.client.Client``,
which re-attaches to the next server when its connection is lost and never sends a request
twice) with ``WRITERS`` requests in flight: each creates a znode of its own
(``ROOT/w-<n>``), so every write's outcome is known by its path: acknowledged (OK),
unknown (the connection went while it was in flight) or not sent.

``kill_during_writes`` kills the chosen servers (by default the leader) while the writer
writes, measures the time from the kill to the acknowledgement of the first write *sent after
the kill*, optionally restarts them and waits until the ensemble has one leader again, and
repeats. ``node_contents`` reads each server directly, after a ``sync``, so a test can check
that every acknowledged write is on every node. Everything is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.client import Client, ClientError, OutcomeUnknown, SessionExpired
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from tests.support.ensemble import Ensemble

ROOT = "/failover"
WRITERS = 4  # writes in flight at once, so several are in flight at each kill
SESSION_TIMEOUT_MS = 15_000
REQUEST_TIMEOUT_S = 5.0
RECONNECT_ATTEMPTS_MAX = 200  # with the client's back-off of at most 0.5 s: about 100 s
RESUME_TIMEOUT_S = 30.0  # from a kill to the first acknowledged write sent after it
WRITES_BETWEEN_KILLS = 20  # acknowledged after a restart before the next kill


@dataclass
class Write:
    path: str
    sent: float  # time.monotonic()
    acked: float | None = None
    outcome: str = "pending"  # ok | unknown | the error code's name


@dataclass
class Failover:
    """What one kill did: whom, when, and how long until a new write was acknowledged."""

    victims: list[int]
    leader: int
    killed_at: float
    first_new_ack_at: float

    @property
    def kill_to_ack_s(self) -> float:
        return self.first_new_ack_at - self.killed_at


@dataclass
class Writer:
    """One session writing through ``hosts`` until stopped (see the module docstring)."""

    hosts: list[str]
    writes: list[Write] = field(default_factory=list)
    _client: Client | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: bool = False

    async def start(self) -> None:
        self._client = Client(
            self.hosts,
            name="writer",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            request_timeout_s=REQUEST_TIMEOUT_S,
            reconnect_attempts_max=RECONNECT_ATTEMPTS_MAX,
        )
        await self._client.start()
        reply = await self._client.call(rq.Create(ROOT, b"", OPEN_ACL_UNSAFE, 0))
        assert reply.err in (Code.OK, Code.NODEEXISTS), reply
        self._tasks = [asyncio.create_task(self._write_forever()) for _ in range(WRITERS)]

    async def _write_forever(self) -> None:
        client = self._client
        assert client is not None
        while not self._stopping:
            write = Write(f"{ROOT}/w-{len(self.writes):07d}", time.monotonic())
            self.writes.append(write)
            try:
                reply = await client.call(rq.Create(write.path, b"", OPEN_ACL_UNSAFE, 0))
            except OutcomeUnknown:
                write.outcome = "unknown"  # sent, and the connection went before the reply
                continue
            except SessionExpired:
                write.outcome = "expired"
                return
            except ClientError:
                write.outcome = "not sent"  # no connection: nothing was sent
                await asyncio.sleep(0.01)
                continue
            write.acked = time.monotonic()
            write.outcome = "ok" if reply.err == Code.OK else Code(reply.err).name

    def acknowledged(self) -> set[str]:
        return {w.path for w in self.writes if w.outcome == "ok"}

    def first_ack_sent_after(self, instant: float) -> float | None:
        acks = [w.acked for w in self.writes if w.sent > instant and w.outcome == "ok"]
        return min((a for a in acks if a is not None), default=None)

    async def wait_ack_sent_after(self, instant: float, timeout_s: float) -> float:
        """The acknowledgement time of the first write sent after ``instant`` (bounded)."""
        deadline = time.monotonic() + timeout_s
        while (acked := self.first_ack_sent_after(instant)) is None:
            if time.monotonic() > deadline:
                outcomes = [w.outcome for w in self.writes if w.sent > instant]
                raise AssertionError(
                    f"no write sent after the kill was acknowledged within {timeout_s} s "
                    f"({len(outcomes)} sent: {sorted(set(outcomes))})"
                )
            await asyncio.sleep(0.01)  # the times are recorded as they happen: polling is exact
        return acked

    async def wait_acks(self, count: int, timeout_s: float) -> None:
        """Until ``count`` more writes are acknowledged (bounded)."""
        target = len(self.acknowledged()) + count
        deadline = time.monotonic() + timeout_s
        while len(self.acknowledged()) < target:
            assert time.monotonic() < deadline, f"not {count} writes within {timeout_s} s"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            await asyncio.wait_for(task, REQUEST_TIMEOUT_S * 3)
        if self._client is not None:
            await self._client.close()


def leader_only(ensemble: Ensemble) -> list[int]:
    return [ensemble.leader()]


async def kill_during_writes(
    ensemble: Ensemble,
    writer: Writer,
    rounds: int,
    victims: Callable[[Ensemble], list[int]] = leader_only,
    restart: bool = True,
) -> list[Failover]:
    """``rounds`` times: kill ``victims(ensemble)`` with kill -9 while ``writer`` writes, wait
    for a write sent after the kill to be acknowledged, then (if ``restart``) restart them
    and wait until every server follows one leader and more writes are acknowledged."""
    failovers = []
    for _ in range(rounds):
        await writer.wait_acks(WRITES_BETWEEN_KILLS, RESUME_TIMEOUT_S)
        leader = await asyncio.to_thread(ensemble.leader)
        chosen = victims(ensemble)
        killed_at = time.monotonic()
        for sid in chosen:
            await asyncio.to_thread(ensemble.kill, sid)
        acked_at = await writer.wait_ack_sent_after(killed_at, RESUME_TIMEOUT_S)
        failovers.append(Failover(chosen, leader, killed_at, acked_at))
        if restart:
            for sid in chosen:
                await asyncio.to_thread(ensemble.restart, sid)
            await asyncio.to_thread(ensemble.wait_formed)
    await writer.wait_acks(WRITES_BETWEEN_KILLS, RESUME_TIMEOUT_S)
    return failovers


async def node_contents(ensemble: Ensemble, root: str = ROOT) -> dict[int, set[str]]:
    """The children of ``root`` as each running server has them, read from that server alone
    after a ``sync`` (so it has everything the leader had committed when the sync arrived)."""
    contents = {}
    for sid in ensemble.running():
        client = Client([ensemble[sid].address], name=f"reader-{sid}", reconnect=False)
        await client.start()
        try:
            synced = await client.call(rq.Sync(root))
            assert synced.err == Code.OK, synced
            reply = await client.call(rq.GetChildren(root))
            assert reply.err == Code.OK and isinstance(reply.body, rq.GetChildrenResponse), reply
            contents[sid] = {f"{root}/{name}" for name in reply.body.children}
        finally:
            await client.close()
    return contents
