"""The checks that need no replay: orders, real time, sync, sequence numbers, ephemerals.

Each function takes the ``HistoryIndex`` and returns the violations it found (at most
``VIOLATIONS_PER_KIND_MAX`` of each kind, the earliest first). They encode ZooKeeper's
guarantees about zxids (``zookeeperProgrammers.md``, "ZooKeeper guarantees"):

* writes are totally ordered by their zxids, each zxid belongs to one write, and the order
  respects real time: a write answered before another was sent has the smaller zxid;
* a reply's zxid never claims a transaction that had not been requested when the reply
  arrived (a read from the future);
* per session, requests are answered in the order they were sent and the zxids a session
  sees never go backwards, also across reconnects (a write's zxid is larger than anything the
  session saw before sending it: ``spec.ensemble.reply_allowed``);
* under the guarantee checked (``spec.ensemble.Guarantee``, the checker's mode), reads are
  held to real time: in mode ``sync-linearizable`` a sync, and every read sent after a
  successful sync of its session, is answered from a state holding every write completed
  before the sync was sent; in mode ``linearizable`` every read holds every write completed
  before the read was sent; mode ``zookeeper`` holds a sync to nothing of the kind, since an
  Apache ZooKeeper leader cut off in a minority answers syncs (ZOOKEEPER-1675)
  (``spec.ensemble.read_floor``);
* sequence numbers under one parent are never given twice and grow with the zxid;
* an ephemeral znode is never seen after its session's closeSession, nor by a request sent
  after the session was reported expired;
* a transaction has one time: every Stat reporting a zxid as czxid or mzxid reports the same
  ctime or mtime for it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise

from conformance.index import HistoryIndex, Op
from conformance.verdict import Violation, describe_reply, zx
from spec import requests as rq
from spec.ensemble import Guarantee, read_floor, reply_allowed
from spec.modes import CreateMode
from spec.paths import parent_path
from spec.stat import Stat

VIOLATIONS_PER_KIND_MAX = 5


def structural_checks(index: HistoryIndex, mode: str) -> list[Violation]:
    guarantee = Guarantee(mode)
    found: list[Violation] = []
    for check in (
        protocol_errors,
        duplicate_sessions,
        duplicate_zxids,
        write_order,
        reads_from_future,
        connection_fifo,
        session_order,
        sequence_numbers,
        ephemerals_end_with_sessions,
        transaction_times,
        auth_replies,
    ):
        found.extend(_capped(check(index)))
    if guarantee is not Guarantee.ZOOKEEPER:
        found.extend(_capped(real_time_reads(index, guarantee)))
    return found


def _capped(violations: Iterator[Violation]) -> list[Violation]:
    """The first ``VIOLATIONS_PER_KIND_MAX`` violations of each kind."""
    out: list[Violation] = []
    counts: dict[str, int] = defaultdict(int)
    for violation in violations:
        if counts[violation.kind] < VIOLATIONS_PER_KIND_MAX:
            counts[violation.kind] += 1
            out.append(violation)
    return out


def protocol_errors(index: HistoryIndex) -> Iterator[Violation]:
    for error in index.history.protocol_errors:
        yield Violation(
            "protocol",
            f"connection {error.conn} of session {zx(error.session_id)}: {error.detail}",
            "frames as the ZooKeeper wire protocol defines them",
            error.detail,
        )


def duplicate_sessions(index: HistoryIndex) -> Iterator[Violation]:
    for first, second in index.duplicate_sessions:
        yield Violation(
            "duplicate-session",
            f"connections {first.conn} and {second.conn} were both given new session "
            f"{zx(second.session_id)}",
            "a new session id for every new session",
            f"session {zx(second.session_id)} granted twice",
        )


def duplicate_zxids(index: HistoryIndex) -> Iterator[Violation]:
    writes = index.writes
    for a, b in pairwise(writes):
        if a.zxid == b.zxid:
            yield Violation(
                "duplicate-zxid",
                f"writes #{a.id} and #{b.id} were both answered with zxid {zx(a.zxid)}",
                "one zxid per write (every write, failed or not, is one transaction)",
                f"zxid {zx(a.zxid)} twice",
                (a.id, b.id),
            )


def write_order(index: HistoryIndex) -> Iterator[Violation]:
    """A write answered before another was sent must have the smaller zxid."""
    earliest_later: Op | None = None  # among writes with larger zxids: the first answered
    for write in reversed(index.writes):
        if (
            earliest_later is not None
            and earliest_later.complete is not None
            and earliest_later.complete < write.invoke
            and earliest_later.zxid != write.zxid
        ):
            yield Violation(
                "write-order",
                f"write #{earliest_later.id} was answered before write #{write.id} was sent, "
                f"yet has the larger zxid ({zx(earliest_later.zxid)} > {zx(write.zxid)})",
                f"#{earliest_later.id} ordered before #{write.id}: zxid below {zx(write.zxid)}",
                f"zxid {zx(earliest_later.zxid)} for #{earliest_later.id}, "
                f"{zx(write.zxid)} for #{write.id}",
                (earliest_later.id, write.id),
            )
        if write.complete is not None and (
            earliest_later is None
            or earliest_later.complete is None
            or write.complete < earliest_later.complete
        ):
            earliest_later = write


def reads_from_future(index: HistoryIndex) -> Iterator[Violation]:
    """A reply's zxid may only cover writes that had been sent when the reply arrived."""
    latest_invoke: list[Op] = []  # prefix maxima of invoke time over writes in zxid order
    for write in index.writes:
        if not latest_invoke or write.invoke > latest_invoke[-1].invoke:
            latest_invoke.append(write)
        else:
            latest_invoke.append(latest_invoke[-1])
    for op in index.ops:
        if op.is_write or not op.positioned or op.complete is None:
            continue
        position = bisect_right(index.write_zxids, op.zxid)
        if position == 0:
            continue
        write = latest_invoke[position - 1]
        if write.invoke > op.complete:
            yield Violation(
                "read-from-future",
                f"read #{op.id} was answered with zxid {zx(op.zxid)}, which covers write "
                f"#{write.id} (zxid {zx(write.zxid)}), but that write was sent only after "
                f"the read's reply had arrived",
                f"a zxid no newer than the writes sent before {index.relative_ms(op.complete)}",
                f"zxid {zx(op.zxid)}",
                (op.id, write.id),
            )


