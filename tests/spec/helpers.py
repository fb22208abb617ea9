"""Small helpers that keep the spec's tests readable.

``Server`` wraps a spec ``State`` and applies inputs with ``spec.machine.step``, checking on
every step that the state it was given is left untouched. Operation builders (``create``,
``mkdirs``...) use ZooKeeper's defaults: open ACL, persistent mode, version -1.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, TypeVar

from spec.acl import ACL, OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.events import EventType, WatchEvent
from spec.machine import step
from spec.modes import CreateMode
from spec.opcodes import OpCode
from spec.profiles import V3_8, V3_9, Profile
from spec.requests import (
    Call,
    Connect,
    ConnectResponse,
    Create,
    Disconnect,
    ErrorResult,
    Input,
    MultiResponse,
    Operation,
    Outcome,
    Reply,
    Tick,
)
from spec.stat import Stat
from spec.state import Config, State, Znode, initial_state

T = TypeVar("T")

# The settings these tests were written for: a 2 s tick and TTL nodes on. ``Config()`` is
# a stock Apache ZooKeeper (3 s tick, TTL nodes off), as tests/conformance/test_suite.py shows.
TEST_CONFIG: dict[str, Any] = {"tick_time_ms": 2000, "extended_types_enabled": True}
START_MS = Config().start_time_ms
TICK_MS: int = TEST_CONFIG["tick_time_ms"]
PROFILES = (V3_8, V3_9)
PROFILE_IDS = [p.name for p in PROFILES]
# The digest ZooKeeper stores for the auth data ``user:pass`` (probed on 3.8.0).
USER_PASS_DIGEST = "user:smGaoVKd/cQkjm7b88GyorAUz20="


def create(
    path: str,
    data: bytes | None = b"",
    mode: CreateMode | int = CreateMode.PERSISTENT,
    acl: Iterable[ACL] = OPEN_ACL_UNSAFE,
    opcode: OpCode = OpCode.create,
    ttl: int = -1,
) -> Create:
    """A create request with ZooKeeper's usual defaults."""
    return Create(path, data, tuple(acl), int(mode), opcode, ttl)


def create2(
    path: str,
    data: bytes | None = b"",
    mode: CreateMode | int = CreateMode.PERSISTENT,
    acl: Iterable[ACL] = OPEN_ACL_UNSAFE,
) -> Create:
    return create(path, data, mode, acl, OpCode.create2)


def create_container(path: str, data: bytes | None = b"") -> Create:
    return create(path, data, CreateMode.CONTAINER, opcode=OpCode.createContainer)


def create_ttl(
    path: str,
    ttl: int,
    data: bytes | None = b"",
    mode: CreateMode | int = CreateMode.PERSISTENT_WITH_TTL,
) -> Create:
    return create(path, data, mode, opcode=OpCode.createTTL, ttl=ttl)


def events_of(outcome: Outcome) -> list[tuple[int, EventType, str]]:
    """The events of an outcome without their zxids: (session, type, path)."""
    return [(e.session_id, e.type, e.path) for e in outcome.events]


def deep_snapshot(state: State) -> State:
    return copy.deepcopy(state)


class Server:
    """One spec server and the inputs applied to it so far (``TEST_CONFIG`` unless told)."""

    def __init__(self, profile: Profile = V3_9, **config: Any) -> None:
        self.state = initial_state(Config(profile=profile, **{**TEST_CONFIG, **config}))

    # --- inputs --------------------------------------------------------------------------

    def step(self, request: Input) -> Outcome:
        before = deep_snapshot(self.state)
        given = self.state
        try:
            self.state, outcome = step(given, request)
        finally:
            assert given == before, "step changed the state it was given"
        return outcome

    def connect_outcome(self, timeout_ms: int = 30_000, **fields: Any) -> Outcome:
        return self.step(Connect(timeout_ms, **fields))

    def connect(self, timeout_ms: int = 30_000, client_address: str = "127.0.0.1") -> int:
        """Open a new session; returns its id."""
        outcome = self.connect_outcome(timeout_ms, client_address=client_address)
        response = body(outcome, ConnectResponse)
        assert response.session_id != 0
        return response.session_id

    def reattach(self, session_id: int, password: bytes | None = None, **fields: Any) -> Outcome:
        if password is None:
            password = self.state.sessions[session_id].password
        fields.setdefault("timeout_ms", 30_000)
        return self.step(Connect(session_id=session_id, password=password, **fields))

    def call(self, session_id: int, op: Operation) -> Outcome:
        return self.step(Call(session_id, op))

    def ok(self, session_id: int, op: Operation) -> Outcome:
        """Call and insist on an OK reply."""
        outcome = self.call(session_id, op)
        assert outcome.reply is not None, outcome
        assert outcome.reply.err == Code.OK, outcome.reply
        return outcome

    def err(self, session_id: int, op: Operation) -> Code:
        """Call and return the reply's error code."""
        outcome = self.call(session_id, op)
        assert outcome.reply is not None, outcome
        return outcome.reply.err

    def disconnect(self, session_id: int) -> Outcome:
        return self.step(Disconnect(session_id))

    def tick_to(self, now_ms: int) -> Outcome:
        return self.step(Tick(now_ms))

    def tick(self, elapsed_ms: int) -> Outcome:
        return self.tick_to(self.state.now + elapsed_ms)

    def mkdirs(self, session_id: int, *paths: str, data: bytes | None = b"") -> None:
        for path in paths:
            self.ok(session_id, create(path, data))

    # --- looking at the state ------------------------------------------------------------

    def node(self, path: str) -> Znode:
        return self.state.nodes[path]

    def stat(self, path: str) -> Stat:
        return self.state.nodes[path].stat()

    def exists(self, path: str) -> bool:
        return path in self.state.nodes

    def children(self, path: str) -> set[str]:
        return set(self.state.nodes[path].children)

    @property
    def last_zxid(self) -> int:
        return self.state.last_zxid

    @property
    def now(self) -> int:
        return self.state.now

    def patch_node(self, path: str, **fields: Any) -> None:
        """Put a node into a state that would take too long to reach by requests."""
        self.state = self.state.clone()
        self.state.nodes[path] = replace(self.state.nodes[path], **fields)

    def watches(self, session_id: int, path: str) -> tuple[frozenset[str], frozenset[str]]:
        """The (data table, child table) watch modes a session holds on ``path``."""
        data = self.state.data_watches.get(path, {}).get(session_id, frozenset())
        child = self.state.child_watches.get(path, {}).get(session_id, frozenset())
        return data, child


def reply_of(outcome: Outcome) -> Reply:
    assert outcome.reply is not None, outcome
    return outcome.reply


def body(outcome: Outcome, kind: type[T]) -> T:
    """The body of an OK reply, checked to be of ``kind``."""
    reply = reply_of(outcome)
    assert reply.err == Code.OK, reply
    assert isinstance(reply.body, kind), reply.body
    return reply.body


def event(session_id: int, type_: EventType, path: str, zxid: int) -> WatchEvent:
    return WatchEvent(session_id, type_, path, zxid)


def result_codes(response: MultiResponse) -> list[Code]:
    """Each multi result's code: its own for an ErrorResult, OK for any other result."""
    return [r.err if isinstance(r, ErrorResult) else Code.OK for r in response.results]
