"""The core's central invariants, under any durability lag: nothing is seen before it is
durable, and zxids never go back along a connection.

The core answers a write only when its transaction commits, and a standalone core commits
only what its driver reported durable (``persisted``). So for any request sequence and any
delay between asking to persist and the report:

* every frame a client gets carries a zxid no newer than what was durable when the frame was
  produced (write replies, reads, pings, notifications: no client sees an undurable change);
* along a connection, the zxids of replies never decrease (a client's lastZxidSeen only
  grows: ``ClientCnxn`` keeps the largest positive one);
* a reply to a write carries the zxid of the transaction logged for it (same session and
  xid), and a new session's ConnectResponse comes after its createSession is durable.

The differential test persists at once and compares bytes; this test holds durability back at
random and looks at nothing but these invariants. It drives the core with random sequences of
several connections and sessions: handshakes and re-attaches, pipelined batches of every
request (writes, reads, watches, multis, auth, closes, bad opcodes), lost connections, time
passing (sessions expire, containers and TTL nodes are reaped) and the log catching up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.core import ZooKeeperCore
from reference.txn import Txn
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.profiles import V3_8, V3_9, Profile
from spec.state import Config
from tests.differential.test_reference_vs_spec import creates, operations, watching_reads
from tests.differential.wire import connect_frame, request_frame

_REPLY_HEADER = struct.Struct(">iiqi")  # length, xid, zxid, err
_CONNECT_HEAD = struct.Struct(">iiiqi")  # length, protocolVersion, timeOut, sessionId, len


@dataclass(frozen=True)
class Action:
    kind: str  # connect, reattach, batch, lose, tick, persist
    pick: int = 0
    ops: tuple[rq.Operation, ...] = ()
    delta_ms: int = 0
    timeout_ms: int = 1000


actions = st.one_of(
    st.builds(Action, st.just("connect"), timeout_ms=st.sampled_from([200, 1000, 5000])),
    st.builds(Action, st.just("reattach"), st.integers(0, 9)),
    st.builds(
        Action,
        st.just("batch"),
        st.integers(0, 9),
        st.lists(st.one_of(operations, creates(), watching_reads), min_size=1, max_size=4).map(
            tuple
        ),
    ),
    st.builds(
        Action,
        st.just("batch"),
        st.integers(0, 9),
        st.lists(operations, min_size=1, max_size=2).map(tuple),
    ),
    st.builds(Action, st.just("lose"), st.integers(0, 9)),
    st.builds(Action, st.just("tick"), delta_ms=st.sampled_from([10, 90, 150, 400, 1200, 2500])),
    # The log catches up with ``pick`` more txns (0: all of them).
    st.builds(Action, st.just("persist"), st.integers(0, 6)),
    st.builds(Action, st.just("persist"), st.just(0)),
)


@dataclass
class Watched:
    """The core, driven like a server drives it with a slow log, and what clients got."""

    profile: Profile
    core: ZooKeeperCore = field(init=False)
    now: int = field(init=False)
    open: dict[int, int] = field(default_factory=dict)  # conn → session (0: not yet)
    closed: set[int] = field(default_factory=set)
    passwords: dict[int, bytes] = field(default_factory=dict)
    # Txns the core asked to persist that are not durable yet, and the durable zxid.
    unpersisted: list[Txn] = field(default_factory=list)
    durable: int = 0
    logged: dict[tuple[int, int], int] = field(default_factory=dict)  # (session, cxid) → zxid
    created: dict[int, int] = field(default_factory=dict)  # session → createSession zxid
    # Per connection: the positive zxids of its replies, in order.
    reply_zxids: dict[int, list[int]] = field(default_factory=dict)
    sent: dict[tuple[int, int], tuple[int, rq.Operation]] = field(default_factory=dict)
    # (what, zxid carried, zxid it must carry or be at least) for write replies, sessions
    checked: list[tuple[str, int, int]] = field(default_factory=list)
    next_conn: int = 1
    next_xid: int = 1

    def __post_init__(self) -> None:
        config = Config(
            tick_time_ms=100,
            min_session_timeout_ms=200,
            max_session_timeout_ms=2000,
            container_check_interval_ms=500,
            profile=self.profile,
        )
        self.core = ZooKeeperCore(config, config.start_time_ms)
        self.now = config.start_time_ms

    def run(self, action: Action) -> None:
        live = sorted(c for c, s in self.open.items() if s)
        if action.kind in ("batch", "lose") and not live:
            action = Action("connect")
        if action.kind == "reattach" and not self.passwords:
            action = Action("connect")
        if action.kind == "connect":
            self._handshake(rq.Connect(action.timeout_ms))
        elif action.kind == "reattach":
            session_id = sorted(self.passwords)[action.pick % len(self.passwords)]
            self._handshake(rq.Connect(1000, session_id, self.passwords[session_id]))
        elif action.kind == "batch":
            conn = live[action.pick % len(live)]
            for op in action.ops:  # pipelined: fed together, effects taken once
                xid = self.next_xid
                self.next_xid += 1
                payload = request_frame(op, xid)
                wire_xid = int.from_bytes(payload[:4], "big", signed=True)
                self.sent[(conn, wire_xid)] = (self.open[conn], op)
                self.core.receive(conn, payload, self.now)
        elif action.kind == "lose":
            conn = live[action.pick % len(live)]
            self.core.connection_lost(conn)
            del self.open[conn]
            self.closed.add(conn)
        elif action.kind == "tick":
            self.now += action.delta_ms
            while self.core.tick(self.now):
                self._collect()
        else:
            count = action.pick or len(self.unpersisted)
            made, self.unpersisted = self.unpersisted[:count], self.unpersisted[count:]
            if made:
                self.durable = made[-1].header.zxid
                self.core.persisted(self.durable)
        self._collect()

    def _handshake(self, request: rq.Connect) -> None:
        conn = self.next_conn
        self.next_conn += 1
        self.open[conn] = 0
        self.core.connection_made(conn, "127.0.0.1")
        self.core.receive(conn, connect_frame(request), self.now)

    def _collect(self) -> None:
        """Take one Ready, as the server's flush does: txns to the (slow) log, frames out
        now; check each frame against what is durable at this moment."""
        ready = self.core.ready()
        assert not ready.send
        for txn in ready.persist:
            assert isinstance(txn, Txn)
            header = txn.header
            self.unpersisted.append(txn)
            self.logged[(header.session_id, header.cxid)] = header.zxid
            if header.type == OpCode.createSession:
                self.created[header.session_id] = header.zxid
        for out in ready.clients:
            conn = out.conn_id
            assert conn not in self.closed, f"output on connection {conn} after its close"
            if out.close:
                self.open.pop(conn, None)
                self.closed.add(conn)
                continue
            assert out.data is not None
            if self.open[conn] == 0:  # the handshake's answer
                _, _, _, session_id, length = _CONNECT_HEAD.unpack_from(out.data)
                if session_id:
                    self.open[conn] = session_id
                    self.passwords[session_id] = out.data[24 : 24 + length]
                if session_id in self.created:
                    self.checked.append(("new session", self.durable, self.created[session_id]))
                continue
            _, xid, zxid, _ = _REPLY_HEADER.unpack_from(out.data)
            assert zxid <= self.durable, (
                f"a frame on connection {conn} carries zxid {zxid:#x}, "
                f"but only {self.durable:#x} is durable"
            )
            if xid != -1 and zxid > 0:
                self.reply_zxids.setdefault(conn, []).append(zxid)
            session_id, op = self.sent.pop((conn, xid), (0, None))
            if op is not None and (session_id, xid) in self.logged:
                self.checked.append((repr(op), zxid, self.logged[(session_id, xid)]))


@pytest.mark.parametrize("profile", [V3_9, V3_8], ids=["3.9", "3.8"])
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, min_size=5, max_size=60))
def test_nothing_undurable_is_seen_and_reply_zxids_never_go_back_on_a_connection(
    profile: Profile, script: list[Action]
) -> None:
    watched = Watched(profile)
    for action in [*script, Action("persist")]:
        watched.run(action)
    for conn, zxids in watched.reply_zxids.items():
        assert zxids == sorted(zxids), f"reply zxids went back on connection {conn}: {zxids}"
    for what, carried, logged in watched.checked:
        if what == "new session":
            assert carried >= logged, f"session answered before its createSession {logged:#x}"
        else:
            assert carried == logged, f"{what}: reply zxid {carried:#x}, logged as {logged:#x}"


def test_the_watched_scripts_do_reach_writes_and_new_sessions() -> None:
    """The property is not vacuous: a plain script yields write replies and sessions to check,
    and each waits for the log."""
    watched = Watched(V3_9)
    watched.run(Action("connect"))
    assert watched.checked == []  # the session is not answered before its txn is durable
    watched.run(Action("persist"))
    assert [what for what, _, _ in watched.checked] == ["new session"]
    create = rq.Create("/a", b"", OPEN_ACL_UNSAFE, 0)
    watched.run(Action("batch", 0, (create, rq.GetData("/a"))))
    assert len(watched.checked) == 1  # neither the create nor the read behind it yet
    watched.run(Action("persist"))
    assert [what for what, _, _ in watched.checked] == ["new session", repr(create)]
    assert watched.reply_zxids == {1: [2, 2]}
