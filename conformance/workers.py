"""The clients of a nemesis run: sessions that work through the whole connect string.

Each ``Worker`` is one client (``conformance.client.Client``, which records the history,
re-attaches its session at the next server when a connection is lost and never sends a request
twice) with the full connect string, its first server chosen round-robin so that the clients
are spread over the ensemble. One request at a time, a pause between two (``think_s`` on
average, so the load is bounded), until told to stop. When its session expires it starts a new
one, as an application would.

What it asks (``Worker.draw``), under ``ROOT``:

* ``own-K/w-N`` — creates of znodes of its own that are never deleted (an acknowledged one must
  be there at the end), and ``own-K/m-N`` made by a ``multi`` that also checks and sets
  ``own-K``'s version;
* ``own-K`` — setData with the version it last saw (compare-and-set): acknowledged versions
  only grow;
* ``seq/s-`` — persistent sequential creates (the name the reply gives must be there at the
  end);
* ``eph/K-N`` and ``eph/e-`` — ephemeral and ephemeral sequential creates, some deleted again;
  each must be gone once its session is;
* ``shared/...`` — a few znodes every client creates, changes (any version), deletes and
  multis over, so that requests collide;
* reads of all of these (getData, exists, getChildren, half of them setting a watch) and sync.

Every acknowledged write that must last is kept (``Worker.durable``) for the read-back at the
end; the history has everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field

from conformance.client import Client, ClientError, OutcomeUnknown, SessionExpired
from conformance.history import HistoryRecorder
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode

ROOT = "/nemesis"
SHARED = (f"{ROOT}/shared/a", f"{ROOT}/shared/b", f"{ROOT}/shared/a/x", f"{ROOT}/shared/c")
SHARED_PARENTS = (f"{ROOT}/shared", f"{ROOT}/shared/a")
VALUES = (b"", b"v", b"vv", b"xyz")
RECONNECT_ATTEMPTS_MAX = 100_000  # never give up re-attaching while the run lasts
NEW_SESSION_PAUSE_S = 0.5  # between two failed attempts to start a session
STOP_TIMEOUT_S = 30.0


def layout(clients: int) -> list[str]:
    """The znodes the run creates before the clients start, parents first."""
    return [
        ROOT,
        f"{ROOT}/seq",
        f"{ROOT}/eph",
        f"{ROOT}/shared",
        *(f"{ROOT}/own-{k}" for k in range(clients)),
    ]


@dataclass
class Durable:
    """What a worker's acknowledged writes promise about the end state."""

    created: list[str] = field(default_factory=list)  # own-K/w-N, own-K/m-N, seq/s-...
    # The highest version of own-K a setData or multi was answered with (and when).
    counter_version: int = -1
    counter_acked_ns: int = 0


