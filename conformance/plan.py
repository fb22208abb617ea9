"""The replay plan: what to replay in which order, and what may have happened unobserved.

``make_plan`` orders the observations (every write at its zxid, every read just after the
write whose zxid its reply carries) and lists the *candidates*: transactions that took zxids
nobody observed — writes whose outcome is unknown (each with the unknown write sent just
before it on its connection: a connection's requests take effect in order, a failed one
included), the end of sessions without an answered closeSession (with a deadline when a
re-attach proved them expired), and sessions of a snapshot's ephemerals. For each candidate it
computes the zxid window it may take and *hints*: zxids that observed Stats or notifications
mention, that no observed write owns, in a role the candidate's effect would leave (a create
of ``/a/b`` explains a pzxid of ``/a``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from conformance.compare import stats_in
from conformance.index import HistoryIndex, Op
from spec import requests as rq
from spec.errors import Code
from spec.paths import parent_path
from spec.stat import Stat
from spec.state import State
from spec.zxid import zxid_counter, zxid_epoch


@dataclass(frozen=True, slots=True)
class Candidate:
    """A transaction that may have happened without being observed."""

    key: str
    kind: str  # "op" (a write whose outcome is unknown), "end" (session close/expiry), "reap"
    session: int
    op: Op | None
    path: str | None
    lower: int  # exclusive: the zxid must be above this
    upper: int | None  # exclusive: the zxid must be below this
    forced_after_ns: int | None  # it must have happened before requests sent after this
    deadline: int | None = None  # so its zxid is at most this (from the first such request)
    after: str | None = None  # the unknown write sent just before it on the same connection


@dataclass(frozen=True, slots=True)
class Placement:
    candidate: Candidate
    zxid: int
    revealed_by: int | None  # op id of the observation that needed it (None: the end)


@dataclass
class ReplayPlan:
    observations: list[Op]
    candidates: list[Candidate]
    write_zxids: frozenset[int]
    notification_zxid: bool
    # zxids that observed Stats or notifications mention but no observed write owns: the
    # transactions nobody saw directly left these traces, so they are the likeliest homes.
    traces: list[int] = field(default_factory=list)
    # per candidate: the traces in a role its effect would leave (a create of /a/b: a pzxid
    # of /a, a czxid of /a/b), tried before any other zxid
    hints_by_key: dict[str, list[int]] = field(default_factory=dict)
    claimed: frozenset[int] = frozenset()  # traces some candidate has an affinity for
    recvs: dict[int, list[int]] = field(default_factory=dict)  # per connection, notification frames
    space: ZxidSpace = field(default_factory=lambda: ZxidSpace({}, 0))
    # Runs of observed writes at consecutive plausible zxids, for searches to jump over:
    # each write's zxid -> the lowest and the highest zxid of its run.
    run_floor: dict[int, int] = field(default_factory=dict)
    run_ceiling: dict[int, int] = field(default_factory=dict)


class ZxidSpace:
    """The zxids an unobserved transaction can have taken.

    A leader numbers its epoch's transactions densely from counter 1, so a committed
    transaction at counter *c* of epoch *e* means transactions at every counter below *c*
    of *e*. The unobserved ones are at most the candidates, so none lies above the highest
    counter the history shows in its epoch plus the number of candidates; and an epoch the
    history never shows holds at most that many. Searching beyond would only try zxids no
    server can have issued (and, scanning one by one, never reach the plausible ones below).
    """

    def __init__(self, seen_counters: dict[int, int], unobserved_max: int) -> None:
        self.seen_counters = seen_counters  # per epoch: the highest counter the history shows
        self.unobserved_max = unobserved_max

    def cap(self, epoch: int) -> int:
        return self.seen_counters.get(epoch, 0) + self.unobserved_max

    def plausible(self, zxid: int) -> bool:
        counter = zxid & 0xFFFFFFFF
        return 0 < counter <= self.cap(zxid >> 32)

    def up(self, zxid: int) -> int:
        """The smallest plausible zxid at or above ``zxid``."""
        epoch, counter = zxid >> 32, zxid & 0xFFFFFFFF
        if counter == 0:
            counter = 1
        if counter > self.cap(epoch):
            epoch, counter = epoch + 1, 1
        return (epoch << 32) | counter

    def down(self, zxid: int) -> int:
        """The largest plausible zxid at or below ``zxid`` (or 0)."""
        epoch, counter = zxid >> 32, zxid & 0xFFFFFFFF
        while epoch > 0:
            cap = self.cap(epoch)
            if 0 < counter <= cap:
                return (epoch << 32) | counter
            if counter > cap:
                counter = cap
                continue
            epoch -= 1
            counter = 0xFFFFFFFF
        return min(counter, self.cap(0))


def make_plan(index: HistoryIndex, base: State, notification_zxid: bool) -> ReplayPlan:
    observations: list[Op] = []
    seen_write_zxids: set[int] = set()
    for op in index.ops:
        if op.reply is None:
            continue
        if isinstance(op.op, rq.AddAuth) and op.reply.err != Code.OK:
            continue  # refused: the structural checks judge it; the connection is closed
        if op.is_write:
            if not op.positioned or op.zxid in seen_write_zxids or op.zxid <= base.last_zxid:
                continue
            seen_write_zxids.add(op.zxid)
        observations.append(op)
    observations.sort(key=lambda o: (position(o), 0 if o.is_write else 1, o.invoke, o.id))
    candidates = [_with_deadline(c, observations) for c in _candidates(index, base)]
    traces: set[int] = set()
    for op in index.ops:
        if op.reply is not None:
            for stat in stats_in(op.reply.body):
                traces.update((stat.czxid, stat.mzxid, stat.pzxid))
    traces.update(n.zxid for n in index.history.notifications)
    traces = {z for z in traces if z > base.last_zxid and z not in seen_write_zxids}
    roles = _trace_roles(index, traces)
    seen = set(traces) | seen_write_zxids
    seen.update(op.zxid for op in observations if op.positioned)
    seen_counters: dict[int, int] = {}
    for zxid in seen:
        epoch = zxid_epoch(zxid)
        seen_counters[epoch] = max(seen_counters.get(epoch, 0), zxid_counter(zxid))
    hints_by_key = {
        c.key: _end_affinity(c, index, roles) if c.kind == "end" else _affinity(c, roles)
        for c in candidates
        if c.op is not None or c.kind == "end"
    }
    space = ZxidSpace(seen_counters, len(candidates) + 1)
    run_floor: dict[int, int] = {}
    previous: int | None = None
    for zxid in sorted(seen_write_zxids):
        adjacent = previous is not None and space.down(zxid - 1) == previous
        run_floor[zxid] = run_floor[previous] if adjacent and previous is not None else zxid
        previous = zxid
    run_ceiling: dict[int, int] = {}
    following: int | None = None
    for zxid in sorted(seen_write_zxids, reverse=True):
        adjacent = following is not None and space.up(zxid + 1) == following
        run_ceiling[zxid] = run_ceiling[following] if adjacent and following is not None else zxid
        following = zxid
    return ReplayPlan(
        observations,
        candidates,
        frozenset(seen_write_zxids),
        notification_zxid,
        sorted(traces),
        hints_by_key,
        frozenset(z for hints in hints_by_key.values() for z in hints),
        space=space,
        run_floor=run_floor,
        run_ceiling=run_ceiling,
    )


def _trace_roles(index: HistoryIndex, traces: set[int]) -> dict[int, set[tuple[str, str]]]:
    """For each trace zxid: the (role, path) pairs it was seen in (czxid of /a, ...)."""
    roles: dict[int, set[tuple[str, str]]] = {}

    def note(stat: Stat, path: str) -> None:
        for role, zxid in (("czxid", stat.czxid), ("mzxid", stat.mzxid), ("pzxid", stat.pzxid)):
            if zxid in traces:
                roles.setdefault(zxid, set()).add((role, path))

    for op in index.ops:
        reply = op.reply
        if reply is None or reply.body is None:
            continue
        body = reply.body
        path = getattr(op.op, "path", None)
        if isinstance(body, rq.Create2Response):
            note(body.stat, body.path)
        elif isinstance(path, str):
            for stat in stats_in(body):
                note(stat, path)
        if isinstance(body, rq.MultiResponse) and isinstance(op.op, rq.Multi | rq.MultiRead):
            for sub, result in zip(op.op.ops, body.results, strict=False):
                sub_stat = getattr(result, "stat", None)
                sub_path = getattr(result, "path", None) or getattr(sub, "path", None)
                if isinstance(sub_stat, Stat) and isinstance(sub_path, str):
                    note(sub_stat, sub_path)
    for notification in index.history.notifications:
        if notification.zxid in traces:
            roles.setdefault(notification.zxid, set()).add(("event", notification.path))
    return roles


def _affinity(candidate: Candidate, roles: dict[int, set[tuple[str, str]]]) -> list[int]:
    """Trace zxids that ``candidate``'s effect would explain."""
    assert candidate.op is not None
    wanted: list[tuple[str, str, bool]] = []  # role, path, path is a prefix (sequential)
    requests = (
        list(candidate.op.op.ops) if isinstance(candidate.op.op, rq.Multi) else [candidate.op.op]
    )
    for request in requests:
        path = getattr(request, "path", None)
        if not isinstance(path, str) or "/" not in path:
            continue
        parent = parent_path(path)
        if isinstance(request, rq.Create):
            sequential = request.flags in (2, 3, 6)
            wanted += [("czxid", path, sequential), ("pzxid", parent, False)]
            wanted += [("event", path, sequential), ("event", parent, False)]
        elif isinstance(request, rq.Delete):
            wanted += [("pzxid", parent, False), ("event", path, False), ("event", parent, False)]
        elif isinstance(request, rq.SetData):
            wanted += [("mzxid", path, False), ("event", path, False)]
    out: list[int] = []
    for zxid, seen in sorted(roles.items()):
        for role, path in seen:
            if any(
                role == w_role and (path.startswith(w_path) if prefix else path == w_path)
                for w_role, w_path, prefix in wanted
            ):
                out.append(zxid)
                break
    return out


