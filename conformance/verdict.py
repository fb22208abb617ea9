"""What the checker concludes, and how it shows the evidence to a person and to a program.

A ``Verdict`` is *allowed* (no violation found, nothing left undecided), *violation* (at least
one ``Violation``) or *undecided* (the bounded search over operations whose outcome is unknown
ran out before it could explain an observation). Each ``Violation`` names its ``kind`` (a
stable identifier, listed in ``KINDS``), says in one sentence what is wrong, what the rules
expected and what was observed, and cites the smallest set of operations (by id) and
notifications that shows it. ``render`` prints them with their session, connection, times
(relative to the start of the history), zxids, requests and replies; ``to_json`` gives the
same as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.codec import encode_value
from conformance.history import NotificationEvent
from conformance.index import HistoryIndex, Op
from spec import requests as rq
from spec.errors import Code
from spec.events import EventType
from spec.stat import Stat

KINDS: dict[str, str] = {
    "protocol": "the server broke the wire protocol",
    "duplicate-session": "two new sessions were given the same id",
    "duplicate-zxid": "two writes were given the same zxid",
    "write-order": "the zxid order of two writes contradicts real time",
    "read-from-future": "a reply claims a zxid whose write had not been sent yet",
    "fifo": "replies on one connection did not come back in request order",
    "session-order": "a session's zxids went backwards",
    "stale-read": "a read shows a state older than its session had already seen",
    "sync": "a sync (or a read after it) missed a write completed before the sync began "
    "(modes sync-linearizable and linearizable)",
    "non-linearizable-read": "a read missed a write completed before it began (linearizable mode)",
    "lost-write": "a read missed a write its zxid says it had seen",
    "read-from-future-state": "a read shows a write its zxid says it had not seen",
    "read-mismatch": "a read's reply is not the spec's state at the read's zxid",
    "reply-mismatch": "a write's reply is not what the spec answers at its zxid",
    "auth-reply": "an addAuth reply is not what the spec answers",
    "session-closed": "a closed or expired session was still served",
    "ephemeral-outlived-session": "an ephemeral znode outlived its session",
    "sequence-reused": "a sequence number was given twice under one parent",
    "sequence-order": "sequence numbers under one parent did not grow in zxid order",
    "txn-time": "one transaction was reported with two different times",
    "watch-missing": "a watch did not fire although the change happened while it was armed",
    "watch-unexpected": "a notification no armed watch explains (fired twice, or never armed)",
    "watch-late": "a notification arrived after a reply showing the state after the change",
    "watch-order": "notifications arrived out of zxid order",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken guarantee with its evidence."""

    kind: str
    summary: str
    expected: str
    observed: str
    ops: tuple[int, ...] = ()
    notifications: tuple[tuple[int, int], ...] = ()  # (conn, recv)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Undecided:
    """An observation the bounded search could not explain nor rule out."""

    summary: str
    ops: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnknownOutcome:
    """What the checker concluded about one operation whose outcome was unknown."""

    op: int
    resolution: str  # "took effect" / "no effect observed"
    zxid: int | None = None


