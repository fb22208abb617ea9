"""Property tests of the spec: random runs of several sessions, invariants after every step.

``SpecRun`` drives ``spec.machine.step`` with creates in every mode (sequential ones under a
few parents), deletes and setData with right, wrong and wildcard versions, multi, reads that
arm watches of every kind, addWatch, removeWatches, checkWatches, setWatches after a
reconnect, disconnects, re-attaches with the right and the wrong password, closeSession,
unknown opcodes and time passing. After every step it checks:

* numChildren equals the number of children, every child exists, every node's parent exists
  and lists it (``check_tree``);
* every ephemeral's owner is a live session and no ephemeral has children;
* pzxid and cversion move exactly when the children change, to a zxid of this step;
* sequence names never repeat under one parent over the whole run;
* zxids strictly increase over the run, a write's reply carries the next one, and none is
  above ``state.last_zxid``; reads (and watch management) take none and change no node;
* a standard watch fires at most once per arming (``check_one_shot_watches``), and only
  connected sessions are notified;
* ``step`` never changes the state it is given (a deep copy is compared), it raises
  ``InputError`` exactly for inputs no server could receive, and any other exception is a
  bug that fails the run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from spec.acl import ACL, ANYONE_ID_UNSAFE, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, Perms
from spec.errors import Code
from spec.events import EventType, WatchEvent
from spec.machine import InputError, step
from spec.modes import CreateMode, NodeKind
from spec.opcodes import OpCode
from spec.paths import ROOT, child_path, parent_path
from spec.profiles import V3_8, V3_9, Profile
from spec.requests import (
    AddAuth,
    AddWatch,
    Call,
    Check,
    CheckWatches,
    CloseSession,
    Connect,
    ConnectResponse,
    Create,
    Create2Response,
    CreateResponse,
    CreateResult,
    Delete,
    Disconnect,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    GetEphemerals,
    Input,
    Multi,
    MultiRead,
    MultiResponse,
    Operation,
    Outcome,
    Ping,
    RemoveWatches,
    SetACL,
    SetData,
    SetWatches,
    Sync,
    Tick,
    Unknown,
    WhoAmI,
)
from spec.state import Config, State, WatchMode, initial_state

PARENTS = ("/", "/a", "/b", "/a/x", "/c", "/t")
NAMES = ("a", "b", "c", "t", "x", "y", "s-")
EXTRA_PATHS = ("/nope", "/a/nope", "/a/x/y/z", "/zookeeper")
TIMEOUTS = (6000, 10_000, 20_000)
NO_READ = (ACL(Perms.ALL & ~Perms.READ, ANYONE_ID_UNSAFE),)
ACLS = (OPEN_ACL_UNSAFE, OPEN_ACL_UNSAFE, OPEN_ACL_UNSAFE, NO_READ, CREATOR_ALL_ACL)

WRITE_OPS = (Create, Delete, SetData, SetACL, Multi, CloseSession)
READ_OPS = (
    Exists,
    GetData,
    GetChildren,
    GetACL,
    GetAllChildrenNumber,
    GetEphemerals,
    Sync,
    Ping,
    WhoAmI,
    MultiRead,
    CheckWatches,
    RemoveWatches,
    AddWatch,
    SetWatches,
)

# --- invariants ---------------------------------------------------------------------------


def check_tree(state: State) -> None:
    """Invariants of one state: the tree is well formed and owned by live sessions."""
    for path, node in state.nodes.items():
        stat = node.stat()
        assert stat.numChildren == len(node.children), path
        for name in node.children:
            assert child_path(path, name) in state.nodes, (path, name)
        if path != ROOT:
            parent = parent_path(path)
            assert parent in state.nodes, path
            assert path.rsplit("/", 1)[1] in state.nodes[parent].children, path
        if node.kind is NodeKind.EPHEMERAL:
            assert node.ephemeral_owner in state.sessions, path
            assert not node.children, path
            assert stat.ephemeralOwner == node.ephemeral_owner
        else:
            assert stat.ephemeralOwner == 0
        for zxid in (node.czxid, node.mzxid, node.pzxid):
            assert zxid <= state.last_zxid
        assert node.czxid <= node.mzxid and node.czxid <= node.pzxid
    for session in state.sessions.values():
        if not session.connected:
            assert session.auth_ids == ()
    for table in (state.data_watches, state.child_watches):
        for path, watchers in table.items():
            assert watchers, path
            for session_id, modes in watchers.items():
                assert modes, (path, session_id)
                watcher = state.sessions.get(session_id)
                assert watcher is not None and watcher.connected, (path, session_id)


def persistent_sessions(state: State) -> set[int]:
    """Sessions holding a persistent or persistent recursive watch anywhere."""
    out: set[int] = set()
    for table in (state.data_watches, state.child_watches):
        for watchers in table.values():
            for session_id, modes in watchers.items():
                if modes - {WatchMode.STANDARD}:
                    out.add(session_id)
    return out


def _has_standard(state: State, table: str, path: str, session_id: int) -> bool:
    watches = state.data_watches if table == "data" else state.child_watches
    return WatchMode.STANDARD in watches.get(path, {}).get(session_id, frozenset())


def check_one_shot_watches(before: State, after: State, events: tuple[WatchEvent, ...]) -> None:
    """A standard watch fires at most once per arming.

    For a session that holds only standard watches, every notification (other than the
    zxid -1 ones setWatches re-fires) must use up a standard watch that was armed before
    the step and is no longer armed after it, and a (session, table, path) fires once.
    """
    exempt = persistent_sessions(before)
    fired: set[tuple[int, str, str]] = set()
    for event in events:
        if event.zxid == -1 or event.session_id in exempt:
            continue
        if event.type is EventType.NodeChildrenChanged:
            tables = ["child"]
        elif event.type is EventType.NodeDeleted:
            tables = [
                t
                for t in ("data", "child")
                if _has_standard(before, t, event.path, event.session_id)
            ]
        else:
            tables = ["data"]
        assert tables, event
        for table in tables:
            key = (event.session_id, table, event.path)
            assert key not in fired, f"a standard watch fired twice: {event}"
            fired.add(key)
            assert _has_standard(before, table, event.path, event.session_id), event
            assert not _has_standard(after, table, event.path, event.session_id), event


def check_step(before: State, after: State, request: Input, outcome: Outcome) -> None:
    """Invariants of one transition."""
    # zxids strictly increase, never past the state's last zxid.
    previous = before.last_zxid
    for zxid in outcome.zxids:
        assert zxid > previous, outcome.zxids
        previous = zxid
    assert after.last_zxid == (outcome.zxids[-1] if outcome.zxids else before.last_zxid)
    for event in outcome.events:
        assert event.zxid == -1 or event.zxid in outcome.zxids, event
        assert event.zxid <= after.last_zxid
        session = before.sessions.get(event.session_id)
        assert session is not None and session.connected, event
    reply = outcome.reply
    if isinstance(request, Call) and reply is not None:
        op = request.op
        if isinstance(op, WRITE_OPS):
            assert outcome.zxids == (before.last_zxid + 1,)
            assert reply.zxid == before.last_zxid + 1
        elif isinstance(op, READ_OPS):
            assert outcome.zxids == (), op
            assert reply.zxid == before.last_zxid == after.last_zxid
            assert after.nodes == before.nodes, op
        elif isinstance(op, AddAuth):
            assert reply.zxid == 0 and outcome.zxids == ()
        elif isinstance(op, Unknown) and op.opcode == OpCode.deleteContainer:
            assert (reply.zxid, reply.err, outcome.close) == (before.last_zxid + 1, -8, False)
            assert outcome.zxids == (reply.zxid,) and after.nodes == before.nodes
        elif isinstance(op, Unknown):
            assert (reply.zxid, reply.err, outcome.close) == (-1, Code.UNIMPLEMENTED, True)
    # pzxid and cversion move exactly when the children change.
    for path, old in before.nodes.items():
        new = after.nodes.get(path)
        if new is None or new.czxid != old.czxid:
            continue
        old_stat, new_stat = old.stat(), new.stat()
        cversion_moved = new_stat.cversion != old_stat.cversion
        pzxid_moved = new_stat.pzxid != old_stat.pzxid
        assert cversion_moved == pzxid_moved, path
        if new.children != old.children:
            assert cversion_moved, path
        assert new_stat.cversion - old_stat.cversion >= len(new.children ^ old.children)
        if pzxid_moved:
            assert new_stat.pzxid in outcome.zxids, path
        if new.mzxid != old.mzxid:
            assert new.mzxid in outcome.zxids and new.version != old.version, path
    check_one_shot_watches(before, after, outcome.events)


def created_paths(request: Input, outcome: Outcome) -> list[tuple[Create, str]]:
    """The creates a step performed, with the path each one got."""
    if not isinstance(request, Call) or outcome.reply is None or outcome.reply.err != Code.OK:
        return []
    op, body = request.op, outcome.reply.body
    if isinstance(op, Create) and isinstance(body, CreateResponse | Create2Response):
        return [(op, body.path)]
    if isinstance(op, Multi) and isinstance(body, MultiResponse):
        return [
            (sub, result.path)
            for sub, result in zip(op.ops, body.results, strict=True)
            if isinstance(sub, Create) and isinstance(result, CreateResult)
        ]
    return []


# --- the state machine --------------------------------------------------------------------


@dataclass
class Client:
    """What a client remembers about its session."""

    password: bytes
    last_zxid_seen: int = 0
    # Watches armed on the last connection, to hand to setWatches after a reconnect.
    data: set[str] = field(default_factory=set)
    exist: set[str] = field(default_factory=set)
    child: set[str] = field(default_factory=set)


class SpecRun(RuleBasedStateMachine):
    profile: Profile = V3_9

    def __init__(self) -> None:
        super().__init__()
        config = Config(profile=self.profile, container_check_interval_ms=3000)
        self.state: State = initial_state(config)
        self.clients: dict[int, Client] = {}
        self.sequence_names: set[tuple[str, int, str]] = set()
        self.highest_zxid = self.state.last_zxid

    # --- applying one input ----------------------------------------------------------------

    def apply(self, request: Input, *, valid: bool = True) -> Outcome | None:
        before = copy.deepcopy(self.state)
        given = self.state
        try:
            after, outcome = step(given, request)
        except InputError:
            assert given == before, "step changed its input state"
            assert not valid, f"InputError for a valid input: {request}"
            return None
        assert given == before, "step changed its input state"
        assert valid, f"no InputError for {request}"
        check_step(before, after, request, outcome)
        self.record_sequence_names(after, request, outcome)
        for zxid in outcome.zxids:  # over the whole run, not just this step
            assert zxid > self.highest_zxid
            self.highest_zxid = zxid
        self.state = after
        if isinstance(request, Call) and request.session_id in self.clients:
            client = self.clients[request.session_id]
            if outcome.reply is not None:
                client.last_zxid_seen = max(client.last_zxid_seen, outcome.reply.zxid)
        return outcome

    def record_sequence_names(self, after: State, request: Input, outcome: Outcome) -> None:
        """Sequence names never repeat under one parent (one incarnation of it)."""
        for op, path in created_paths(request, outcome):
            if not CreateMode(op.flags).is_sequential:
                continue
            parent = parent_path(path)
            if parent not in after.nodes:
                continue  # the parent went in the same multi
            key = (parent, after.nodes[parent].czxid, path[-10:])
            assert key not in self.sequence_names, f"sequence name repeated: {path}"
            self.sequence_names.add(key)

    def connected(self) -> list[int]:
        return sorted(s for s, v in self.state.sessions.items() if v.connected)

    def session(self, data: st.DataObject) -> int | None:
        connected = self.connected()
        return data.draw(st.sampled_from(connected), label="session") if connected else None

    def call(self, data: st.DataObject, op: Operation) -> tuple[int, Outcome] | None:
        sid = self.session(data)
        if sid is None:
            return None
        outcome = self.apply(Call(sid, op))
        assert outcome is not None
        return sid, outcome

    def remember_watch(self, sid: int, op: Operation, outcome: Outcome) -> None:
        """Track armed watches the way a client library does, for setWatches later."""
        client = self.clients.get(sid)
        if client is None or outcome.reply is None:
            return
        err = outcome.reply.err
        if isinstance(op, Exists) and op.watch and err in (Code.OK, Code.NONODE):
            (client.data if err == Code.OK else client.exist).add(op.path)
            # The spec must have armed it.
            assert self.state.data_watches.get(op.path, {}).get(sid)
        elif isinstance(op, GetData) and op.watch and err == Code.OK:
            client.data.add(op.path)
            assert self.state.data_watches.get(op.path, {}).get(sid)
        elif isinstance(op, GetChildren) and op.watch and err == Code.OK:
            client.child.add(op.path)
            assert self.state.child_watches.get(op.path, {}).get(sid)

    # --- strategies over the current state --------------------------------------------------

    def any_path(self, data: st.DataObject) -> str:
        paths = sorted(set(self.state.nodes) | set(EXTRA_PATHS))
        return data.draw(st.sampled_from(paths), label="path")

    def version(self, data: st.DataObject, path: str) -> int:
        node = self.state.nodes.get(path)
        current = node.version if node else 0
        return data.draw(st.sampled_from((-1, -1, current, current + 1)), label="version")

    def create_op(self, data: st.DataObject) -> Create:
        parent = data.draw(st.sampled_from(PARENTS), label="parent")
        name = data.draw(st.sampled_from(NAMES), label="name")
        mode = data.draw(st.sampled_from(list(CreateMode)), label="mode")
        if mode.is_container:
            opcode = OpCode.createContainer
        elif mode.is_ttl:
            opcode = OpCode.createTTL
        else:
            opcode = data.draw(st.sampled_from((OpCode.create, OpCode.create2)), label="opcode")
        ttl = data.draw(st.sampled_from((1, 2000, 10_000)), label="ttl") if mode.is_ttl else -1
        acl = data.draw(st.sampled_from(ACLS), label="acl")
        payload = data.draw(st.sampled_from((b"", b"x", None)), label="data")
        return Create(child_path(parent, name), payload, acl, int(mode), opcode, ttl)

    def write_sub_op(self, data: st.DataObject) -> Operation:
        kind = data.draw(st.sampled_from(("create", "delete", "set", "check")), label="kind")
        if kind == "create":
            return self.create_op(data)
        path = self.any_path(data)
        if kind == "delete":
            return Delete(path, self.version(data, path))
        if kind == "set":
            return SetData(path, b"m", self.version(data, path))
        return Check(path, self.version(data, path))

    # --- sessions ---------------------------------------------------------------------------

    @initialize()
    def first_sessions_and_parents(self) -> None:
        self.connect_new(20_000)
        self.connect_new(10_000)
        sid = self.connected()[0]
        for path in ("/a", "/b", "/a/x"):
            self.apply(Call(sid, Create(path, b"", OPEN_ACL_UNSAFE, 0)))

    def connect_new(self, timeout: int) -> None:
        outcome = self.apply(Connect(timeout))
        assert outcome is not None and outcome.reply is not None
        body = outcome.reply.body
        assert isinstance(body, ConnectResponse)
        assert body.session_id not in self.clients
        self.clients[body.session_id] = Client(body.password, outcome.reply.zxid)

    def reattach(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.clients)), label="session")
        right_password = data.draw(st.sampled_from((True, True, False)), label="right password")
        from_the_future = data.draw(st.sampled_from((False, False, True)), label="future")
        client = self.clients[sid]
        password = client.password if right_password else bytes(16)
        seen = self.state.last_zxid + 1 if from_the_future else client.last_zxid_seen
        alive = sid in self.state.sessions
        was_connected = alive and self.state.sessions[sid].connected
        outcome = self.apply(Connect(6000, sid, password, last_zxid_seen=seen))
        assert outcome is not None
        if from_the_future:
            assert outcome.reply is None and outcome.close
            assert alive == (sid in self.state.sessions)
            if alive:
                assert self.state.sessions[sid].connected == was_connected
            return
        assert outcome.reply is not None
        body = outcome.reply.body
        assert isinstance(body, ConnectResponse)
        if alive and right_password:
            assert body == ConnectResponse(6000, sid, client.password)
            assert self.state.sessions[sid].connected and not outcome.close
        else:
            assert body == ConnectResponse(0, 0, bytes(16)) and outcome.close
            if alive:  # a wrong password kills the live connection, not the session
                assert not self.state.sessions[sid].connected

    def set_watches_after_reconnect(self, data: st.DataObject) -> None:
        sid = self.session(data)
        if sid is None:
            return
        client = self.clients[sid]
        request = SetWatches(
            client.last_zxid_seen,
            data=tuple(sorted(client.data)),
            exist=tuple(sorted(client.exist)),
            child=tuple(sorted(client.child)),
        )
        outcome = self.apply(Call(sid, request))
        assert outcome is not None and outcome.reply is not None
        assert outcome.reply.err == Code.OK
        assert all(e.zxid == -1 and e.session_id == sid for e in outcome.events)

    def disconnect(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.clients)), label="session")
        outcome = self.apply(Disconnect(sid), valid=sid in self.state.sessions)
        if outcome is not None:
            assert not self.state.sessions[sid].connected
            assert outcome.reply is None and outcome.events == ()

    def close_session(self, data: st.DataObject) -> None:
        done = self.call(data, CloseSession())
        if done is not None:
            sid, outcome = done
            assert outcome.close and sid not in self.state.sessions

    def call_without_a_connection(self, data: st.DataObject) -> None:
        """Requests on a session with no connection are not inputs a server can receive."""
        connected = self.connected()
        unconnected = sorted(s for s in self.clients if s not in connected)
        if not unconnected:
            return
        sid = data.draw(st.sampled_from(unconnected), label="session")
        choices: tuple[Operation, ...] = (Ping(), GetData("/"), Sync("/"))
        op = data.draw(st.sampled_from(choices), label="op")
        self.apply(Call(sid, op), valid=False)

    @rule(data=st.data())
    def session_event(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(
                (
                    "connect",
                    "reattach",
                    "reattach",
                    "set_watches",
                    "disconnect",
                    "disconnect",
                    "close",
                    "no_connection",
                    "ping",
                    "ping",
                    "unknown",
                    "auth",
                )
            ),
            label="session event",
        )
        if kind == "connect" and len(self.clients) < 6:
            self.connect_new(data.draw(st.sampled_from(TIMEOUTS), label="timeout"))
        elif kind == "reattach":
            self.reattach(data)
        elif kind == "set_watches":
            self.set_watches_after_reconnect(data)
        elif kind == "disconnect":
            self.disconnect(data)
        elif kind == "close":
            self.close_session(data)
        elif kind == "no_connection":
            self.call_without_a_connection(data)
        elif kind == "ping":
            self.call(data, Ping())
        elif kind == "unknown":
            self.call(data, Unknown(data.draw(st.sampled_from((10, 20, 55)), label="opcode")))
        elif kind == "auth":
            who = data.draw(st.sampled_from((b"alice:a", b"bob:b")), label="who")
            self.call(data, AddAuth("digest", who))

    @rule(elapsed=st.one_of(st.integers(0, 4000), st.sampled_from((7000, 25_000))))
    def tick(self, elapsed: int) -> None:
        outcome = self.apply(Tick(self.state.now + elapsed))
        assert outcome is not None and outcome.reply is None

    # --- writes -----------------------------------------------------------------------------

    def one_write(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(("create", "create", "create", "delete", "delete", "set", "multi")),
            label="write",
        )
        if kind == "create":
            self.call(data, self.create_op(data))
        elif kind == "delete":
            path = self.any_path(data)
            self.call(data, Delete(path, self.version(data, path)))
        elif kind == "set":
            path = self.any_path(data)
            self.call(data, SetData(path, b"d", self.version(data, path)))
        else:
            ops = [self.write_sub_op(data) for _ in range(data.draw(st.integers(0, 4)))]
            if data.draw(st.integers(0, 9), label="malformed") == 0:
                ops.append(GetData("/"))
            self.call(data, Multi(tuple(ops)))

    @rule(data=st.data())
    def write(self, data: st.DataObject) -> None:
        self.one_write(data)

    @rule(data=st.data())
    def another_write(self, data: st.DataObject) -> None:
        self.one_write(data)

    # --- reads and watches ------------------------------------------------------------------

    @rule(data=st.data(), kind=st.sampled_from(("exists", "get", "children", "children2")))
    def watching_read(self, data: st.DataObject, kind: str) -> None:
        self.one_watching_read(data, kind, self.any_path(data))

    @rule(data=st.data(), kind=st.sampled_from(("exists", "get", "children")))
    def watching_read_of_a_parent(self, data: st.DataObject, kind: str) -> None:
        self.one_watching_read(data, kind, data.draw(st.sampled_from(PARENTS), label="path"))

    def one_watching_read(self, data: st.DataObject, kind: str, path: str) -> None:
        op: Operation
        if kind == "exists":
            op = Exists(path, watch=True)
        elif kind == "get":
            op = GetData(path, watch=True)
        else:
            op = GetChildren(path, watch=True, with_stat=kind == "children2")
        done = self.call(data, op)
        if done is not None:
            self.remember_watch(done[0], op, done[1])

    @rule(data=st.data())
    def other_request(self, data: st.DataObject) -> None:
        path = self.any_path(data)
        kind = data.draw(
            st.sampled_from(("read", "add_watch", "add_watch", "remove", "check")), label="kind"
        )
        if kind == "add_watch":
            mode = data.draw(st.sampled_from((0, 1, 0, 1, 7)), label="mode")
            self.call(data, AddWatch(path, mode))
            return
        if kind in ("remove", "check"):
            type_ = data.draw(st.integers(0, 6), label="type")
            op: Operation = (
                RemoveWatches(path, type_) if kind == "remove" else CheckWatches(path, type_)
            )
            done = self.call(data, op)
            if done is not None and done[1].reply is not None:
                assert done[1].events == ()
                if done[1].reply.err == Code.OK and kind == "check":
                    assert path in self.state.data_watches or path in self.state.child_watches
            return
        reads: tuple[Operation, ...] = (
            GetACL(path),
            GetAllChildrenNumber(path),
            GetEphemerals(path[:3]),
            Sync(path),
            WhoAmI(),
            MultiRead((GetData(path), GetChildren(path))),
        )
        op = data.draw(st.sampled_from(reads), label="read")
        self.call(data, op)

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def tree_is_well_formed(self) -> None:
        check_tree(self.state)

    @invariant()
    def every_session_is_known(self) -> None:
        assert set(self.state.sessions) <= set(self.clients)

    @invariant()
    def last_zxid_is_the_highest_zxid_used(self) -> None:
        assert self.state.last_zxid == self.highest_zxid


class SpecRun38(SpecRun):
    profile = V3_8


RUN_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestInvariantsHoldInRandomRuns39 = SpecRun.TestCase
TestInvariantsHoldInRandomRuns39.settings = RUN_SETTINGS
TestInvariantsHoldInRandomRuns38 = SpecRun38.TestCase
TestInvariantsHoldInRandomRuns38.settings = settings(RUN_SETTINGS, max_examples=50)


# --- arbitrary inputs ---------------------------------------------------------------------

SESSION_IDS = st.sampled_from((0, 1, 0x8BCFE568000000, 0x8BCFE568000001, 0x8BCFE568000002))
ANY_OP: st.SearchStrategy[Operation] = st.one_of(
    st.builds(Exists, st.sampled_from(("/", "/a", "", "a", "/a/")), st.booleans()),
    st.builds(GetData, st.sampled_from(("/", "/a", "/zookeeper/config")), st.booleans()),
    st.builds(
        Create,
        st.sampled_from(("/a", "/a/b", "/", "", "/a/", "/zookeeper/q")),
        st.sampled_from((b"", None, b"x" * 10)),
        st.sampled_from(((), OPEN_ACL_UNSAFE, CREATOR_ALL_ACL, NO_READ)),
        st.integers(-1, 8),
        st.sampled_from(
            sorted({OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL})
        ),
        st.sampled_from((-1, 0, 1, 2**40)),
    ),
    st.builds(Delete, st.sampled_from(("/a", "/a/b", "/zookeeper", "a")), st.integers(-2, 2)),
    st.builds(SetData, st.sampled_from(("/a", "/", "")), st.just(b"x"), st.integers(-2, 2)),
    st.builds(
        SetACL,
        st.sampled_from(("/a", "/")),
        st.sampled_from(((), OPEN_ACL_UNSAFE)),
        st.integers(-1, 1),
    ),
    st.builds(AddWatch, st.sampled_from(("/", "/a")), st.integers(-1, 2)),
    st.builds(RemoveWatches, st.sampled_from(("/", "/a")), st.integers(0, 6)),
    st.builds(
        AddAuth, st.sampled_from(("digest", "ip", "bogus")), st.sampled_from((b"u:p", b"\xff"))
    ),
    st.builds(Unknown, st.integers(-20, 200)),
    st.builds(Check, st.sampled_from(("/a", "/")), st.integers(-1, 1)),
    st.just(Ping()),
    st.just(CloseSession()),
    st.just(Multi((Create("/m", b"", OPEN_ACL_UNSAFE, 0), Delete("/m")))),
)
ANY_INPUT: st.SearchStrategy[Input] = st.one_of(
    st.builds(
        Connect,
        st.integers(-1, 50_000),
        SESSION_IDS,
        st.sampled_from((bytes(16), b"x")),
        st.integers(0, 5),
    ),
    st.builds(Call, SESSION_IDS, ANY_OP),
    st.builds(Disconnect, SESSION_IDS),
    st.builds(Tick, st.integers(1_700_000_000_000 - 10, 1_700_000_000_000 + 50_000)),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANY_INPUT, max_size=30), st.sampled_from((V3_8, V3_9)))
def test_any_input_sequence_only_ever_raises_input_error(
    inputs: list[Input], profile: Profile
) -> None:
    """Whatever arrives, step either answers or raises InputError, and never mutates."""
    state = initial_state(Config(profile=profile, container_check_interval_ms=5000))
    for request in inputs:
        snapshot = copy.deepcopy(state)
        try:
            after, outcome = step(state, request)
        except InputError:
            assert state == snapshot
            continue
        assert state == snapshot
        check_step(state, after, request, outcome)
        check_tree(after)
        state = after