def connection_fifo(index: HistoryIndex) -> Iterator[Violation]:
    for conn in index.connections.values():
        previous: Op | None = None
        for op in conn.ops:
            if op.event.recv is None or isinstance(op.op, rq.AddAuth):
                continue  # auth packets are answered on arrival, outside the pipeline
            if previous is not None and (previous.event.recv or 0) > op.event.recv:
                yield Violation(
                    "fifo",
                    f"on connection {conn.conn}, #{op.id} was answered before #{previous.id}, "
                    f"which was sent first",
                    "replies in the order the requests were sent",
                    f"reply to #{op.id} at frame {op.event.recv}, to #{previous.id} at frame "
                    f"{previous.event.recv}",
                    (previous.id, op.id),
                )
            previous = op


def session_order(index: HistoryIndex) -> Iterator[Violation]:
    """A session never sees zxids go back; its writes come after everything it saw."""
    for info in index.sessions.values():
        floor_op: Op | None = None  # newest positioned reply among requests sent earlier
        for op in info.ops:
            if op.positioned:
                seen_by = op.seen_by
                if seen_by is not None and _behind(op, seen_by.zxid):
                    kind = "session-order" if op.is_write else "stale-read"
                    yield Violation(
                        kind,
                        f"#{op.id} was answered with zxid {zx(op.zxid)}, older than zxid "
                        f"{zx(seen_by.zxid)} which its session had already seen (reply to "
                        f"#{seen_by.id})",
                        f"zxid {'above' if op.is_write else 'at least'} {zx(seen_by.zxid)}",
                        f"zxid {zx(op.zxid)}",
                        (seen_by.id, op.id),
                    )
                elif floor_op is not None and _behind(op, floor_op.zxid):
                    yield Violation(
                        "session-order",
                        f"#{op.id} was sent after #{floor_op.id} on the same session but "
                        f"answered with an older zxid ({zx(op.zxid)} < {zx(floor_op.zxid)})",
                        f"zxid {'above' if op.is_write else 'at least'} {zx(floor_op.zxid)}",
                        f"zxid {zx(op.zxid)}",
                        (floor_op.id, op.id),
                    )
                if floor_op is None or op.zxid > floor_op.zxid:
                    floor_op = op


def _behind(op: Op, seen: int) -> bool:
    return not reply_allowed(op.is_write, op.zxid, seen)