@dataclass
class Verdict:
    profile: str
    mode: str
    violations: list[Violation] = field(default_factory=list)
    undecided: list[Undecided] = field(default_factory=list)
    unknown_outcomes: list[UnknownOutcome] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    index: HistoryIndex | None = field(default=None, repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        return not self.violations and not self.undecided

    @property
    def status(self) -> str:
        if self.violations:
            return "violation"
        if self.undecided:
            return "undecided"
        return "allowed"

    def kinds(self) -> list[str]:
        return [v.kind for v in self.violations]

    def render(self, index: HistoryIndex | None = None) -> str:
        """The verdict as a person reads it."""
        index = index or self.index
        assert index is not None, "render needs the history's index"
        lines = [
            f"verdict: {self.status.upper()} (profile {self.profile}, mode {self.mode})",
            _stats_line(self.stats),
        ]
        for number, violation in enumerate(self.violations, start=1):
            lines.append("")
            lines.append(f"violation {number}: {violation.kind} — {KINDS.get(violation.kind, '')}")
            lines.append(f"  {violation.summary}")
            lines.append(f"  expected: {violation.expected}")
            lines.append(f"  observed: {violation.observed}")
            if violation.ops:
                lines.append("  operations:")
                lines.extend(
                    "    " + describe_op(index, index.by_id[i])
                    for i in violation.ops
                    if i in index.by_id
                )
            if violation.notifications:
                lines.append("  notifications:")
                lines.extend(
                    "    " + describe_notification(index, n)
                    for n in _notifications(index, violation.notifications)
                )
        for undecided in self.undecided:
            lines.append("")
            lines.append(f"undecided: {undecided.summary}")
            lines.extend(
                "    " + describe_op(index, index.by_id[i])
                for i in undecided.ops
                if i in index.by_id
            )
        took = [u for u in self.unknown_outcomes if u.zxid is not None]
        if self.unknown_outcomes:
            lines.append("")
            lines.append(
                f"operations with unknown outcome: {len(self.unknown_outcomes)}, "
                f"{len(took)} shown by later observations to have taken effect"
            )
        return "\n".join(lines)

    def to_json(self, index: HistoryIndex | None = None) -> dict[str, Any]:
        """The verdict as plain data (what ``--json`` writes)."""
        index = index or self.index
        assert index is not None, "to_json needs the history's index"

        def op_json(op_id: int) -> dict[str, Any]:
            op = index.by_id.get(op_id)
            if op is None:
                return {"id": op_id}
            return {
                "id": op.id,
                "client": op.event.client,
                "session_id": op.session,
                "conn": op.conn,
                "server": op.event.server,
                "invoke_ms": _ms(index, op.invoke),
                "complete_ms": _ms(index, op.complete),
                "outcome": op.outcome,
                "op": encode_value(op.op),
                "reply": encode_value(op.reply),
                "text": describe_op(index, op),
            }

        return {
            "status": self.status,
            "allowed": self.allowed,
            "profile": self.profile,
            "mode": self.mode,
            "stats": self.stats,
            "violations": [
                {
                    "kind": v.kind,
                    "meaning": KINDS.get(v.kind, ""),
                    "summary": v.summary,
                    "expected": v.expected,
                    "observed": v.observed,
                    "ops": [op_json(i) for i in v.ops],
                    "notifications": [
                        {
                            "conn": n.conn,
                            "recv": n.recv,
                            "session_id": n.session_id,
                            "zxid": n.zxid,
                            "type": n.type,
                            "path": n.path,
                            "time_ms": _ms(index, n.time_ns),
                        }
                        for n in _notifications(index, v.notifications)
                    ],
                    "detail": v.detail,
                }
                for v in self.violations
            ],
            "undecided": [
                {"summary": u.summary, "ops": [op_json(i) for i in u.ops]} for u in self.undecided
            ],
            "unknown_outcomes": [
                {"op": u.op, "resolution": u.resolution, "zxid": u.zxid}
                for u in self.unknown_outcomes
            ],
        }


def _ms(index: HistoryIndex, time_ns: int | None) -> float | None:
    return None if time_ns is None else round((time_ns - index.start_ns) / 1e6, 3)


def _stats_line(stats: dict[str, Any]) -> str:
    return "  " + ", ".join(f"{k} {v}" for k, v in stats.items())


def _notifications(
    index: HistoryIndex, keys: tuple[tuple[int, int], ...]
) -> list[NotificationEvent]:
    out: list[NotificationEvent] = []
    for conn, recv in keys:
        connection = index.connections.get(conn)
        if connection is None:
            continue
        out.extend(n for n in connection.notifications if n.recv == recv)
    return out


# --- one-line descriptions -----------------------------------------------------------------


def zx(zxid: int | None) -> str:
    """A zxid as ZooKeeper logs show it."""
    if zxid is None:
        return "-"
    return f"0x{zxid:x}" if zxid >= 0 else str(zxid)


def _data(data: bytes | None) -> str:
    if data is None:
        return "null"
    try:
        text = data.decode("utf-8")
        if text.isprintable():
            return repr(text) if len(text) <= 24 else repr(text[:21] + "...")
    except UnicodeDecodeError:
        pass
    return f"0x{data[:12].hex()}{'...' if len(data) > 12 else ''}"


def describe_stat(stat: Stat) -> str:
    return (
        f"{{czxid={zx(stat.czxid)} mzxid={zx(stat.mzxid)} pzxid={zx(stat.pzxid)} "
        f"version={stat.version} cversion={stat.cversion} aversion={stat.aversion} "
        f"owner={zx(stat.ephemeralOwner) if stat.ephemeralOwner else 0} "
        f"len={stat.dataLength} children={stat.numChildren}}}"
    )


def describe_operation(op: rq.Operation) -> str:
    """A spec operation in one short line."""
    if isinstance(op, rq.Create):
        opcode = getattr(op.opcode, "name", op.opcode)
        ttl = f" ttl={op.ttl}" if op.ttl >= 0 else ""
        return f"{opcode} {op.path} data={_data(op.data)} flags={op.flags}{ttl}"
    if isinstance(op, rq.Delete):
        return f"delete {op.path} version={op.version}"
    if isinstance(op, rq.SetData):
        return f"setData {op.path} data={_data(op.data)} version={op.version}"
    if isinstance(op, rq.SetACL):
        return f"setACL {op.path} version={op.version}"
    if isinstance(op, rq.Exists | rq.GetData):
        name = "exists" if isinstance(op, rq.Exists) else "getData"
        return f"{name} {op.path}{' watch' if op.watch else ''}"
    if isinstance(op, rq.GetChildren):
        name = "getChildren2" if op.with_stat else "getChildren"
        return f"{name} {op.path}{' watch' if op.watch else ''}"
    if isinstance(op, rq.Multi | rq.MultiRead):
        name = "multi" if isinstance(op, rq.Multi) else "multiRead"
        return f"{name}[" + "; ".join(describe_operation(o) for o in op.ops) + "]"
    if isinstance(op, rq.SetWatches):
        return (
            f"setWatches relativeZxid={zx(op.relative_zxid)} data={list(op.data)} "
            f"exist={list(op.exist)} child={list(op.child)} persistent={list(op.persistent)} "
            f"recursive={list(op.persistent_recursive)}"
        )
    if isinstance(op, rq.AddAuth):
        return f"addAuth {op.scheme}"
    if isinstance(op, rq.Sync | rq.GetACL | rq.GetAllChildrenNumber):
        return f"{type(op).__name__[0].lower() + type(op).__name__[1:]} {op.path}"
    if isinstance(op, rq.CloseSession):
        return "closeSession"
    return repr(op)


def describe_body(body: rq.Body | None) -> str:
    if body is None or isinstance(body, rq.Empty):
        return ""
    if isinstance(body, rq.CreateResponse):
        return f"path={body.path}"
    if isinstance(body, rq.Create2Response):
        return f"path={body.path} stat={describe_stat(body.stat)}"
    if isinstance(body, rq.StatResponse):
        return f"stat={describe_stat(body.stat)}"
    if isinstance(body, rq.GetDataResponse):
        return f"data={_data(body.data)} stat={describe_stat(body.stat)}"
    if isinstance(body, rq.GetChildrenResponse):
        return f"children={sorted(body.children)}"
    if isinstance(body, rq.GetChildren2Response):
        return f"children={sorted(body.children)} stat={describe_stat(body.stat)}"
    if isinstance(body, rq.MultiResponse):
        return "results[" + "; ".join(_describe_result(r) for r in body.results) + "]"
    return repr(body)


def _describe_result(result: rq.OpResult) -> str:
    if isinstance(result, rq.ErrorResult):
        return f"error {_code(result.err)}"
    if isinstance(result, rq.CreateResult):
        return f"created {result.path}"
    if isinstance(result, rq.SetDataResult):
        return f"set version={result.stat.version}"
    if isinstance(result, rq.GetDataResult):
        return f"data={_data(result.data)} version={result.stat.version}"
    if isinstance(result, rq.GetChildrenResult):
        return f"children={sorted(result.children)}"
    return type(result).__name__


def _code(err: int) -> str:
    try:
        return Code(err).name
    except ValueError:
        return str(err)


def describe_reply(reply: rq.Reply | None) -> str:
    if reply is None:
        return "no reply"
    body = describe_body(reply.body)
    return f"zxid {zx(reply.zxid)} {_code(reply.err)}{' ' + body if body else ''}"


def describe_op(index: HistoryIndex, op: Op) -> str:
    """``#id session/conn [invoke → complete] request → reply``."""
    return (
        f"#{op.id} {op.event.client} session {zx(op.session)} conn {op.conn} "
        f"[{index.relative_ms(op.invoke)} → {index.relative_ms(op.complete)}] "
        f"{describe_operation(op.op)} → {describe_reply(op.reply)}"
        + (f" ({op.event.note})" if op.event.note else "")
    )


def describe_notification(index: HistoryIndex, note: NotificationEvent) -> str:
    try:
        name = EventType(note.type).name
    except ValueError:
        name = str(note.type)
    return (
        f"notification {name} {note.path} zxid {zx(note.zxid)} to session {zx(note.session_id)} "
        f"conn {note.conn} (frame {note.recv}) at {index.relative_ms(note.time_ns)}"
    )