def _end_affinity(
    candidate: Candidate, index: HistoryIndex, roles: dict[int, set[tuple[str, str]]]
) -> list[int]:
    """Trace zxids the end of a session would explain: its ephemerals' deletion leaves the
    pzxid of their parents, and their events."""
    info = index.sessions.get(candidate.session)
    if info is None:
        return []
    wanted: set[tuple[str, str]] = set()
    for op in info.ops:
        if op.reply is None or op.reply.err != Code.OK:
            continue
        requests = list(op.op.ops) if isinstance(op.op, rq.Multi) else [op.op]
        bodies = (
            list(op.reply.body.results)
            if isinstance(op.reply.body, rq.MultiResponse)
            else [op.reply.body]
        )
        for request, body in zip(requests, bodies, strict=False):
            if not isinstance(request, rq.Create) or request.flags not in (1, 3):
                continue
            path = getattr(body, "path", None)
            if not isinstance(path, str) or path == "/":
                continue
            parent = parent_path(path)
            wanted |= {("pzxid", parent), ("event", path), ("event", parent)}
    return [zxid for zxid, seen in sorted(roles.items()) if seen & wanted]


def _candidates(index: HistoryIndex, base: State) -> list[Candidate]:
    out: list[Candidate] = []
    ended: set[int] = set()
    for info in index.sessions.values():
        positioned = [o.zxid for o in info.ops if o.positioned]
        last_seen = max(positioned, default=base.last_zxid)
        previous_on_conn: dict[int, str] = {}
        for op in info.ops:  # in the order they were sent
            if op.outcome != "unknown" or not op.is_write:
                continue
            lower = max(op.conn_floor, op.seen, base.last_zxid)
            completed = index.max_write_completed_before(op.invoke)
            if completed is not None:
                lower = max(lower, completed.zxid)
            upper = _upper_bound(index, op)
            if isinstance(op.op, rq.CloseSession):
                ended.add(info.session)
                out.append(
                    Candidate(
                        f"op:{op.id}",
                        "end",
                        info.session,
                        op,
                        None,
                        max(lower, last_seen),
                        upper,
                        info.expired_ns,
                    )
                )
            else:
                out.append(
                    Candidate(
                        f"op:{op.id}",
                        "op",
                        info.session,
                        op,
                        None,
                        lower,
                        upper,
                        None,
                        after=previous_on_conn.get(op.conn),
                    )
                )
                previous_on_conn[op.conn] = f"op:{op.id}"
        if info.closed_by is None and info.session not in ended:
            out.append(
                Candidate(
                    f"end:{info.session}",
                    "end",
                    info.session,
                    None,
                    None,
                    last_seen,
                    None,
                    info.expired_ns,
                )
            )
    for session in base.sessions:
        if session not in index.sessions:
            out.append(
                Candidate(f"end:{session}", "end", session, None, None, base.last_zxid, None, None)
            )
    return out


