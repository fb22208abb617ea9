"""Histories: what clients did and saw, one JSON object per line, and how to read them back.

A history is the evidence the checker (``conformance.checker``) judges. The conformance client
(``conformance.client``) writes one through a ``HistoryRecorder``; anyone else may write one by
hand or from another client, as long as it follows this format. ``HISTORY.md`` beside this file
has an example.

Format (version 1)
------------------
Every line is a JSON object whose ``"event"`` member says what it records. Times are
``time.monotonic_ns()`` of the recording process (only differences and order matter). Connection
numbers (``conn``) and operation ids (``id``) are unique within a history. Session ids, zxids and
xids are JSON integers (signed, as on the wire). Spec values (``op``, ``reply``, ACLs, Stats)
use the encoding of ``conformance.codec``: bytes as hex, ``null`` distinct from ``""``.

``header`` (first line)
    ``format`` (1), ``profile`` (``"3.8"``, ``"3.9"`` or ``null``: let the checker decide),
    ``hosts`` (the ``host:port`` list), ``settings`` (server settings that change what clients
    see: ``extended_types_enabled``, ``reconfig_enabled``, ``super_digest``,
    ``jute_max_buffer``, ``container_max_never_used_interval_ms``; each may be left out, and
    then is Apache ZooKeeper's default: false, false, null, 1048575, 0), ``fresh`` (true if
    the server was freshly started, with nothing but the four system znodes), ``started_ns``,
    ``note``.
``snapshot`` (optional, before any operation)
    The tree as a client read it before the history began, for a server that was not fresh:
    ``zxid`` and ``nodes``, each ``{"path", "data", "acl", "stat"}``.
``connect``
    One handshake: ``conn``, ``client``, ``server``, ``requested_session_id`` (0 = new),
    ``last_zxid_seen``, ``timeout_ms``, ``invoke_ns``, ``complete_ns`` (null if no answer),
    ``outcome`` — ``"ok"`` (session granted), ``"expired"`` (answered with timeout 0: the
    session is gone) or ``"unknown"`` (closed, refused or timed out without an answer) —
    ``session_id``, ``password`` (hex), ``negotiated_timeout_ms``, ``read_only`` and
    ``client_address`` (the client's address as the server sees it).
``session``
    A session's life: ``kind`` ``"created"`` (a new session was granted), ``"closed"`` (its
    closeSession was answered) or ``"expired"`` (a re-attach was answered "expired"),
    ``session_id``, ``conn``, ``time_ns``.
``op``
    One request: ``id``, ``client``, ``conn``, ``server``, ``session_id``, ``xid`` (as sent),
    ``op`` (the spec operation), ``invoke_ns`` (when it was written to the socket),
    ``complete_ns`` (when its reply arrived; null if none), ``outcome`` — ``"ok"`` (a reply with
    err 0), ``"error"`` (a reply with another err) or ``"unknown"`` (no reply: the connection was
    lost or the request timed out, so it may or may not have taken effect) — ``reply`` (the
    spec ``Reply``: header ``zxid``, ``err``, ``body``; null if none), ``recv`` (the reply's
    position among all frames received on the connection, null if none) and ``note``.
``notification``
    One watch event as it arrived: ``conn``, ``client``, ``session_id``, ``recv`` (its
    position among the frames received on the connection, shared with replies), ``time_ns``,
    ``zxid`` (the notification header's zxid: -1 before 3.9), ``type``, ``state``, ``path``.
``disconnect``
    A connection ended: ``conn``, ``client``, ``session_id``, ``time_ns``, ``reason``.
``protocol_error``
    The server broke the wire protocol (a reply out of order, an undecodable frame, a null the
    protocol does not allow): ``conn``, ``client``, ``session_id``, ``time_ns``, ``detail``.

Lines are written in the order things happened, except that an ``op`` line is written when the
operation completes (or is given up), so ops appear in completion order.

What this module must not do: judge anything. Loading checks only the format.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from conformance.codec import CodecError, decode_value, encode_value
from spec import requests as rq
from spec.acl import ACL
from spec.stat import Stat

HISTORY_FORMAT = 1


class HistoryFormatError(ValueError):
    """A history line that is not valid JSON or not an event of this format."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Server settings that change what clients observe (zoo.cfg / system properties).

    Each default is Apache ZooKeeper's (``spec.state.Config``), so a history whose header
    leaves one out is judged as from a stock server.
    """

    extended_types_enabled: bool = False  # zookeeper.extendedTypesEnabled (TTL nodes)
    reconfig_enabled: bool = False  # reconfigEnabled
    super_digest: str | None = None  # zookeeper.DigestAuthenticationProvider.superDigest
    jute_max_buffer: int = 0xFFFFF  # jute.maxbuffer
    # znode.container.maxNeverUsedIntervalMs: 0 keeps containers that never had a child.
    container_max_never_used_interval_ms: int = 0


@dataclass(frozen=True, slots=True)
class Header:
    format: int = HISTORY_FORMAT
    profile: str | None = None
    hosts: tuple[str, ...] = ()
    settings: ServerSettings = field(default_factory=ServerSettings)
    fresh: bool = True
    started_ns: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotNode:
    path: str
    data: bytes | None
    acl: tuple[ACL, ...]
    stat: Stat


@dataclass(frozen=True, slots=True)
class Snapshot:
    zxid: int
    nodes: tuple[SnapshotNode, ...]


@dataclass(frozen=True, slots=True)
class ConnectEvent:
    conn: int
    client: str
    server: str
    requested_session_id: int
    last_zxid_seen: int
    timeout_ms: int
    invoke_ns: int
    complete_ns: int | None
    outcome: str
    session_id: int = 0
    password: bytes | None = None
    negotiated_timeout_ms: int = 0
    read_only: bool | None = None
    client_address: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    kind: str
    session_id: int
    conn: int
    time_ns: int


@dataclass(frozen=True, slots=True)
class OpEvent:
    id: int
    client: str
    conn: int
    server: str
    session_id: int
    xid: int
    op: rq.Operation
    invoke_ns: int
    complete_ns: int | None
    outcome: str
    reply: rq.Reply | None
    recv: int | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    conn: int
    client: str
    session_id: int
    recv: int
    time_ns: int
    zxid: int
    type: int
    state: int
    path: str


@dataclass(frozen=True, slots=True)
class DisconnectEvent:
    conn: int
    client: str
    session_id: int
    time_ns: int
    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolErrorEvent:
    conn: int
    client: str
    session_id: int
    time_ns: int
    detail: str


Event = (
    Header
    | Snapshot
    | ConnectEvent
    | SessionEvent
    | OpEvent
    | NotificationEvent
    | DisconnectEvent
    | ProtocolErrorEvent
)

_EVENT_NAMES: dict[type, str] = {
    Header: "header",
    Snapshot: "snapshot",
    ConnectEvent: "connect",
    SessionEvent: "session",
    OpEvent: "op",
    NotificationEvent: "notification",
    DisconnectEvent: "disconnect",
    ProtocolErrorEvent: "protocol_error",
}
_EVENT_TYPES: dict[str, type] = {name: cls for cls, name in _EVENT_NAMES.items()}
_OUTCOMES: dict[type, frozenset[str]] = {
    OpEvent: frozenset({"ok", "error", "unknown"}),
    ConnectEvent: frozenset({"ok", "expired", "unknown"}),
}
_SESSION_KINDS = frozenset({"created", "closed", "expired"})

# Fields whose values are spec values (decoded through conformance.codec with these hints).
_SPEC_FIELDS: dict[tuple[type, str], Any] = {
    (OpEvent, "op"): rq.Operation,
    (OpEvent, "reply"): rq.Reply | None,
    (Snapshot, "nodes"): tuple[SnapshotNode, ...],
    (ConnectEvent, "password"): bytes | None,
}


def encode_event(event: Event) -> dict[str, Any]:
    """The JSON object of one history event."""
    out: dict[str, Any] = {"event": _EVENT_NAMES[type(event)]}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, ServerSettings):
            out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)}
        elif isinstance(value, SnapshotNode | Stat | ACL) or (type(event), f.name) in _SPEC_FIELDS:
            out[f.name] = _encode_spec(value)
        else:
            out[f.name] = encode_value(value)
    return out


def _encode_spec(value: object) -> Any:
    if isinstance(value, tuple):
        return [_encode_spec(v) for v in value]
    if isinstance(value, SnapshotNode):
        return {
            "path": value.path,
            "data": encode_value(value.data),
            "acl": encode_value(value.acl),
            "stat": encode_value(value.stat),
        }
    return encode_value(value)


def _decode_snapshot_nodes(data: Any, where: str) -> tuple[SnapshotNode, ...]:
    if not isinstance(data, list):
        raise CodecError(f"{where}: expected an array of nodes")
    out: list[SnapshotNode] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise CodecError(f"{where}[{i}]: expected an object")
        out.append(
            SnapshotNode(
                decode_value(item.get("path"), str, f"{where}[{i}].path"),
                decode_value(item.get("data"), bytes | None, f"{where}[{i}].data"),
                decode_value(item.get("acl"), tuple[ACL, ...], f"{where}[{i}].acl"),
                decode_value(item.get("stat"), Stat, f"{where}[{i}].stat"),
            )
        )
    return tuple(out)


_PLAIN_HINTS: dict[str, Any] = {
    "int": int,
    "str": str,
    "bool": bool,
    "int | None": int | None,
    "str | None": str | None,
    "bool | None": bool | None,
    "tuple[str, ...]": tuple[str, ...],
}


def decode_event(data: Any, line: int = 0) -> Event:
    """One history event from its JSON object; ``HistoryFormatError`` if it is not one."""
    where = f"line {line}" if line else "event"
    if not isinstance(data, dict):
        raise HistoryFormatError(f"{where}: expected a JSON object")
    name = data.get("event")
    cls = _EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise HistoryFormatError(f"{where}: unknown event {name!r}")
    values: dict[str, Any] = {}
    try:
        for f in fields(cls):
            if f.name not in data:
                if f.default is not MISSING or f.default_factory is not MISSING:
                    continue
                raise CodecError(f"{name} lacks {f.name!r}")
            raw = data[f.name]
            at = f"{name}.{f.name}"
            if (cls, f.name) == (Snapshot, "nodes"):
                values[f.name] = _decode_snapshot_nodes(raw, at)
            elif (cls, f.name) in _SPEC_FIELDS:
                values[f.name] = decode_value(raw, _SPEC_FIELDS[(cls, f.name)], at)
            elif f.type == "ServerSettings":
                values[f.name] = _decode_settings(raw, at)
            else:
                hint = _PLAIN_HINTS.get(str(f.type))
                if hint is None:
                    raise CodecError(f"{at}: no decoder for {f.type}")
                values[f.name] = decode_value(raw, hint, at)
        extra = set(data) - {f.name for f in fields(cls)} - {"event"}
        if extra:
            raise CodecError(f"{name} has unknown members {sorted(extra)}")
    except CodecError as error:
        raise HistoryFormatError(f"{where}: {error}") from None
    event: Event = cls(**values)
    _validate(event, where)
    return event


def _decode_settings(raw: Any, where: str) -> ServerSettings:
    if not isinstance(raw, dict):
        raise CodecError(f"{where}: expected an object")
    hints: dict[str, Any] = {
        "extended_types_enabled": bool,
        "reconfig_enabled": bool,
        "super_digest": str | None,
        "jute_max_buffer": int,
        "container_max_never_used_interval_ms": int,
    }
    extra = set(raw) - set(hints)
    if extra:
        raise CodecError(f"{where}: unknown settings {sorted(extra)}")
    values = {k: decode_value(v, hints[k], f"{where}.{k}") for k, v in raw.items()}
    return ServerSettings(**values)


def _validate(event: Event, where: str) -> None:
    outcomes = _OUTCOMES.get(type(event))
    if outcomes is not None:
        outcome = getattr(event, "outcome")  # noqa: B009 - both event types have it
        if outcome not in outcomes:
            raise HistoryFormatError(
                f"{where}: outcome {outcome!r} is not one of {sorted(outcomes)}"
            )
    if isinstance(event, OpEvent):
        has_reply = event.reply is not None
        if has_reply != (event.outcome != "unknown"):
            raise HistoryFormatError(
                f"{where}: op {event.id} has outcome {event.outcome!r} "
                f"{'but a reply' if has_reply else 'but no reply'}"
            )
        if event.reply is not None and (event.reply.err == 0) != (event.outcome == "ok"):
            raise HistoryFormatError(
                f"{where}: op {event.id} has outcome {event.outcome!r} and err {event.reply.err}"
            )
        if has_reply and (event.complete_ns is None or event.recv is None):
            raise HistoryFormatError(f"{where}: op {event.id} has a reply but no completion")
    if isinstance(event, SessionEvent) and event.kind not in _SESSION_KINDS:
        raise HistoryFormatError(f"{where}: session kind {event.kind!r}")
    if isinstance(event, Header) and event.format != HISTORY_FORMAT:
        raise HistoryFormatError(
            f"{where}: history format {event.format}, expected {HISTORY_FORMAT}"
        )


@dataclass
class History:
    """A loaded history: the header and the events of each kind, each list in file order."""

    header: Header
    snapshot: Snapshot | None = None
    connects: list[ConnectEvent] = field(default_factory=list)
    sessions: list[SessionEvent] = field(default_factory=list)
    ops: list[OpEvent] = field(default_factory=list)
    notifications: list[NotificationEvent] = field(default_factory=list)
    disconnects: list[DisconnectEvent] = field(default_factory=list)
    protocol_errors: list[ProtocolErrorEvent] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> History:
        header: Header | None = None
        history: History | None = None
        for event in events:
            if isinstance(event, Header):
                if header is not None:
                    raise HistoryFormatError("a history has one header")
                header = event
                history = cls(header)
                continue
            if history is None:
                raise HistoryFormatError("the first event of a history must be its header")
            history.add(event)
        if history is None:
            raise HistoryFormatError("empty history: no header")
        return history

    def add(self, event: Event) -> None:
        if isinstance(event, Snapshot):
            if self.snapshot is not None or self.ops:
                raise HistoryFormatError("one snapshot, before any operation")
            self.snapshot = event
        elif isinstance(event, ConnectEvent):
            self.connects.append(event)
        elif isinstance(event, SessionEvent):
            self.sessions.append(event)
        elif isinstance(event, OpEvent):
            self.ops.append(event)
        elif isinstance(event, NotificationEvent):
            self.notifications.append(event)
        elif isinstance(event, DisconnectEvent):
            self.disconnects.append(event)
        elif isinstance(event, ProtocolErrorEvent):
            self.protocol_errors.append(event)
        else:
            raise HistoryFormatError(f"a second header or unknown event: {event!r}")

    def events(self) -> Iterator[Event]:
        """Every event, header first, then the rest ordered by time (for writing back)."""
        yield self.header
        if self.snapshot is not None:
            yield self.snapshot
        rest: list[Event] = [
            *self.connects,
            *self.sessions,
            *self.disconnects,
            *self.protocol_errors,
            *self.ops,
            *self.notifications,
        ]
        timed = [(_event_time(event), order, event) for order, event in enumerate(rest)]
        for _, _, event in sorted(timed, key=lambda item: (item[0], item[1])):
            yield event

    def dump(self, path: str | Path) -> None:
        """Write this history as JSON lines."""
        with open(path, "w", encoding="utf-8") as out:
            for event in self.events():
                out.write(json.dumps(encode_event(event), separators=(",", ":")) + "\n")


def _event_time(event: Event) -> int:
    if isinstance(event, OpEvent):
        return event.complete_ns if event.complete_ns is not None else event.invoke_ns
    if isinstance(event, ConnectEvent):
        return event.complete_ns if event.complete_ns is not None else event.invoke_ns
    if isinstance(event, Header | Snapshot):
        return 0
    return event.time_ns


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    """Decode history lines (blank lines are skipped)."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise HistoryFormatError(f"line {number}: not JSON: {error.msg}") from None
        yield decode_event(data, number)