def real_time_reads(index: HistoryIndex, guarantee: Guarantee) -> Iterator[Violation]:
    """Reads held to real time (``spec.ensemble.read_floor``): after a sync (mode
    ``sync-linearizable``), or always (``linearizable``).

    A read's sync is the last one of its session that was sent no later than the read and
    answered OK (a sync is its own); a read sent after it is answered after it, since a
    session's requests are answered in order. Reads older than what their session had seen
    are ``session_order``'s to report.
    """
    for info in index.sessions.values():
        sync: Op | None = None
        for op in info.ops:  # in the order they were sent
            if isinstance(op.op, rq.Sync) and op.outcome == "ok" and op.positioned:
                sync = op
            if op.is_write or not op.positioned:
                continue
            by_sync = index.max_write_completed_before(sync.invoke) if sync else None
            by_read = index.max_write_completed_before(op.invoke)
            floor = read_floor(
                guarantee,
                op.seen,
                by_sync.zxid if by_sync is not None else 0,
                by_read.zxid if by_read is not None else 0,
            )
            if op.zxid >= floor or op.zxid < op.seen:
                continue
            what = "sync" if op is sync else "read"
            if sync is not None and by_sync is not None and op.zxid < by_sync.zxid:
                after = "" if op is sync else f" after sync #{sync.id} of its session"
                yield Violation(
                    "sync",
                    f"{what} #{op.id}{after} was answered at zxid {zx(op.zxid)}, before write "
                    f"#{by_sync.id} (zxid {zx(by_sync.zxid)}) which had completed before the "
                    f"sync was sent",
                    f"a reply at zxid {zx(by_sync.zxid)} or later",
                    f"zxid {zx(op.zxid)}",
                    (by_sync.id, op.id) if op is sync else (by_sync.id, sync.id, op.id),
                )
            elif by_read is not None:
                yield Violation(
                    "non-linearizable-read",
                    f"{what} #{op.id} was answered at zxid {zx(op.zxid)}, before write "
                    f"#{by_read.id} (zxid {zx(by_read.zxid)}) which had completed before the "
                    f"{what} was sent",
                    f"zxid {zx(by_read.zxid)} or later",
                    f"zxid {zx(op.zxid)}",
                    (by_read.id, op.id),
                )


def _sequential_creates(op: Op) -> Iterator[tuple[str, str, int]]:
    """(requested path, created path, sub-op index) of each sequential create ``op`` made."""
    reply = op.reply
    if reply is None or reply.err != 0:
        return
    requests: list[rq.Operation] = list(op.op.ops) if isinstance(op.op, rq.Multi) else [op.op]
    if isinstance(reply.body, rq.CreateResponse | rq.Create2Response):
        paths = [reply.body.path]
    elif isinstance(reply.body, rq.MultiResponse):
        paths = [r.path if isinstance(r, rq.CreateResult) else "" for r in reply.body.results]
    else:
        return
    for number, (request, path) in enumerate(zip(requests, paths, strict=False)):
        if not isinstance(request, rq.Create) or not path:
            continue
        try:
            sequential = CreateMode(request.flags).is_sequential
        except ValueError:
            continue
        if sequential:
            yield request.path, path, number


def sequence_numbers(index: HistoryIndex) -> Iterator[Violation]:
    given: dict[tuple[str, int], Op] = {}
    by_parent: dict[str, list[tuple[int, int, Op]]] = defaultdict(list)
    for op in index.writes:
        for requested, created, _ in _sequential_creates(op):
            suffix = created[len(requested) :]
            if not created.startswith(requested) or not suffix.lstrip("-").isdigit():
                continue  # the replay reports a wrong name
            parent = parent_path(requested)
            counter = int(suffix)
            first = given.get((parent, counter))
            if first is not None and first is not op:
                yield Violation(
                    "sequence-reused",
                    f"#{first.id} and #{op.id} were both given sequence number {suffix} "
                    f"under {parent}",
                    "a new sequence number for every create under a parent",
                    f"{created} created by #{op.id}, "
                    f"sequence {suffix} already given to #{first.id}",
                    (first.id, op.id),
                )
                continue
            given[(parent, counter)] = op
            by_parent[parent].append((op.zxid, counter, op))
    for parent, issued in by_parent.items():
        issued.sort(key=lambda item: item[0])
        for (zxid_a, counter_a, op_a), (zxid_b, counter_b, op_b) in pairwise(issued):
            if zxid_a < zxid_b and counter_a >= counter_b:
                yield Violation(
                    "sequence-order",
                    f"under {parent}, #{op_b.id} (zxid {zx(zxid_b)}) got sequence {counter_b}, "
                    f"not above {counter_a} given to #{op_a.id} (zxid {zx(zxid_a)})",
                    f"a sequence number above {counter_a}",
                    f"{counter_b}",
                    (op_a.id, op_b.id),
                )


