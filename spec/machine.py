"""Chapter: the transition function — one input in, one outcome out.

``step(state, input) -> (state', outcome)`` is the whole of ZooKeeper's client-visible
behaviour for one server, applied one input at a time. It never changes the state it is
given. Inputs that no real server could receive (a request on a session that has no
connection, time running backwards) raise ``InputError``; every request a client can send
gets a defined answer, an unimplemented opcode included.

Rules
-----
* Before anything else, a request whose frame would exceed ``jute.maxbuffer`` closes the
  connection with no reply (``spec.limits``).
* Every request and ping from a connection touches its session (``spec.sessions``).
* Writes (create in every mode, delete, setData, setACL, multi, reconfig, closeSession) take
  the next zxid before they are checked, so a failed write uses one up; the reply header
  carries it. Reads, sync, pings, watch management, addAuth and whoAmI take none; their
  reply header carries the last zxid (addAuth: 0).
* A standalone ``check`` and any opcode the server does not serve (``Request.isValid``: 0,
  -1, 10, anything unlisted) are answered UNIMPLEMENTED with zxid -1, and the connection is
  closed (``UnimplementedRequestProcessor``; ZOOKEEPER-2623 for check).
* deleteContainer (20) sent by a client is a write like any other and fails BADARGUMENTS:
  the server reads the whole frame, header included, as the path, and the header's zero
  bytes are NUL characters (``PrepRequestProcessor.pRequest2Txn``).
* addAuth with a null or unknown scheme, or digest credentials that are null, is answered
  AUTHFAILED and the connection closed; the ``ip`` scheme ignores the credentials.
* A SASL token is answered OK with a null token and zxid 0, the connection kept: the
  server runs no SASL (``ZooKeeperServer.processSasl`` with no SASL server); a null token
  makes it fail and close the connection without a reply. A server that runs SASL
  (``Config.sasl``) is not modelled here: its mechanism draws nonces (``reference.sasl``);
  what a completed login adds is ``spec.acl.sasl_ids`` (DIVERGENCES 4).
* closeSession is answered OK after the session's ephemerals are gone; then the connection
  is closed.
* A malformed addWatch mode or removeWatches/checkWatches type is MARSHALLINGERROR; so is,
  in 3.8, checkWatches of a path without ``/`` (``spec.profiles``).
* reconfig is RECONFIGDISABLED unless enabled; a standalone server cannot reconfigure
  (UNIMPLEMENTED). Either way it takes a zxid.

Source: ``ZooKeeperServer.processPacket``/``processConnectRequest``,
``PrepRequestProcessor``, ``FinalRequestProcessor``, ``UnimplementedRequestProcessor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from spec import tree
from spec.acl import Id, generate_digest, held_id_order, user_name
from spec.ensemble import connect_refused
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.events import AddWatchMode, WatcherType, WatchEvent
from spec.limits import frame_length
from spec.modes import CREATE_OPCODES
from spec.multi import MULTI_READ_OPS, is_well_formed, multi, multi_read
from spec.opcodes import OpCode
from spec.reaping import advance
from spec.requests import (
    AddAuth,
    AddWatch,
    AddWatchResponse,
    Call,
    Check,
    CheckWatches,
    CloseSession,
    Connect,
    ConnectResponse,
    Create,
    Create2Response,
    CreateResponse,
    Delete,
    Disconnect,
    Empty,
    Exists,
    GetACL,
    GetACLResponse,
    GetAllChildrenNumber,
    GetAllChildrenNumberResponse,
    GetChildren,
    GetChildren2Response,
    GetChildrenResponse,
    GetData,
    GetDataResponse,
    GetEphemerals,
    GetEphemeralsResponse,
    Input,
    Multi,
    MultiRead,
    Operation,
    Outcome,
    Ping,
    Reconfig,
    RemoveWatches,
    Reply,
    Sasl,
    SaslResponse,
    SetACL,
    SetData,
    SetWatches,
    StatResponse,
    Sync,
    SyncResponse,
    Tick,
    Unknown,
    WhoAmI,
    WhoAmIResponse,
)
from spec.sessions import (
    close_connection,
    kill_session,
    negotiate_timeout,
    open_session,
    reattach,
    touch,
)
from spec.state import Session, State, WatchMode
from spec.watches import (
    add_recursive_watch,
    add_watch,
    contains_watch,
    remove_watch,
    set_watches,
)


class InputError(ValueError):
    """An input no real server could receive; the caller of ``step`` made a mistake."""


class _Close(Exception):
    """Raised by a handler whose reply is followed by closing the connection."""

    def __init__(self, reply: Reply | None) -> None:
        self.reply = reply


# A handler runs one operation of a connected session; it appends events and returns the
# reply. It may replace ``ctx.state`` (multi swaps in its scratch copy).
class _Context:
    __slots__ = ("events", "session", "state")

    def __init__(self, state: State, session: Session) -> None:
        self.state = state
        self.session = session
        self.events: list[WatchEvent] = []


Handler = Callable[[_Context, Any], Reply]


def _read(ctx: _Context, run: Callable[[], Any]) -> Reply:
    """Run a read: its reply header carries the last zxid."""
    try:
        body = run()
    except ZooKeeperError as error:
        return Reply(ctx.state.last_zxid, error.code)
    return Reply(ctx.state.last_zxid, Code.OK, body)


def _write(ctx: _Context, run: Callable[[int], Any]) -> Reply:
    """Run a write: it takes a zxid first, and keeps it even when it fails."""
    zxid = ctx.state.next_zxid()
    try:
        body = run(zxid)
    except ZooKeeperError as error:
        return Reply(zxid, error.code)
    return Reply(zxid, Code.OK, body)


def _create(ctx: _Context, op: Create) -> Reply:
    if op.opcode not in CREATE_OPCODES:
        raise InputError(f"Create with opcode {op.opcode}")

    def run(zxid: int) -> CreateResponse | Create2Response:
        applied = tree.create(ctx.state, ctx.session, op, op.opcode, zxid, ctx.events)
        if op.opcode == OpCode.create:
            return CreateResponse(applied.path)
        assert applied.stat is not None
        return Create2Response(applied.path, applied.stat)

    return _write(ctx, run)


def _delete(ctx: _Context, op: Delete) -> Reply:
    def run(zxid: int) -> Empty:
        tree.delete(ctx.state, ctx.session, op, zxid, ctx.events)
        return Empty()

    return _write(ctx, run)


def _set_data(ctx: _Context, op: SetData) -> Reply:
    def run(zxid: int) -> StatResponse:
        applied = tree.set_data(ctx.state, ctx.session, op, zxid, ctx.events)
        assert applied.stat is not None
        return StatResponse(applied.stat)

    return _write(ctx, run)


def _set_acl(ctx: _Context, op: SetACL) -> Reply:
    def run(_zxid: int) -> StatResponse:
        applied = tree.set_acl(ctx.state, ctx.session, op)
        assert applied.stat is not None
        return StatResponse(applied.stat)

    return _write(ctx, run)


def _multi(ctx: _Context, op: Multi) -> Reply:
    zxid = ctx.state.next_zxid()
    if not is_well_formed(op.ops, ctx.state.config.profile):
        return Reply(zxid, Code.MARSHALLINGERROR)
    try:
        ctx.state, response, events = multi(ctx.state, ctx.session, op.ops, zxid)
    except MalformedRequest:
        return Reply(zxid, Code.MARSHALLINGERROR)
    ctx.events.extend(events)
    return Reply(zxid, Code.OK, response)


def _multi_read(ctx: _Context, op: MultiRead) -> Reply:
    if not all(isinstance(o, MULTI_READ_OPS) for o in op.ops):
        return Reply(ctx.state.last_zxid, Code.MARSHALLINGERROR)
    return Reply(ctx.state.last_zxid, Code.OK, multi_read(ctx.state, ctx.session, op.ops))


def _exists(ctx: _Context, op: Exists) -> Reply:
    return _read(ctx, lambda: StatResponse(tree.exists(ctx.state, ctx.session, op)))


def _get_data(ctx: _Context, op: GetData) -> Reply:
    return _read(ctx, lambda: GetDataResponse(*tree.get_data(ctx.state, ctx.session, op)))


def _get_children(ctx: _Context, op: GetChildren) -> Reply:
    def run() -> GetChildrenResponse | GetChildren2Response:
        children, stat = tree.get_children(ctx.state, ctx.session, op)
        if op.with_stat:
            return GetChildren2Response(children, stat)
        return GetChildrenResponse(children)

    return _read(ctx, run)


def _get_acl(ctx: _Context, op: GetACL) -> Reply:
    return _read(ctx, lambda: GetACLResponse(*tree.get_acl(ctx.state, ctx.session, op)))


def _get_all_children_number(ctx: _Context, op: GetAllChildrenNumber) -> Reply:
    return _read(
        ctx,
        lambda: GetAllChildrenNumberResponse(
            tree.get_all_children_number(ctx.state, ctx.session, op)
        ),
    )


def _get_ephemerals(ctx: _Context, op: GetEphemerals) -> Reply:
    return _read(
        ctx,
        lambda: GetEphemeralsResponse(tree.get_ephemerals(ctx.state, ctx.session, op.prefix_path)),
    )


def _sync(ctx: _Context, op: Sync) -> Reply:
    # Standalone: nothing to catch up with. The path is echoed, never checked.
    return Reply(ctx.state.last_zxid, Code.OK, SyncResponse(op.path))


def _ping(ctx: _Context, _op: Ping) -> Reply:
    return Reply(ctx.state.last_zxid, Code.OK, Empty())


def _close_session(ctx: _Context, _op: CloseSession) -> Reply:
    zxid = ctx.state.next_zxid()
    kill_session(ctx.state, ctx.session.session_id, zxid, ctx.events)
    raise _Close(Reply(zxid, Code.OK, Empty()))


def _add_auth(ctx: _Context, op: AddAuth) -> Reply:
    session = ctx.session
    new_ids: list[Id] = []
    if op.scheme == "digest" and op.auth is not None:
        digest = generate_digest(op.auth.decode("utf-8", "replace"))
        if ctx.state.config.super_digest is not None and digest == ctx.state.config.super_digest:
            new_ids.append(Id("super", ""))
        new_ids.append(Id("digest", digest))
    elif op.scheme == "ip":
        new_ids.append(Id("ip", session.client_address))
    else:
        raise _Close(Reply(0, Code.AUTHFAILED))
    ids = list(session.auth_ids)
    ids.extend(i for i in new_ids if i not in ids)
    ctx.session = replace(session, auth_ids=tuple(ids))
    ctx.state.sessions[session.session_id] = ctx.session
    return Reply(0, Code.OK, Empty())


def _sasl(ctx: _Context, op: Sasl) -> Reply:
    if ctx.state.config.sasl is not None:
        raise InputError("a server that runs SASL is not modelled (DIVERGENCES 4)")
    if op.token is None:
        raise _Close(None)
    return Reply(0, Code.OK, SaslResponse(None))


def _set_watches(ctx: _Context, op: SetWatches) -> Reply:
    set_watches(
        ctx.state,
        ctx.session.session_id,
        op.relative_zxid,
        op.data,
        op.exist,
        op.child,
        op.persistent,
        op.persistent_recursive,
        ctx.events,
    )
    return Reply(ctx.state.last_zxid, Code.OK, Empty())


def _add_watch(ctx: _Context, op: AddWatch) -> Reply:
    sid = ctx.session.session_id
    state = ctx.state
    if op.mode == AddWatchMode.PERSISTENT:
        add_watch(state, state.data_watches, op.path, sid, WatchMode.PERSISTENT)
        add_watch(state, state.child_watches, op.path, sid, WatchMode.PERSISTENT)
    elif op.mode == AddWatchMode.PERSISTENT_RECURSIVE:
        add_recursive_watch(state, op.path, sid)
    else:
        return Reply(state.last_zxid, Code.MARSHALLINGERROR)
    return Reply(state.last_zxid, Code.OK, AddWatchResponse())


def _watcher_type(state: State, value: int) -> WatcherType | None:
    try:
        watcher_type = WatcherType(value)
    except ValueError:
        return None
    persistent = (WatcherType.Persistent, WatcherType.PersistentRecursive)
    if watcher_type in persistent and not state.config.profile.persistent_watcher_types:
        return None
    return watcher_type


def _remove_watches(ctx: _Context, op: RemoveWatches) -> Reply:
    state = ctx.state
    watcher_type = _watcher_type(state, op.type)
    if watcher_type is None:
        return Reply(state.last_zxid, Code.MARSHALLINGERROR)
    if not remove_watch(state, op.path, watcher_type, ctx.session.session_id):
        return Reply(state.last_zxid, Code.NOWATCHER)
    return Reply(state.last_zxid, Code.OK, Empty())


def _check_watches(ctx: _Context, op: CheckWatches) -> Reply:
    state = ctx.state
    watcher_type = _watcher_type(state, op.type)
    if watcher_type is None:
        return Reply(state.last_zxid, Code.MARSHALLINGERROR)
    if state.config.profile.check_watches_walks_parents:
        # 3.8 works out the path's parent before it looks (spec.profiles).
        if op.path and "/" not in op.path:
            return Reply(state.last_zxid, Code.MARSHALLINGERROR)
        if op.path == "":
            return Reply(state.last_zxid, Code.NOWATCHER)
    if not contains_watch(state, op.path, watcher_type, ctx.session.session_id):
        return Reply(state.last_zxid, Code.NOWATCHER)
    return Reply(state.last_zxid, Code.OK, Empty())


def _who_am_i(ctx: _Context, _op: WhoAmI) -> Reply:
    info: list[tuple[str, str]] = []
    for held in held_id_order(ctx.session.auth_ids):
        assert held.scheme is not None, "held ids are never null"
        info.append((held.scheme, user_name(held, ctx.state.config.auth_providers)))
    return Reply(ctx.state.last_zxid, Code.OK, WhoAmIResponse(tuple(info)))


def _reconfig(ctx: _Context, _op: Reconfig) -> Reply:
    def run(_zxid: int) -> Empty:
        if not ctx.state.config.reconfig_enabled:
            raise ZooKeeperError(Code.RECONFIGDISABLED)
        raise ZooKeeperError(Code.UNIMPLEMENTED, "a standalone server cannot reconfigure")

    return _write(ctx, run)


def _unimplemented(ctx: _Context, op: Check | Unknown) -> Reply:
    if isinstance(op, Unknown) and op.opcode == OpCode.deleteContainer:
        zxid = ctx.state.next_zxid()
        return Reply(zxid, Code.BADARGUMENTS)
    raise _Close(Reply(-1, Code.UNIMPLEMENTED))


HANDLERS: dict[type, Handler] = {
    Create: _create,
    Delete: _delete,
    SetData: _set_data,
    SetACL: _set_acl,
    Multi: _multi,
    MultiRead: _multi_read,
    Exists: _exists,
    GetData: _get_data,
    GetChildren: _get_children,
    GetACL: _get_acl,
    GetAllChildrenNumber: _get_all_children_number,
    GetEphemerals: _get_ephemerals,
    Sync: _sync,
    Ping: _ping,
    CloseSession: _close_session,
    AddAuth: _add_auth,
    Sasl: _sasl,
    SetWatches: _set_watches,
    AddWatch: _add_watch,
    RemoveWatches: _remove_watches,
    CheckWatches: _check_watches,
    WhoAmI: _who_am_i,
    Reconfig: _reconfig,
    Check: _unimplemented,
    Unknown: _unimplemented,
}


def _call(state: State, call: Call) -> tuple[State, Outcome]:
    session = state.sessions.get(call.session_id)
    if session is None or not session.connected:
        raise InputError(f"session 0x{call.session_id:x} has no connection")
    handler = HANDLERS.get(type(call.op))
    if handler is None:
        raise InputError(f"not an operation: {call.op!r}")
    if frame_length(call.op) > state.config.jute_max_buffer:
        close_connection(state, call.session_id)
        return state, Outcome(None, close=True)
    ctx = _Context(state, touch(state, session))
    zxid_before = state.last_zxid
    try:
        reply = handler(ctx, call.op)
    except _Close as close:
        close_connection(ctx.state, call.session_id)
        return ctx.state, Outcome(close.reply, tuple(ctx.events), True, _used(zxid_before, ctx))
    return ctx.state, Outcome(reply, tuple(ctx.events), False, _used(zxid_before, ctx))


def _used(zxid_before: int, ctx: _Context) -> tuple[int, ...]:
    return (ctx.state.last_zxid,) if ctx.state.last_zxid != zxid_before else ()


def _connect(state: State, request: Connect) -> tuple[State, Outcome]:
    if connect_refused(request.last_zxid_seen, state.last_zxid):
        # The client has seen a newer state than ours: refuse without an answer.
        return state, Outcome(None, close=True)
    timeout = negotiate_timeout(state, request.timeout_ms)
    if request.session_id == 0:
        zxid = state.next_zxid()
        session = open_session(state, timeout, request.client_address)
        body = ConnectResponse(timeout, session.session_id, session.password)
        return state, Outcome(Reply(zxid, Code.OK, body), zxids=(zxid,))
    session_or_none = reattach(
        state, request.session_id, request.password, timeout, request.client_address
    )
    if session_or_none is None:
        refused = ConnectResponse(0, 0, bytes(16))
        return state, Outcome(Reply(state.last_zxid, Code.OK, refused), close=True)
    body = ConnectResponse(timeout, session_or_none.session_id, session_or_none.password)
    return state, Outcome(Reply(state.last_zxid, Code.OK, body))


def step(state: State, request: Input) -> tuple[State, Outcome]:
    """Apply one input to a copy of ``state``; return the new state and what was observed."""
    state = state.clone()
    if isinstance(request, Call):
        return _call(state, request)
    if isinstance(request, Connect):
        return _connect(state, request)
    if isinstance(request, Disconnect):
        if request.session_id not in state.sessions:
            raise InputError(f"session 0x{request.session_id:x} does not exist")
        close_connection(state, request.session_id)
        return state, Outcome(None)
    if isinstance(request, Tick):
        if request.now_ms < state.now:
            raise InputError(f"time moves forward only: {request.now_ms} < {state.now}")
        events: list[WatchEvent] = []
        zxids = advance(state, request.now_ms, events)
        return state, Outcome(None, tuple(events), False, tuple(zxids))
    raise InputError(f"not an input: {request!r}")


def run(state: State, inputs: list[Input]) -> tuple[State, list[Outcome]]:
    """Apply inputs in order; a convenience for tests and examples."""
    outcomes: list[Outcome] = []
    for request in inputs:
        state, outcome = step(state, request)
        outcomes.append(outcome)
    return state, outcomes


__all__ = ["HANDLERS", "InputError", "Operation", "run", "step"]
