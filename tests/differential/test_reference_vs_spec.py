"""The reference core and the spec agree on every reply, event and tree.

Random request sequences of several sessions (every operation, every create mode, watches of
every kind, auth, reconnects with good and bad passwords, closes, time passing) run through
``spec.machine.step`` and ``reference.core.ZooKeeperCore`` side by side. After every input the
frames each connection received must be byte-identical, the same connections must be closed,
and the trees, sessions and last zxids must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from reference.core import ZooKeeperCore, settle
from reference.txn import Txn
from spec import requests as rq
from spec.acl import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Perms
from spec.machine import step
from spec.opcodes import OpCode
from spec.profiles import V3_8, V3_9, Profile
from spec.state import Config, State, initial_state
from tests.differential.wire import connect_frame, event_frame, reply_frame, request_frame

PATHS = ["/a", "/a", "/a/b", "/a/b/c", "/c", "/c", "/c/d", "/a/n-", "/c/", "/"]
ODD_PATHS = ["/zookeeper", "/zookeeper/config", "", "/x//y", "a", "/a/./b", "/\u00e9"]
DATA = [None, b"", b"v1", b"v2"]
ACLS: list[tuple[ACL, ...] | None] = [
    OPEN_ACL_UNSAFE,
    OPEN_ACL_UNSAFE,
    OPEN_ACL_UNSAFE,
    OPEN_ACL_UNSAFE,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    CREATOR_ALL_ACL,
    (ACL(Perms.ALL, Id("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20=")),),
    (ACL(Perms.READ | Perms.CREATE | Perms.DELETE, Id("ip", "127.0.0.0/8")),),
    (ACL(Perms.ALL, Id("world", "bob")),),
    (),
    None,
    # Null Id fields: kazoo's CREATOR_ALL_ACL, and the ones Apache fails on (spec.acl).
    (ACL(Perms.ALL, Id("auth", None)),),
    (ACL(Perms.ALL, Id("world", None)),),
    (ACL(Perms.ALL, Id(None, "anyone")),),
    (ACL(Perms.ALL, Id("digest", None)),),
    (ACL(Perms.ALL, Id("foo", None)),),
    (ACL(Perms.READ, Id("world", "anyone")), ACL(Perms.READ, Id(None, None))),
    (ACL(Perms.ALL, Id("auth", None)), ACL(Perms.ALL, Id("auth", None))),
]
VERSIONS = [-1, -1, 0, 1, 2]
CREATE_OPCODES = [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL]

paths = st.one_of(st.sampled_from(PATHS), st.sampled_from(PATHS), st.sampled_from(ODD_PATHS))
versions = st.sampled_from(VERSIONS)


@st.composite
def creates(draw: st.DrawFn) -> rq.Create:
    opcode = draw(st.sampled_from(CREATE_OPCODES + [OpCode.create, OpCode.create2] * 2))
    flags = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7]))
    if opcode == OpCode.createTTL and draw(st.booleans()):
        flags = draw(st.sampled_from([5, 6]))
    return rq.Create(
        draw(paths),
        draw(st.sampled_from(DATA)),
        draw(st.sampled_from(ACLS)),
        flags,
        opcode,
        draw(st.sampled_from([-1, 0, 150, 150, 1000])) if opcode == OpCode.createTTL else -1,
    )


writes_in_multi = st.one_of(
    creates(),
    st.builds(rq.Delete, paths, versions),
    st.builds(rq.SetData, paths, st.sampled_from(DATA), versions),
    st.builds(rq.Check, paths, versions),
)
reads_in_multi = st.one_of(
    st.builds(rq.GetData, paths, st.just(False)),
    st.builds(rq.GetChildren, paths, st.just(False)),
)

watching_reads = st.one_of(
    st.builds(rq.Exists, paths, st.just(True)),
    st.builds(rq.GetData, paths, st.just(True)),
    st.builds(rq.GetChildren, paths, st.just(True), st.booleans()),
    st.builds(rq.AddWatch, paths, st.sampled_from([0, 1])),
)

operations: st.SearchStrategy[rq.Operation] = st.one_of(
    creates(),
    creates(),
    st.builds(rq.Delete, paths, versions),
    st.builds(rq.SetData, paths, st.sampled_from(DATA), versions),
    st.builds(rq.Exists, paths, st.booleans()),
    st.builds(rq.GetData, paths, st.booleans()),
    st.builds(rq.GetChildren, paths, st.booleans(), st.booleans()),
    st.builds(rq.GetACL, paths),
    st.builds(rq.SetACL, paths, st.sampled_from(ACLS), versions),
    st.builds(rq.Multi, st.lists(writes_in_multi, max_size=4).map(tuple)),
    st.builds(
        rq.Multi, st.lists(st.one_of(writes_in_multi, reads_in_multi), max_size=3).map(tuple)
    ),
    st.builds(rq.MultiRead, st.lists(reads_in_multi, min_size=1, max_size=3).map(tuple)),
    st.builds(rq.Sync, paths),
    st.just(rq.Ping()),
    st.just(rq.WhoAmI()),
    st.builds(
        rq.AddAuth,
        st.sampled_from(["digest", "digest", "ip", "foo", None]),
        st.sampled_from([b"user:pass", b"other:secret", None]),
    ),
    st.builds(rq.AddWatch, paths, st.sampled_from([0, 1, 1, 2])),
    st.builds(rq.RemoveWatches, paths, st.integers(1, 6)),
    st.builds(rq.CheckWatches, paths, st.integers(1, 6)),
    st.builds(rq.GetEphemerals, st.sampled_from(["", "/", "/a", "/c/d"])),
    st.builds(rq.GetAllChildrenNumber, paths),
    st.just(rq.CloseSession()),
    st.just(rq.Reconfig(None, None, None, -1)),
    st.sampled_from([rq.Unknown(10), rq.Unknown(OpCode.deleteContainer), rq.Check("/a", -1)]),
)


# Steps run per profile, reported at the end of the session (tests/differential/conftest.py).
STEPS: dict[str, int] = {}


@dataclass(frozen=True)
class Action:
    kind: str  # connect, reattach, disconnect, call, setwatches, tick
    pick: int = 0
    timeout_ms: int = 1000
    good_password: bool = True
    op: rq.Operation | None = None
    delta_ms: int = 0
    relative: int = 0
    watch_paths: tuple[tuple[str, ...], ...] = ()


actions = st.one_of(
    st.builds(Action, st.just("connect"), timeout_ms=st.sampled_from([0, 300, 1000, 5000])),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=creates()),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=creates()),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=writes_in_multi),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=writes_in_multi),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=watching_reads),
    st.builds(
        Action,
        st.just("reattach"),
        st.integers(0, 5),
        st.sampled_from([300, 1000]),
        st.booleans(),
    ),
    st.builds(Action, st.just("disconnect"), st.integers(0, 5)),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=operations),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=operations),
    st.builds(Action, st.just("call"), st.integers(0, 5), op=operations),
    # Not in ``operations``: conformance clients do not send SASL tokens.
    st.builds(
        Action,
        st.just("call"),
        st.integers(0, 5),
        op=st.builds(rq.Sasl, st.sampled_from([b"token", b"", None])),
    ),
    st.builds(
        Action,
        st.just("setwatches"),
        st.integers(0, 5),
        relative=st.integers(0, 40),
        watch_paths=st.lists(st.lists(paths, max_size=2).map(tuple), min_size=5, max_size=5).map(
            tuple
        ),
    ),
    st.builds(
        Action, st.just("tick"), delta_ms=st.sampled_from([0, 10, 50, 90, 120, 230, 310, 400, 1500])
    ),
    st.builds(Action, st.just("existing"), st.integers(0, 30), relative=st.integers(0, 4)),
    st.builds(Action, st.just("existing"), st.integers(0, 30), relative=st.integers(0, 4)),
)


@dataclass
class Pair:
    """The spec and the reference core, driven in lockstep."""

    profile: Profile
    state: State = field(init=False)
    core: ZooKeeperCore = field(init=False)
    conn_of: dict[int, int] = field(default_factory=dict)
    known: dict[int, bytes] = field(default_factory=dict)
    next_conn: int = 1
    next_xid: int = 1
    # Every txn the core asked to persist, in order (the log a driver would write).
    persisted: list[Txn] = field(default_factory=list)

    def take_log(self) -> list[Txn]:
        out, self.persisted = self.persisted, []
        return out

    def __post_init__(self) -> None:
        config = Config(
            tick_time_ms=100,
            min_session_timeout_ms=200,
            max_session_timeout_ms=2000,
            container_check_interval_ms=500,
            extended_types_enabled=True,  # TTL nodes (off by default, as in Apache ZooKeeper)
            profile=self.profile,
        )
        self.state = initial_state(config)
        self.core = ZooKeeperCore(config, config.start_time_ms)

    # --- helpers -------------------------------------------------------------------------

    def connected(self) -> list[int]:
        return sorted(s for s, v in self.state.sessions.items() if v.connected)

    def _outputs(self) -> tuple[dict[int, list[bytes]], set[int]]:
        frames: dict[int, list[bytes]] = {}
        closed: set[int] = set()
        clients, txns = settle(self.core)
        self.persisted.extend(txns)
        for out in clients:
            assert out.conn_id not in closed, "output after close"
            if out.close:
                closed.add(out.conn_id)
            else:
                assert out.data is not None
                frames.setdefault(out.conn_id, []).append(out.data)
        return frames, closed

    def _expected_events(self, outcome: rq.Outcome) -> dict[int, list[bytes]]:
        expected: dict[int, list[bytes]] = {}
        for watch_event in outcome.events:
            conn = self.conn_of[watch_event.session_id]
            expected.setdefault(conn, []).append(event_frame(watch_event, self.profile))
        return expected

    def _forget_dead_connections(self) -> set[int]:
        gone = set()
        for session_id, conn in list(self.conn_of.items()):
            session = self.state.sessions.get(session_id)
            if session is None or not session.connected:
                gone.add(conn)
                del self.conn_of[session_id]
        return gone

    # --- one action ----------------------------------------------------------------------

    def run(self, action: Action) -> None:
        live = self.connected()
        if action.kind == "existing":
            action = self._on_existing(action)
        if action.kind in ("call", "disconnect", "setwatches") and not live:
            action = Action("connect")
        if action.kind == "reattach" and not self.known:
            action = Action("connect")
        if action.kind == "connect":
            self._connect(rq.Connect(action.timeout_ms))
        elif action.kind == "reattach":
            session_id = sorted(self.known)[action.pick % len(self.known)]
            password = self.known[session_id] if action.good_password else bytes(16)
            self._connect(rq.Connect(action.timeout_ms, session_id, password))
        elif action.kind == "disconnect":
            session_id = live[action.pick % len(live)]
            self.state, _ = step(self.state, rq.Disconnect(session_id))
            self.core.connection_lost(self.conn_of.pop(session_id))
            assert self._outputs() == ({}, set())
        elif action.kind == "call":
            assert action.op is not None
            self._call(live[action.pick % len(live)], action.op)
        elif action.kind == "setwatches":
            lists = action.watch_paths
            op = rq.SetWatches(min(action.relative, self.state.last_zxid), *lists)
            self._call(live[action.pick % len(live)], op)
        else:
            self._tick(self.state.now + action.delta_ms)
        self.compare_state()

    def _on_existing(self, action: Action) -> Action:
        """A write aimed at a node that exists now (random paths mostly miss)."""
        paths = sorted(p for p in self.state.nodes if not p.startswith("/zookeeper") and p != "/")
        if not paths:
            return Action("call", action.pick, op=rq.Create("/a", b"", OPEN_ACL_UNSAFE, 0))
        path = paths[action.pick % len(paths)]
        node = self.state.nodes[path]
        ops: list[rq.Operation] = [
            rq.Delete(path, -1),
            rq.Delete(path, node.version),
            rq.SetData(path, b"x", node.version),
            rq.Create(path + "/k", None, OPEN_ACL_UNSAFE, 3),
            rq.Create(path + "/c", None, OPEN_ACL_UNSAFE, 4, OpCode.createContainer),
        ]
        return Action("call", action.pick, op=ops[action.relative])

    def _connect(self, request: rq.Connect) -> None:
        conn = self.next_conn
        self.next_conn += 1
        old_conn = self.conn_of.get(request.session_id)
        self.state, outcome = step(self.state, request)
        self.core.connection_made(conn, request.client_address)
        self.core.receive(conn, connect_frame(request), self.state.now)
        frames, closed = self._outputs()
        assert outcome.reply is not None
        assert frames == {conn: [reply_frame(outcome.reply, 0)]}
        expected_closed = {conn} if outcome.close else set()
        if old_conn is not None:
            expected_closed.add(old_conn)
            del self.conn_of[request.session_id]
        assert closed == expected_closed
        body = outcome.reply.body
        if not outcome.close and isinstance(body, rq.ConnectResponse):
            self.conn_of[body.session_id] = conn
            self.known[body.session_id] = body.password

    def _call(self, session_id: int, op: rq.Operation) -> None:
        conn = self.conn_of[session_id]
        xid = self.next_xid
        self.next_xid += 1
        self.state, outcome = step(self.state, rq.Call(session_id, op))
        if outcome.reply is not None and currently_in_test_context():
            event(f"{type(op).__name__} -> {outcome.reply.err.name}")
        expected = self._expected_events(outcome)
        if outcome.reply is not None:
            reply_xid = int.from_bytes(request_frame(op, xid)[:4], "big", signed=True)
            expected.setdefault(conn, []).append(reply_frame(outcome.reply, reply_xid))
        self.core.receive(conn, request_frame(op, xid), self.state.now)
        frames, closed = self._outputs()
        assert frames == expected, f"{op!r}"
        assert closed == self._forget_dead_connections(), f"{op!r}"

    def _tick(self, now_ms: int) -> None:
        self.state, outcome = step(self.state, rq.Tick(now_ms))
        expected = self._expected_events(outcome)
        frames: dict[int, list[bytes]] = {}
        closed: set[int] = set()
        while True:
            more = self.core.tick(now_ms)
            some_frames, some_closed = self._outputs()
            for conn, conn_frames in some_frames.items():
                frames.setdefault(conn, []).extend(conn_frames)
            closed |= some_closed
            if not more:
                break
        assert frames == expected
        assert closed == self._forget_dead_connections()

    def compare_state(self) -> None:
        core, state = self.core, self.state
        assert core.last_zxid == state.last_zxid
        assert set(core.tree.nodes) == set(state.nodes)
        for path, node in state.nodes.items():
            mine = core.tree.nodes[path]
            assert mine.stat() == node.stat(), path
            assert mine.data == node.data, path
            assert mine.acl == node.acl, path
            assert mine.children == set(node.children), path
        assert set(core.sessions) == set(state.sessions)


@pytest.mark.parametrize("profile", [V3_9, V3_8], ids=["3.9", "3.8"])
@settings(
    max_examples=600,
    stateful_step_count=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=st.lists(actions, min_size=10, max_size=80))
def test_reference_core_agrees_with_spec_on_random_sessions(
    profile: Profile, script: list[Action]
) -> None:
    pair = Pair(profile)
    for action in script:
        pair.run(action)
    STEPS[profile.name] = STEPS.get(profile.name, 0) + len(script)
