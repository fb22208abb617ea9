"""The core's central invariant: what it sends on a connection waits for durability in order.

Every ``reference.core.Output`` carries a watermark (``Output.zxid``): the server releases it
only once every transaction up to that zxid is durable, in the order the core produced it. So
that no reply overtakes another on a connection and none is released before the write it
answers is durable, two properties must hold for any request sequence:

* along a connection, watermarks never decrease (closes included);
* a reply to a write (and the handshake that created a session) carries a watermark at least
  the zxid of the transaction it logged: its ``TxnHeader`` has the request's session and xid
  (``cxid``), or is the session's createSession.

The differential test compares the bytes the core sends, not their watermarks, so it cannot
see a watermark that is wrong; this test looks at nothing else. It drives the core with random
sequences of several connections and sessions: handshakes and re-attaches, pipelined batches
of every request (writes, reads, watches, multis, auth, closes, bad opcodes), lost
connections and time passing (sessions expire, containers and TTL nodes are reaped).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.core import ZooKeeperCore
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
    kind: str  # connect, reattach, batch, lose, tick
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
)


@dataclass
class Watched:
    """The core, driven like a server drives it, and what its outputs carried."""

    profile: Profile
    core: ZooKeeperCore = field(init=False)
    now: int = field(init=False)
    open: dict[int, int] = field(default_factory=dict)  # conn → session (0: not yet)
    closed: set[int] = field(default_factory=set)
    passwords: dict[int, bytes] = field(default_factory=dict)
    watermarks: dict[int, list[int]] = field(default_factory=dict)
    # (what, watermark, zxid of the txn it answers) for every write reply and new session
    covered: list[tuple[str, int, int]] = field(default_factory=list)
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
            sent: dict[int, rq.Operation] = {}
            for op in action.ops:  # pipelined: fed together, drained once
                xid = self.next_xid
                self.next_xid += 1
                payload = request_frame(op, xid)
                sent[int.from_bytes(payload[:4], "big", signed=True)] = op
                self.core.receive(conn, payload, self.now)
            self._collect({conn: (self.open[conn], sent)})
        elif action.kind == "lose":
            conn = live[action.pick % len(live)]
            self.core.connection_lost(conn)
            del self.open[conn]
            self.closed.add(conn)
            self._collect({})
        else:
            self.now += action.delta_ms
            self.core.tick(self.now)
            self._collect({})

    def _handshake(self, request: rq.Connect) -> None:
        conn = self.next_conn
        self.next_conn += 1
        self.open[conn] = 0
        self.core.connection_made(conn, "127.0.0.1")
        self.core.receive(conn, connect_frame(request), self.now)
        self._collect({})

    def _collect(self, requests: dict[int, tuple[int, dict[int, rq.Operation]]]) -> None:
        """Drain one pass's txns and outputs, as the server's flush does, and note what each
        output's watermark is and what it must cover."""
        txns = self.core.take_log()
        logged = {(t.header.session_id, t.header.cxid): t.header.zxid for t in txns}
        created = {
            t.header.session_id: t.header.zxid
            for t in txns
            if t.header.type == OpCode.createSession
        }
        for out in self.core.drain():
            conn = out.conn_id
            assert conn not in self.closed, f"output on connection {conn} after its close"
            self.watermarks.setdefault(conn, []).append(out.zxid)
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
                if session_id in created:
                    self.covered.append(("new session", out.zxid, created[session_id]))
                continue
            _, xid, _, _ = _REPLY_HEADER.unpack_from(out.data)
            session_id, sent = requests.get(conn, (0, {}))
            op = sent.get(xid)
            if op is not None and (session_id, xid) in logged:
                self.covered.append((repr(op), out.zxid, logged[(session_id, xid)]))


@pytest.mark.parametrize("profile", [V3_9, V3_8], ids=["3.9", "3.8"])
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, min_size=5, max_size=60))
def test_watermarks_never_decrease_along_a_connection_and_cover_the_write_a_reply_answers(
    profile: Profile, script: list[Action]
) -> None:
    watched = Watched(profile)
    for action in script:
        watched.run(action)
    for conn, marks in watched.watermarks.items():
        assert marks == sorted(marks), f"watermarks decreased on connection {conn}: {marks}"
    for what, watermark, zxid in watched.covered:
        assert watermark >= zxid, f"{what}: watermark {watermark:#x} below its zxid {zxid:#x}"


def test_the_watched_scripts_do_reach_writes_and_new_sessions() -> None:
    """The property is not vacuous: a plain script yields write replies and sessions to check."""
    watched = Watched(V3_9)
    create = rq.Create("/a", b"", OPEN_ACL_UNSAFE, 0)
    for action in [Action("connect"), Action("batch", 0, (create, rq.GetData("/a")))]:
        watched.run(action)
    assert [what for what, _, _ in watched.covered] == ["new session", repr(create)]
    assert watched.watermarks == {1: [1, 2, 2]}