def _stats(body: rq.Body | None) -> Iterator[Stat]:
    if isinstance(
        body,
        rq.Create2Response
        | rq.StatResponse
        | rq.GetDataResponse
        | rq.GetACLResponse
        | rq.GetChildren2Response,
    ):
        yield body.stat
    elif isinstance(body, rq.MultiResponse):
        for result in body.results:
            stat = getattr(result, "stat", None)
            if isinstance(stat, Stat):
                yield stat


def _read_paths(op: rq.Operation, body: rq.Body | None) -> Iterator[tuple[str, Stat]]:
    """(path, Stat) of the znodes a successful read reports."""
    if isinstance(op, rq.Exists | rq.GetData | rq.GetACL) and body is not None:
        for stat in _stats(body):
            yield op.path, stat
    elif isinstance(op, rq.GetChildren) and isinstance(body, rq.GetChildren2Response):
        yield op.path, body.stat
    elif isinstance(op, rq.MultiRead) and isinstance(body, rq.MultiResponse):
        for sub, result in zip(op.ops, body.results, strict=False):
            if isinstance(sub, rq.GetData) and isinstance(result, rq.GetDataResult):
                yield sub.path, result.stat


def ephemerals_end_with_sessions(index: HistoryIndex) -> Iterator[Violation]:
    for op in index.ops:
        if op.is_write or op.reply is None or op.reply.err != 0:
            continue
        for path, stat in _read_paths(op.op, op.reply.body):
            owner = stat.ephemeralOwner
            if owner == 0:
                continue
            info = index.sessions.get(owner)
            if info is None:
                continue
            closed = info.closed_by
            creator = _creator(index, owner, path, op)
            cited = (creator.id,) if creator is not None else ()
            if closed is not None and op.positioned and op.zxid >= closed.zxid:
                yield Violation(
                    "ephemeral-outlived-session",
                    f"read #{op.id} at zxid {zx(op.zxid)} still shows ephemeral {path} of "
                    f"session {zx(owner)}, whose closeSession #{closed.id} took effect at zxid "
                    f"{zx(closed.zxid)}",
                    f"{path} gone from zxid {zx(closed.zxid)} on",
                    f"{path} owned by {zx(owner)}: {describe_reply(op.reply)}",
                    (*cited, closed.id, op.id),
                )
            elif info.expired_ns is not None and op.invoke > info.expired_ns:
                yield Violation(
                    "ephemeral-outlived-session",
                    f"read #{op.id}, sent after session {zx(owner)} was reported expired "
                    f"(connection {info.expired_conn} at {index.relative_ms(info.expired_ns)}), "
                    f"still shows its ephemeral {path}",
                    f"{path} gone once session {zx(owner)} expired",
                    f"{path} owned by {zx(owner)}: {describe_reply(op.reply)}",
                    (*cited, op.id),
                )


def _creator(index: HistoryIndex, session: int, path: str, before: Op) -> Op | None:
    info = index.sessions.get(session)
    if info is None:
        return None
    for op in info.ops:
        if op.reply is None or op.reply.err != 0:
            continue
        body = op.reply.body
        if isinstance(body, rq.CreateResponse | rq.Create2Response) and body.path == path:
            return op
        if isinstance(body, rq.MultiResponse) and any(
            isinstance(r, rq.CreateResult) and r.path == path for r in body.results
        ):
            return op
    return None


def transaction_times(index: HistoryIndex) -> Iterator[Violation]:
    first: dict[int, tuple[int, Op]] = {}
    reported: set[int] = set()
    for op in index.ops:
        if op.reply is None:
            continue
        for stat in _stats(op.reply.body):
            for zxid, at in ((stat.czxid, stat.ctime), (stat.mzxid, stat.mtime)):
                if zxid <= 0:
                    continue
                known = first.get(zxid)
                if known is None:
                    first[zxid] = (at, op)
                elif known[0] != at and zxid not in reported:
                    reported.add(zxid)
                    yield Violation(
                        "txn-time",
                        f"#{known[1].id} and #{op.id} report different times for the "
                        f"transaction at zxid {zx(zxid)}",
                        f"time {known[0]} (as #{known[1].id} reported)",
                        f"time {at}",
                        (known[1].id, op.id),
                    )


def auth_replies(index: HistoryIndex) -> Iterator[Violation]:
    for op in index.ops:
        if not isinstance(op.op, rq.AddAuth) or op.reply is None or op.auth_reply is None:
            continue
        if op.reply.err != op.auth_reply.err:
            yield Violation(
                "auth-reply",
                f"addAuth #{op.id} ({op.op.scheme}) was answered {describe_reply(op.reply)}",
                describe_reply(op.auth_reply),
                describe_reply(op.reply),
                (op.id,),
            )