def load_history(source: str | Path | IO[str]) -> History:
    """Read a history from a path or an open text file."""
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as handle:
            return History.from_events(parse_lines(handle))
    return History.from_events(parse_lines(source))


class HistoryRecorder:
    """Writes history events as JSON lines and keeps them in memory.

    One recorder is shared by all clients of a run: it hands out connection numbers and
    operation ids, so both are unique in the history. ``path`` may be ``None`` to keep the
    history in memory only (``history()`` returns it either way).
    """

    def __init__(self, path: str | Path | None = None, header: Header | None = None) -> None:
        self._out: IO[str] | None = None
        if path is not None:
            self._out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._events: list[Event] = []
        self._next_conn = 1
        self._next_op = 1
        self.closed = False
        self.record(header or Header(started_ns=time.monotonic_ns()))

    def next_conn(self) -> int:
        conn = self._next_conn
        self._next_conn += 1
        return conn

    def next_op_id(self) -> int:
        op_id = self._next_op
        self._next_op += 1
        return op_id

    def record(self, event: Event) -> None:
        if self.closed:
            return
        self._events.append(event)
        if self._out is not None:
            self._out.write(json.dumps(encode_event(event), separators=(",", ":")) + "\n")

    def history(self) -> History:
        return History.from_events(self._events)

    def flush(self) -> None:
        if self._out is not None:
            self._out.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._out is not None:
            self._out.close()
            self._out = None
