"""Turning a replay failure into a violation a person can follow.

The replay stops at the first observation the spec cannot explain. This module says *why*,
in ZooKeeper's terms, and picks the few operations that show it:

* a read whose reply is the state at another zxid than its own: which state it showed (found
  by evaluating the read against the replayed versions of the znodes it reads) and which
  write it missed — then whether that makes it a stale read after a sync (in the modes that
  hold a sync to real time), a read older than its session had seen, a non-linearizable
  read (in that mode), a lost write (its zxid says it had seen the write), or a read from
  the future (it shows a write it cannot have seen);
* a write whose reply differs from the spec's at its zxid, with the earlier writes to the
  same znode;
* a notification problem (missing, unexpected, late, out of order), with the request that
  armed the watch, the write that fired it and the reply that proves it was due;
* a session served after the spec's state has closed it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace

from conformance.compare import compare_replies, normalize_body
from conformance.index import HistoryIndex, Op
from conformance.plan import Placement
from conformance.replay import Mismatch, Replay
from conformance.verdict import (
    Violation,
    describe_operation,
    describe_reply,
    zx,
)
from spec import requests as rq
from spec.ensemble import Guarantee
from spec.paths import parent_path


def explain(index: HistoryIndex, replay: Replay, mismatch: Mismatch, mode: str) -> Violation:
    op = mismatch.op
    if mismatch.kind == "notifications" and mismatch.note_problem is not None:
        return _notification_violation(index, replay, mismatch)
    if op is None:
        return Violation(
            "read-mismatch",
            mismatch.detail or "the history's end cannot be explained",
            "an explanation by the spec",
            mismatch.detail,
        )
    if mismatch.kind in ("session-closed", "refused", "no-zxid"):
        return Violation(
            "session-closed",
            f"#{op.id} ({describe_operation(op.op)}) on session {zx(op.session)}: "
            f"{mismatch.detail}",
            "no request of a closed or expired session is served",
            describe_reply(op.reply),
            _with_close(index, op),
        )
    if op.is_write:
        return _write_violation(index, replay, op, mismatch)
    return _read_violation(index, replay, op, mismatch, mode)


def _with_close(index: HistoryIndex, op: Op) -> tuple[int, ...]:
    info = index.sessions.get(op.session)
    if info is not None and info.closed_by is not None:
        return (info.closed_by.id, op.id)
    return (op.id,)


def _paths_of(op: rq.Operation) -> list[str]:
    if isinstance(op, rq.Multi | rq.MultiRead):
        return [p for sub in op.ops for p in _paths_of(sub)]
    path = getattr(op, "path", None)
    if not isinstance(path, str):
        return []
    path = "/" if path == "" else path
    return [path, parent_path(path)] if "/" in path and path != "/" else [path]


def _writer_of(index: HistoryIndex, replay: Replay, zxid: int) -> Op | Placement | None:
    position = bisect_right(index.write_zxids, zxid)
    if position > 0 and index.write_zxids[position - 1] == zxid:
        return index.writes[position - 1]
    return next((p for p in replay.placements if p.zxid == zxid), None)


def _last_writes(index: HistoryIndex, replay: Replay, op: Op, at: int) -> list[int]:
    """Ids of the observed writes that last changed the znodes ``op`` touches, up to ``at``."""
    ids: list[int] = []
    paths = _paths_of(op.op) if op.is_write else _read_paths(op.op)
    for path in paths[:4]:
        changes = [z for z in replay.change_zxids(path) if z < at]
        if changes:
            writer = _writer_of(index, replay, changes[-1])
            if isinstance(writer, Op) and writer.id not in ids and writer.id != op.id:
                ids.append(writer.id)
    return ids


def _write_violation(index: HistoryIndex, replay: Replay, op: Op, mismatch: Mismatch) -> Violation:
    earlier = _last_writes(index, replay, op, op.zxid)
    return Violation(
        "reply-mismatch",
        f"write #{op.id} ({describe_operation(op.op)}) at zxid {zx(op.zxid)}: {mismatch.detail}",
        describe_reply(mismatch.expected),
        describe_reply(op.reply),
        (*earlier, op.id),
    )


def _read_paths(op: rq.Operation) -> list[str]:
    """The znodes a read looks at (not their parents)."""
    if isinstance(op, rq.MultiRead):
        return [p for sub in op.ops for p in _read_paths(sub)]
    path = getattr(op, "path", None)
    return ["/" if path == "" else path] if isinstance(path, str) else []


def _explained_at(replay: Replay, op: Op) -> int | None:
    """The zxid whose state the read's reply shows: the newest before its own, else the oldest
    after it."""
    assert op.reply is not None
    zxids = {replay.base_zxid}
    for path in _read_paths(op.op):
        zxids.update(replay.change_zxids(path))
    before: int | None = None
    after: int | None = None
    for zxid in sorted(zxids):
        reply = replay.read_at(op, zxid)
        if reply is None:
            continue
        if compare_replies(reply, replace(op.reply, zxid=zxid)) is not None:
            continue
        if zxid < op.zxid:
            before = zxid
        elif zxid > op.zxid and after is None:
            after = zxid
    return before if before is not None else after


def _read_violation(
    index: HistoryIndex, replay: Replay, op: Op, mismatch: Mismatch, mode: str
) -> Violation:
    expected = describe_reply(mismatch.expected)
    observed = describe_reply(op.reply)
    shown = _explained_at(replay, op)
    text = f"read #{op.id} ({describe_operation(op.op)}) answered at zxid {zx(op.zxid)}"
    if shown is None:
        return Violation(
            "read-mismatch",
            f"{text} is not the state at its zxid, nor at any other: {mismatch.detail}",
            expected,
            observed,
            (*_last_writes(index, replay, op, op.zxid + 1), op.id),
        )
    changes = sorted(
        {z for path in _read_paths(op.op) for z in replay.change_zxids(path)} | {replay.base_zxid}
    )
    if shown > op.zxid:
        future = [z for z in changes if op.zxid < z <= shown]
        writer = _writer_of(index, replay, future[0]) if future else None
        cited = (writer.id,) if isinstance(writer, Op) else ()
        return Violation(
            "read-from-future-state",
            f"{text} shows the state at zxid {zx(shown)}, which it cannot have seen yet",
            expected,
            observed,
            (*cited, op.id),
        )
    missed_zxids = [z for z in changes if shown < z <= op.zxid]
    missed = _writer_of(index, replay, missed_zxids[0]) if missed_zxids else None
    missed_op = missed if isinstance(missed, Op) else None
    missed_text = (
        f"write #{missed_op.id} ({describe_operation(missed_op.op)}, zxid {zx(missed_op.zxid)})"
        if missed_op is not None
        else f"the transaction at zxid {zx(missed_zxids[0])}"
        if missed_zxids
        else "a later write"
    )
    shows = f"{text} shows the state at zxid {zx(shown)}, without {missed_text}"
    cited_missed = (missed_op.id,) if missed_op is not None else ()
    guarantee = Guarantee(mode)
    sync = _sync_before(index, op) if guarantee.syncs_are_linearizable else None
    if (
        sync is not None
        and missed_op is not None
        and missed_op.complete is not None
        and missed_op.complete < sync.invoke
    ):
        return Violation(
            "sync",
            f"{shows}; that write had completed before sync #{sync.id} of the same session "
            f"was sent, so every read after the sync must see it",
            expected,
            observed,
            (*cited_missed, sync.id, op.id),
        )
    seen_by = op.seen_by
    if seen_by is not None and op.seen > shown:
        return Violation(
            "stale-read",
            f"{shows}; its session had already seen zxid {zx(op.seen)} (reply to #{seen_by.id})",
            expected,
            observed,
            (seen_by.id, *cited_missed, op.id),
        )
    if (
        guarantee.reads_are_linearizable
        and missed_op is not None
        and missed_op.complete is not None
        and missed_op.complete < op.invoke
    ):
        return Violation(
            "non-linearizable-read",
            f"{shows}, which had completed before the read was sent",
            expected,
            observed,
            (*cited_missed, op.id),
        )
    return Violation(
        "lost-write",
        f"{shows}, although its own zxid {zx(op.zxid)} says that write had been applied",
        expected,
        observed,
        (*cited_missed, op.id),
    )


def _sync_before(index: HistoryIndex, op: Op) -> Op | None:
    info = index.sessions.get(op.session)
    if info is None:
        return None
    found: Op | None = None
    for other in info.ops:
        if other.invoke >= op.invoke:
            break
        if isinstance(other.op, rq.Sync) and other.outcome == "ok":
            found = other
    return found


def _notification_violation(index: HistoryIndex, replay: Replay, mismatch: Mismatch) -> Violation:
    problem = mismatch.note_problem
    assert problem is not None
    ops: list[int] = []
    expected_text = "no further notification"
    if problem.expected is not None:
        expected = problem.expected
        arming = _arming_op(index, problem.conn, expected.path, expected.cause, None)
        if arming is not None:
            ops.append(arming.id)
        if expected.cause is not None:
            ops.append(expected.cause)
        expected_text = (
            f"{_type_name(expected.type)} {expected.path} before the reply to #{mismatch.op.id}"
            if mismatch.op is not None
            else f"{_type_name(expected.type)} {expected.path}"
        )
    arrived = problem.arrived
    if arrived is not None and problem.expected is None:
        arming = _arming_op(index, problem.conn, arrived.path, None, arrived.recv)
        if arming is not None:
            ops.append(arming.id)
    if mismatch.op is not None and mismatch.op.id not in ops:
        ops.append(mismatch.op.id)
    observed_text = (
        f"{_type_name(arrived.type)} {arrived.path} (frame {arrived.recv}, zxid {arrived.zxid})"
        if arrived is not None
        else "nothing"
    )
    notes = ((arrived.conn, arrived.recv),) if arrived is not None else ()
    return Violation(
        problem.kind,
        f"connection {problem.conn}: {problem.detail}",
        expected_text,
        observed_text,
        tuple(dict.fromkeys(ops)),
        notes,
    )


def _arming_op(
    index: HistoryIndex, conn: int, path: str, cause: int | None, before_recv: int | None
) -> Op | None:
    """The last request on ``conn`` (before the firing write, or before frame
    ``before_recv`` arrived) that armed a watch on ``path``."""
    connection = index.connections.get(conn)
    if connection is None:
        return None
    limit = index.by_id[cause].zxid if cause is not None and cause in index.by_id else None
    found: Op | None = None
    for op in connection.ops:
        if limit is not None and op.positioned and op.zxid >= limit and op.id != cause:
            break
        if before_recv is not None and (op.event.recv is None or op.event.recv > before_recv):
            break
        if _arms(op.op, path):
            found = op
    return found


def _arms(op: rq.Operation, path: str) -> bool:
    if isinstance(op, rq.Exists | rq.GetData | rq.GetChildren):
        return op.watch and (op.path == path or op.path == parent_path(path))
    if isinstance(op, rq.AddWatch):
        return path.startswith(op.path)
    if isinstance(op, rq.SetWatches):
        return path in (*op.data, *op.exist, *op.child, *op.persistent) or any(
            path.startswith(p) for p in op.persistent_recursive
        )
    return False


def _type_name(value: int) -> str:
    from spec.events import EventType

    try:
        return EventType(value).name
    except ValueError:
        return str(value)


__all__ = ["explain", "normalize_body"]