def _with_deadline(candidate: Candidate, observations: list[Op]) -> Candidate:
    """The zxid by which a candidate proven to have happened (at ``forced_after_ns``) must
    have happened: below the first observation, in zxid order, sent after the proof."""
    proof = candidate.forced_after_ns
    if proof is None:
        return candidate
    for op in observations:  # in zxid order
        if op.invoke > proof:
            at = position(op)
            return replace(candidate, deadline=at - 1 if op.is_write else at)
    return candidate


def _upper_bound(index: HistoryIndex, op: Op) -> int | None:
    """An unknown request of a session cannot take effect after a write the session sent
    later on another connection, nor after its close.

    Once the session has moved to another server, the leader refuses what the old one
    forwards (SESSIONMOVED: no effect), so the old request took effect, if at all, before
    the move was validated — and so before any later write of the session. A *read* on the
    new connection bounds nothing: the server it moved to may answer it before it has
    applied a proposal the leader made just before validating the move (seen in a
    ten-minute nemesis run: a create sent to a paused leader, committed after the session
    had read elsewhere)."""
    info = index.sessions[op.session]
    bound: int | None = None
    for other in info.ops:
        if other.conn == op.conn or other.invoke <= op.invoke or not other.positioned:
            continue
        if not other.is_write:
            continue
        limit = other.zxid
        bound = limit if bound is None else min(bound, limit)
    if info.closed_by is not None:
        bound = info.closed_by.zxid if bound is None else min(bound, info.closed_by.zxid)
    return bound


# --- comparing -------------------------------------------------------------------------------


def named(op: rq.Operation) -> set[str]:
    """The znodes a request names."""
    if isinstance(op, rq.Multi | rq.MultiRead):
        return {p for sub in op.ops for p in named(sub)}
    if isinstance(op, rq.SetWatches):
        return {*op.data, *op.exist, *op.child, *op.persistent, *op.persistent_recursive}
    path = getattr(op, "path", None)
    return {path} if isinstance(path, str) and path.startswith("/") else set()


def candidate_named(candidate: Candidate) -> set[str]:
    if candidate.op is not None:
        return named(candidate.op.op)
    return {candidate.path} if candidate.path else set()


def position(op: Op) -> int:
    """Where an observation goes in the replay: its reply's zxid (for a reply without a
    usable zxid: the newest zxid the earlier requests on its connection saw)."""
    return op.zxid if op.positioned else op.conn_floor