@dataclass
class Worker:
    """One client session of the run (see the module docstring)."""

    index: int
    hosts: list[str]
    recorder: HistoryRecorder
    rng: random.Random
    session_timeout_ms: int
    request_timeout_s: float
    think_s: float
    client: Client | None = None
    durable: Durable = field(default_factory=Durable)
    ephemerals: list[str] = field(default_factory=list)
    sessions: list[Client] = field(default_factory=list)
    operations: int = field(default=0, init=False)
    # own-K's version as last seen; None: read it first.
    _version: int | None = field(default=None, init=False)
    _next: int = field(default=0, init=False)
    _stopping: bool = field(default=False, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def own(self) -> str:
        return f"{ROOT}/own-{self.index}"

    @property
    def name(self) -> str:
        return f"w{self.index}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish the request in flight (bounded), then close the session."""
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self.client is not None:
            with contextlib.suppress(ClientError, TimeoutError):
                await asyncio.wait_for(self.client.close(), self.request_timeout_s * 2)

    async def _session(self) -> Client | None:
        """A client with a live session: the current one, or a new one."""
        client = self.client
        if client is not None and not client.expired and not client.closed:
            return client
        if client is not None:
            with contextlib.suppress(ClientError):
                await client.abandon()
        client = Client(
            self.hosts,
            name=f"{self.name}.{len(self.sessions)}",
            recorder=self.recorder,
            session_timeout_ms=self.session_timeout_ms,
            request_timeout_s=self.request_timeout_s,
            reconnect_attempts_max=RECONNECT_ATTEMPTS_MAX,
            start_host=self.index + len(self.sessions),
        )
        try:
            await client.start()
        except ClientError:
            return None
        self.sessions.append(client)
        self.client = client
        self.ephemerals.clear()  # the old session's are gone (or will be)
        self._version = None
        return client

    async def _run(self) -> None:
        while not self._stopping:
            client = await self._session()
            if client is None:
                await asyncio.sleep(NEW_SESSION_PAUSE_S)
                continue
            op = self.draw()
            self.operations += 1
            try:
                reply = await client.call(op)
            except OutcomeUnknown:
                self._unknown(op)
            except SessionExpired:
                pass  # a new session next time round
            except ClientError:
                await asyncio.sleep(0.05)  # no connection now: the client is re-attaching
            else:
                self._answered(op, reply)
            await asyncio.sleep(self.rng.uniform(0, 2 * self.think_s))

    # --- what to ask ---------------------------------------------------------------------

    def draw(self) -> rq.Operation:
        rng = self.rng
        n = self._next
        self._next += 1
        data = f"{self.index}-{n}".encode()
        roll = rng.random()
        if self._version is None and roll < 0.45:
            return rq.GetData(self.own, rng.random() < 0.5)
        if roll < 0.12:
            return rq.Create(f"{self.own}/w-{n:07d}", data, OPEN_ACL_UNSAFE, 0)
        if roll < 0.17:
            return rq.Create(f"{ROOT}/seq/s-", data, OPEN_ACL_UNSAFE, 2, OpCode.create2)
        if roll < 0.22:
            return rq.Create(f"{ROOT}/eph/{self.index}-{n}", data, OPEN_ACL_UNSAFE, 1)
        if roll < 0.25:
            return rq.Create(f"{ROOT}/eph/e-", data, OPEN_ACL_UNSAFE, 3)
        if roll < 0.28 and self.ephemerals:
            return rq.Delete(rng.choice(self.ephemerals), -1)
        if roll < 0.40:
            assert self._version is not None
            return rq.SetData(self.own, data, self._version)
        if roll < 0.45:
            assert self._version is not None
            return rq.Multi(
                (
                    rq.Check(self.own, self._version),
                    rq.Create(f"{self.own}/m-{n:07d}", data, OPEN_ACL_UNSAFE, 0),
                    rq.SetData(self.own, data, self._version),
                )
            )
        if roll < 0.60:
            return self._shared_write(rng)
        if roll < 0.64:
            return rq.Sync(self.own)
        return self._read(rng)

    def _shared_write(self, rng: random.Random) -> rq.Operation:
        path = rng.choice(SHARED)
        value = rng.choice(VALUES)
        kind = rng.random()
        if kind < 0.3:
            return rq.Create(path, value, OPEN_ACL_UNSAFE, rng.choice((0, 0, 1)))
        if kind < 0.6:
            return rq.SetData(path, value, rng.choice((-1, -1, 0, 1, 2)))
        if kind < 0.8:
            return rq.Delete(path, rng.choice((-1, -1, 0, 1)))
        ops: list[rq.Operation] = []
        for _ in range(rng.randint(1, 3)):
            sub = rng.choice(SHARED)
            pick = rng.random()
            if pick < 0.35:
                ops.append(rq.Create(sub, value, OPEN_ACL_UNSAFE, rng.choice((0, 1))))
            elif pick < 0.6:
                ops.append(rq.SetData(sub, value, rng.choice((-1, 0, 1))))
            elif pick < 0.8:
                ops.append(rq.Delete(sub, rng.choice((-1, 0))))
            else:
                ops.append(rq.Check(sub, rng.choice((-1, 0, 1))))
        return rq.Multi(tuple(ops))

    def _read(self, rng: random.Random) -> rq.Operation:
        watch = rng.random() < 0.5
        roll = rng.random()
        if roll < 0.25:
            return rq.GetData(self.own, watch)
        if roll < 0.45 and self.durable.created:
            return rq.Exists(rng.choice(self.durable.created), watch)
        if roll < 0.65:
            return rq.GetData(rng.choice(SHARED), watch)
        if roll < 0.8:
            return rq.Exists(rng.choice(SHARED), watch)
        parent = rng.choice((*SHARED_PARENTS, f"{ROOT}/eph"))
        return rq.GetChildren(parent, watch, rng.random() < 0.5)

    # --- what the answers mean -----------------------------------------------------------

    def _unknown(self, op: rq.Operation) -> None:
        if _touches(op, self.own):
            self._version = None  # it may or may not have changed

    def _answered(self, op: rq.Operation, reply: rq.Reply) -> None:
        body = reply.body
        ok = reply.err == Code.OK
        now = time.monotonic_ns()
        if isinstance(op, rq.Create) and ok:
            path = getattr(body, "path", op.path)
            if op.flags in (1, 3):
                self.ephemerals.append(path)
            elif path.startswith((f"{self.own}/", f"{ROOT}/seq/")):
                self.durable.created.append(path)
        elif isinstance(op, rq.Delete) and op.path in self.ephemerals:
            if reply.err in (Code.OK, Code.NONODE):
                self.ephemerals.remove(op.path)
        elif isinstance(op, rq.SetData) and op.path == self.own:
            if ok and isinstance(body, rq.StatResponse):
                self._acked_version(body.stat.version, now)
            else:
                self._version = None
        elif isinstance(op, rq.GetData) and op.path == self.own:
            if ok and isinstance(body, rq.GetDataResponse):
                self._version = body.stat.version
        elif isinstance(op, rq.Multi) and _touches(op, self.own):
            if ok and isinstance(body, rq.MultiResponse):
                created, written = body.results[1], body.results[2]
                if isinstance(created, rq.CreateResult):
                    self.durable.created.append(created.path)
                if isinstance(written, rq.SetDataResult):
                    self._acked_version(written.stat.version, now)
            else:
                self._version = None

    def _acked_version(self, version: int, now_ns: int) -> None:
        self._version = version
        if version > self.durable.counter_version:
            self.durable.counter_version = version
            self.durable.counter_acked_ns = now_ns


def _touches(op: rq.Operation, path: str) -> bool:
    if isinstance(op, rq.Multi):
        return any(getattr(sub, "path", None) == path for sub in op.ops)
    return isinstance(op, rq.SetData) and op.path == path


__all__ = ["ROOT", "Durable", "Worker", "layout"]
