"""Replaying a history through the spec, in zxid order, to explain every reply and event.

Theory of operation
-------------------
Every reply carries a zxid that places it in the single order of transactions: a write's
reply carries its own transaction's zxid, a read's reply the last transaction the server had
applied when it answered. So the history is replayed in that order — each write at its zxid,
each read just after the write whose zxid it carries — through ``spec.machine.step`` on one
spec state (``conformance.replaystate.Machine``), and each reply must be exactly what the spec
answers there. Reads are not linearizable in ZooKeeper, but a read's zxid says which state it
saw, so no search is needed for them: a read whose reply is not the state at its own zxid is a
violation, and ``explain`` says which state it did show.

Watch events are checked at the same time. For each connection, the spec says which events it
must receive (the watches are armed by the replayed reads, fired by the replayed writes). Each
reply on a connection is a *sync point*: every event for a change at or below that reply's
zxid must have arrived before the reply, and nothing else may have.

Some transactions are never observed directly: new sessions (their handshake answer has no
zxid), session expiries, container and TTL reaping, and requests whose outcome is unknown
(sent, then the connection was lost). Their zxids are the gaps between the observed ones.
They are *candidates*: applied lazily, at a free zxid in the gap, when (and only when) an
observation cannot be explained without them; a session proven expired (a re-attach was
refused) must have ended before any request sent after that. Lazy placement can guess wrong
(the zxid of a created node shows in later Stats); then the replay is run again with another
placement, up to ``RUNS_MAX`` runs and ``TRIALS_MAX`` searched trials per run (the one trial
each observation gets first does not count: the budget is for searches, so it lasts however
long the history is). If the budget runs out,
the history is *undecided*, not wrong.

A new placement is tried by a replay that *resumes* from a saved state of the replay whose
failure proposed it (``Checkpoint``, one every ``CHECKPOINT_EVERY`` observations), not from
the start: a replay is a deterministic function of its schedule, so the two replays agree on
every observation before the first one the change could touch — where a candidate whose zxid
changed becomes due (the first observation whose zxid reaches its new zxid) or where the
earlier replay placed it. On a ten-minute history (tens of thousands of observations) each new
placement then costs the observations from about where it goes to where the next failure is,
not the whole history again.

Sessions get the ids the server gave them: before a new session's first request is replayed,
the spec's next session id is set to the observed one and its password to the observed
password. Connection-level state (a session moving to another connection, the auth ids of a
connection) is replayed with ``Connect``/``Disconnect`` inputs and the auth ids derived in
``conformance.index``.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from conformance.compare import compare_replies, stats_in
from conformance.index import HistoryIndex, Op
from conformance.notifications import ConnNotes, Expected, NoteProblem
from conformance.plan import (
    Candidate,
    Placement,
    ReplayPlan,
    candidate_named,
    make_plan,
    named,
    position,
)
from conformance.replaystate import Machine, replay_state
from spec import requests as rq
from spec.acl import Id
from spec.events import WatchEvent
from spec.machine import InputError, step
from spec.modes import CreateMode, NodeKind
from spec.paths import parent_path
from spec.sessions import kill_session
from spec.state import Session, State, Znode
from spec.tree import delete_node
from spec.zxid import make_zxid, zxid_counter, zxid_epoch

RUNS_MAX = 4096  # replays, each with another placement of unobserved transactions
REPLAY_STEPS_MAX = 400_000  # observations replayed and placements tried, over all replays
CHECKPOINT_EVERY = 250  # observations between the saved states a later replay resumes from
# Replays whose checkpoints are kept (those that got furthest); an alternative proposed by
# a replay whose checkpoints were dropped replays from the start.
REPLAYS_RESUMABLE_MAX = 48
# Placements searched within one replay, beyond the one trial every observation gets (a long
# history's observations must not use up the search's budget before it is needed).
TRIALS_MAX = 3000
SLOTS_PER_CANDIDATE_MAX = 16  # zxids tried for one candidate at one observation
PAIR_TRIALS_MAX = 300  # pairs of candidates tried at one observation
ALTERNATIVES_PER_FAILURE_MAX = 16  # new placements queued when a replay fails


# --- what the replay expects ---------------------------------------------------------------


@dataclass
class Mismatch:
    """Why an observation is not what the spec expects."""

    kind: str  # "reply", "notifications", "refused", "session-closed", "no-zxid"
    op: Op | None
    expected: rq.Reply | None = None
    detail: str = ""
    note_problem: NoteProblem | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A replay's whole state just before its observation number ``index``.

    Nothing in it is changed after it is taken: ``Replay.resume`` copies what it mutates.
    ``changes`` is the saving replay's change log, which only grows; ``change_count`` says
    how long it was.
    """

    index: int
    state: State
    floor: int
    used_zxids: frozenset[int]
    changes: list[tuple[str, int, Znode | None]]
    change_count: int
    conn_of_session: dict[int, int]
    known_sessions: frozenset[int]
    notes: dict[int, ConnNotes]
    pending: dict[str, Candidate]
    placements: tuple[Placement, ...]
    lazy: tuple[Placement, ...]
    placed_keys: frozenset[str]
    trials: int
    first_trials: int
    group: int


class Replay:
    """One replay of a history under a fixed ``schedule`` of unobserved transactions.

    ``schedule`` maps candidate keys to a zxid (apply it there) or ``None`` (it never
    happened). Candidates not in the schedule are placed lazily.
    """

    def __init__(
        self,
        index: HistoryIndex,
        base: State,
        plan: ReplayPlan,
        schedule: dict[str, int | None],
    ) -> None:
        self.index = index
        self.base = base
        self.plan = plan
        self.schedule = schedule
        self.m = Machine(base)
        self.floor = base.last_zxid
        self.used_zxids: set[int] = set()
        # every znode change, in replay order: (path, zxid, the znode after it or None)
        self.changes: list[tuple[str, int, Znode | None]] = []
        self._versions: tuple[int, dict[str, list[tuple[int, Znode | None]]]] = (0, {})
        self.base_zxid = base.last_zxid
        self.base_nodes = dict(base.nodes)
        self.conn_of_session: dict[int, int] = {}
        self.known_sessions: set[int] = set(base.sessions)
        self.notes: dict[int, ConnNotes] = {}
        self.pending: dict[str, Candidate] = {}
        excluded: set[str] = set()
        for candidate in plan.candidates:  # a connection's requests in the order sent
            if schedule.get(candidate.key, -1) is None or candidate.after in excluded:
                excluded.add(candidate.key)
            else:
                self.pending[candidate.key] = candidate
        self.by_key = {c.key: c for c in plan.candidates}
        self.placements: list[Placement] = []
        self.lazy: list[Placement] = []  # placements this run chose (not scheduled)
        self.failure: Mismatch | None = None
        self.failure_alternatives: list[dict[str, int | None]] = []
        # whether an unobserved transaction could bear on the failing observation (then the
        # bounded search may have missed its explanation: undecided, not a violation)
        self.failure_involves_unknowns = False
        self._auth_override: tuple[Id, ...] | None = None
        self.exhausted = False
        self.trials = 0
        self.first_trials = 0  # the trials that are no search: each observation's first
        self.group = 0
        self.observations = 0
        # per-trial bookkeeping, undone by _rollback
        self._saved_notes: dict[int, tuple[int, int, tuple[bool, ...], int, int]] = {}
        self._saved_maps: tuple[dict[int, int], set[int]] | None = None
        self._trial_versions: list[tuple[str, int, Znode | None]] = []
        self._trial_placements: list[Placement] = []
        self._trial_captured: dict[str, Znode | None] = {}
        self._trial_placed_keys: list[str] = []
        self.placed_keys: set[str] = set()
        self.start = 0  # the observation this replay began with (``resume``)
        # by index; a resumed replay's begin with those of the replay it resumed
        self.checkpoints: list[Checkpoint] = []

    @property
    def searched(self) -> int:
        """Trials that searched for a placement (``TRIALS_MAX`` bounds them)."""
        return self.trials - self.first_trials

    # --- driving -------------------------------------------------------------------------

    def run(self) -> None:
        observations = self.plan.observations
        for index in range(self.start, len(observations)):
            if index % CHECKPOINT_EVERY == 0 and index > self.start:
                self.checkpoints.append(self._checkpoint(index))
            if not self._process(observations[index]):
                return
            self.observations += 1
        self._finish()

    # --- saving and resuming -------------------------------------------------------------

    def release(self) -> None:
        """Drop what only a running replay or an explanation needs (its checkpoints stay)."""
        self.m = Machine(self.base)
        self.notes = {}
        self.changes = []
        self._versions = (0, {})

    def _checkpoint(self, index: int) -> Checkpoint:
        assert index == self.observations, "a checkpoint is taken between observations"
        assert self.m._mark is None, "no trial is open between observations"
        return Checkpoint(
            index=index,
            state=replay_state(self.m.state),
            floor=self.floor,
            used_zxids=frozenset(self.used_zxids),
            changes=self.changes,
            change_count=len(self.changes),
            conn_of_session=dict(self.conn_of_session),
            known_sessions=frozenset(self.known_sessions),
            notes={conn: _copy_notes(notes) for conn, notes in self.notes.items()},
            pending=dict(self.pending),
            placements=tuple(self.placements),
            lazy=tuple(self.lazy),
            placed_keys=frozenset(self.placed_keys),
            trials=self.trials,
            first_trials=self.first_trials,
            group=self.group,
        )

    @classmethod
    def resume(
        cls,
        index: HistoryIndex,
        base: State,
        plan: ReplayPlan,
        schedule: dict[str, int | None],
        checkpoints: list[Checkpoint],
    ) -> Replay:
        """A replay under ``schedule`` that starts from the last of ``checkpoints``.

        The caller vouches that a replay under ``schedule`` from the start would reach that
        checkpoint's state (``resume_index``); the candidates ``schedule`` excludes are taken
        out of the pending ones (none of them was placed before the checkpoint).
        """
        replay = cls(index, base, plan, schedule)
        if not checkpoints:
            return replay
        saved = checkpoints[-1]
        replay.checkpoints = list(checkpoints)
        replay.start = replay.observations = saved.index
        replay.m = Machine(saved.state)
        replay.floor = saved.floor
        replay.used_zxids = set(saved.used_zxids)
        replay.changes = saved.changes[: saved.change_count]
        replay.conn_of_session = dict(saved.conn_of_session)
        replay.known_sessions = set(saved.known_sessions)
        replay.notes = {conn: _copy_notes(notes) for conn, notes in saved.notes.items()}
        replay.pending = {key: c for key, c in saved.pending.items() if key in replay.pending}
        replay.placements = list(saved.placements)
        replay.lazy = list(saved.lazy)
        replay.placed_keys = set(saved.placed_keys)
        assert all(schedule.get(p.candidate.key, p.zxid) == p.zxid for p in saved.placements), (
            "the schedule changes a placement made before the checkpoint"
        )
        replay.trials = saved.trials
        replay.first_trials = saved.first_trials
        replay.group = saved.group
        return replay

    def _process(self, op: Op) -> bool:
        at = position(op)
        limit = at - 1 if op.is_write else at
        mandatory = self._mandatory(op, limit)
        self.first_trials += 1
        first = self._trial(op, mandatory, [])
        if first is None:
            return True
        if op.auth_alternative is not None:
            self._auth_override = op.auth_alternative
            self.first_trials += 1
            try:
                if self._trial(op, mandatory, []) is None:
                    return True
            finally:
                self._auth_override = None
        if self._search(op, limit, mandatory):
            return True
        self.failure = first
        self._queue_alternatives(op, limit, first)
        return False

    def _mandatory(self, op: Op, limit: int) -> list[tuple[Candidate, list[int]]]:
        """Candidates that must be applied before ``op``, each with its possible zxids.

        A scheduled candidate goes at its zxid. A candidate that must have happened by a
        deadline goes at the latest free zxid before the deadline, once the replay gets there
        (as late as possible, as the lazy placement of the others).
        """
        out: list[tuple[Candidate, list[int]]] = []
        for candidate in list(self.pending.values()):
            fixed = self.schedule.get(candidate.key)
            if fixed is not None:
                if fixed <= limit:
                    out.append((candidate, [fixed]))
                continue
            deadline = candidate.deadline
            if deadline is None:
                continue
            latest = self._latest(candidate)
            if limit >= deadline or (latest is not None and latest <= limit):
                out.append((candidate, self._slots_down(candidate, min(limit, deadline))))
        for key, fixed in self.schedule.items():
            if not key.startswith("reap:") or fixed is None or fixed > limit:
                continue
            if key in self.placed_keys:
                continue
            path, _, czxid = key[len("reap:") :].rpartition(":")
            node = self.m.state.nodes.get(path)
            if node is not None and str(node.czxid) == czxid:
                lower = max(node.mzxid, node.pzxid)
                out.append((Candidate(key, "reap", 0, None, path, lower, None, None), [fixed]))
        return out

    # --- trials --------------------------------------------------------------------------

    def _trial(
        self,
        op: Op | None,
        mandatory: list[tuple[Candidate, list[int]]],
        extra: list[tuple[Candidate, int]],
        choice: tuple[int, ...] | None = None,
    ) -> Mismatch | None:
        """Apply candidates, then replay ``op``; keep everything if it matches."""
        self.trials += 1
        plan: list[tuple[Candidate, int]] = list(extra)
        for number, (candidate, slots) in enumerate(mandatory):
            if not slots:
                return Mismatch(
                    "no-zxid",
                    op,
                    detail=f"no free zxid for {_candidate_text(candidate)} before this request",
                )
            pick = choice[number] if choice is not None else 0
            plan.append((candidate, slots[pick]))
        plan.sort(key=lambda item: item[1])
        if len({slot for _, slot in plan}) != len(plan):
            return Mismatch("no-zxid", op, detail="two transactions at one zxid")
        if len({candidate.key for candidate, _ in plan}) != len(plan):
            return Mismatch("no-zxid", op, detail="one transaction at two zxids")
        for number, (candidate, _) in enumerate(plan):
            earlier = candidate.after
            if candidate.kind != "op" or earlier is None or earlier not in self.pending:
                continue
            if earlier not in {c.key for c, _ in plan[:number]}:
                detail = "requests of one connection would take effect out of order"
                return Mismatch("no-zxid", op, detail=detail)
        self._begin()
        for candidate, slot in plan:
            problem = self._apply_candidate(candidate, slot, op)
            if problem is not None:
                self._rollback()
                return problem
        mismatch = self._evaluate(op) if op is not None else self._check_end()
        if mismatch is not None:
            self._rollback()
            return mismatch
        self._commit(op)
        for candidate, slot in plan:
            self.pending.pop(candidate.key, None)
            if candidate.key not in self.schedule:
                self.lazy.append(Placement(candidate, slot, op.id if op is not None else None))
        return None

    def _search(self, op: Op, limit: int, mandatory: list[tuple[Candidate, list[int]]]) -> bool:
        """Try other placements of candidates to explain ``op`` (bounded)."""
        hints = self._hints(op)
        mandatory_keys = {c.key for c, _ in mandatory}
        optional = [
            c
            for c in self._eligible(limit)
            if c.key not in mandatory_keys and c.key not in self.schedule
        ]
        choices = _choices([len(slots) for _, slots in mandatory])
        for choice in choices:
            if (
                choice != tuple(0 for _ in mandatory)
                and self._trial(op, mandatory, [], choice) is None
            ):
                return True
            for candidate in optional:
                for slot in self._slots(candidate, limit, self._hints_for(candidate, hints)):
                    if self.searched >= TRIALS_MAX:
                        self.exhausted = True
                        return False
                    extra = self._with_chain(candidate, slot, set(), frozenset(mandatory_keys))
                    if extra is None:
                        continue
                    if self._trial(op, mandatory, extra, choice) is None:
                        return True
                    for reap in self._emptied(candidate):
                        for later in self._slots(reap, limit, hints)[:2]:
                            if later > slot:
                                cascade = [*extra, (replace(reap, lower=slot), later)]
                                if self._trial(op, mandatory, cascade, choice) is None:
                                    return True
            pairs = 0
            for first_number, first in enumerate(optional):
                for second in optional[first_number + 1 :]:
                    if first.key in self._chain_keys(second) or second.key in self._chain_keys(
                        first
                    ):
                        continue  # one already brings the other along
                    for slot_a in self._slots(first, limit, self._hints_for(first, hints))[:4]:
                        for slot_b in self._slots(second, limit, self._hints_for(second, hints))[
                            :4
                        ]:
                            if slot_a == slot_b:
                                continue
                            pairs += 1
                            if pairs > PAIR_TRIALS_MAX or self.searched >= TRIALS_MAX:
                                self.exhausted = self.searched >= TRIALS_MAX
                                return False
                            part_a = self._with_chain(first, slot_a, {slot_b})
                            if part_a is None:
                                continue
                            part_b = self._with_chain(second, slot_b, {slot for _, slot in part_a})
                            if part_b is None:
                                continue
                            if self._trial(op, mandatory, part_a + part_b, choice) is None:
                                return True
        return False

    def _chain(
        self, candidate: Candidate, planned: frozenset[str] = frozenset()
    ) -> list[Candidate]:
        """The unapplied unknown writes sent before ``candidate`` on its connection, in order.

        A connection's requests are processed in order, and a processed write takes a zxid
        even when it fails; so if ``candidate`` took effect, these did before it.
        """
        chain: list[Candidate] = []
        key = candidate.after
        while key is not None and key in self.pending and key not in planned:
            earlier = self.pending[key]
            chain.append(earlier)
            key = earlier.after
        chain.reverse()
        return chain

    def _chain_keys(self, candidate: Candidate) -> set[str]:
        return {c.key for c in self._chain(candidate)}

    def _with_chain(
        self,
        candidate: Candidate,
        slot: int,
        reserved: set[int],
        planned: frozenset[str] = frozenset(),
    ) -> list[tuple[Candidate, int]] | None:
        """``candidate`` at ``slot`` with its chain at the free zxids just below it (members
        already ``planned`` elsewhere excepted)."""
        chain = self._chain(candidate, planned)
        if not chain:
            return [(candidate, slot)]
        taken = self.plan.write_zxids
        placed: list[tuple[Candidate, int]] = [(candidate, slot)]
        below = slot - 1
        for earlier in reversed(chain):
            low = max(earlier.lower, self.floor)
            below = self.plan.space.down(below)
            while below > low and (below in taken or below in self.used_zxids or below in reserved):
                below = self.plan.space.down(below - 1)
            if below <= low:
                return None
            placed.append((earlier, below))
            below -= 1
        placed.reverse()
        return placed

    def _eligible(self, limit: int) -> list[Candidate]:
        out = [c for c in self.pending.values() if c.lower < limit]
        out.extend(self._reap_candidates())
        return out

    def _emptied(self, candidate: Candidate) -> list[Candidate]:
        """Containers (and TTL znodes) ``candidate`` would leave without children: the server
        may reap them right after it."""
        state = self.m.state
        removed: dict[str, set[str]] = {}
        if candidate.kind == "end":
            for path, node in state.nodes.items():
                if node.kind is NodeKind.EPHEMERAL and node.ephemeral_owner == candidate.session:
                    removed.setdefault(parent_path(path), set()).add(path.rsplit("/", 1)[1])
        elif candidate.op is not None:
            requests = (
                candidate.op.op.ops if isinstance(candidate.op.op, rq.Multi) else (candidate.op.op,)
            )
            for request in requests:
                if isinstance(request, rq.Delete) and "/" in request.path and request.path != "/":
                    parent = parent_path(request.path)
                    removed.setdefault(parent, set()).add(request.path.rsplit("/", 1)[1])
        out: list[Candidate] = []
        for parent, names in removed.items():
            emptied = state.nodes.get(parent)
            if emptied is None or emptied.kind not in (NodeKind.CONTAINER, NodeKind.TTL):
                continue
            if emptied.children - names:
                continue
            key = f"reap:{parent}:{emptied.czxid}"
            if key not in self.schedule and key not in self.placed_keys:
                out.append(Candidate(key, "reap", 0, None, parent, candidate.lower, None, None))
        return out

    def _reap_candidates(self) -> list[Candidate]:
        """Containers and TTL znodes the server could have reaped (no children left); a
        container that never had a child only if ``maxNeverUsedIntervalMs`` is set."""
        out: list[Candidate] = []
        never_used_reaped = self.m.state.config.container_max_never_used_interval_ms != 0
        for path, node in self.m.state.nodes.items():
            if node.children or node.kind not in (NodeKind.CONTAINER, NodeKind.TTL):
                continue
            if (
                node.kind is NodeKind.CONTAINER
                and node.child_creates == 0
                and not never_used_reaped
            ):
                continue
            key = f"reap:{path}:{node.czxid}"
            if key in self.schedule or key in self.placed_keys:
                continue
            lower = max(node.mzxid, node.pzxid)
            out.append(Candidate(key, "reap", 0, None, path, lower, None, None))
        return out

    def _slots(self, candidate: Candidate, limit: int, hints: list[int]) -> list[int]:
        """Free zxids for ``candidate`` at or below ``limit``, hinted ones first."""
        low = max(candidate.lower, self.floor)
        high = limit if candidate.upper is None else min(limit, candidate.upper - 1)
        if high <= low:
            return []
        taken = self.plan.write_zxids
        out = [
            h
            for h in hints
            if low < h <= high and h not in taken and h not in self.used_zxids and h > 0
        ]
        space = self.plan.space
        run_ceiling = self.plan.run_ceiling
        slot = space.up(low + 1)
        scanned = 0
        while slot <= high and len(out) < SLOTS_PER_CANDIDATE_MAX and scanned < 4096:
            scanned += 1
            ceiling = run_ceiling.get(slot)
            if ceiling is not None:  # observed writes up to ``ceiling``: jump past them
                slot = space.up(ceiling + 1)
                continue
            if slot not in self.used_zxids and slot not in out:
                out.append(slot)
            slot = space.up(slot + 1)
        return out[:SLOTS_PER_CANDIDATE_MAX]

    def _slots_down(self, candidate: Candidate, high: int) -> list[int]:
        """Free zxids for ``candidate`` at or below ``high``, the latest first."""
        low = max(candidate.lower, self.floor)
        if candidate.upper is not None:
            high = min(high, candidate.upper - 1)
        taken = self.plan.write_zxids
        # Traces this candidate would explain first (an expiry: its ephemerals' parents).
        out = [
            h
            for h in self.plan.hints_by_key.get(candidate.key, [])
            if low < h <= high and h not in taken and h not in self.used_zxids
        ][:SLOTS_PER_CANDIDATE_MAX]
        space = self.plan.space
        run_floor = self.plan.run_floor
        slot = space.down(high)
        scanned = 0
        while slot > low and len(out) < SLOTS_PER_CANDIDATE_MAX and scanned < 4096:
            scanned += 1
            floor = run_floor.get(slot)
            if floor is not None:  # observed writes down to ``floor``: jump past them
                slot = space.down(floor - 1)
                continue
            if slot not in self.used_zxids and slot not in out:
                out.append(slot)
            slot = space.down(slot - 1)
        return out

    def _latest(self, candidate: Candidate) -> int | None:
        """The latest free zxid a candidate with a deadline can take."""
        if candidate.deadline is None:
            return None
        slots = self._slots_down(candidate, candidate.deadline)
        return max(slots) if slots else None

    def _hints_for(self, candidate: Candidate, hints: list[int]) -> list[int]:
        """``candidate``'s own hints, then the others no other candidate explains better."""
        own = self.plan.hints_by_key.get(candidate.key, [])
        claimed = self.plan.claimed
        return own + [h for h in hints if h not in own and h not in claimed]

    def _hints(self, op: Op | None) -> list[int]:
        """zxids an observation reports (Stats, notifications): likely homes of candidates."""
        hints: list[int] = list(self.plan.traces)
        if op is not None and op.reply is not None:
            for stat in stats_in(op.reply.body):
                hints.extend((stat.czxid, stat.mzxid, stat.pzxid))
            conn = self.index.connections.get(op.conn)
            if conn is not None:
                hints.extend(n.zxid for n in conn.notifications if n.zxid > 0)
        return sorted(set(hints))

    # --- one trial's bookkeeping ---------------------------------------------------------

    def _begin(self) -> None:
        self.m.mark()
        self._saved_notes = {}
        self._saved_maps = (dict(self.conn_of_session), set(self.known_sessions))
        self._trial_versions = []
        self._trial_placements = []
        self._trial_captured = {}
        self._trial_placed_keys = []

    def _rollback(self) -> None:
        self.m.rollback()
        for conn, saved in self._saved_notes.items():
            self.notes[conn].restore(saved)
        assert self._saved_maps is not None
        self.conn_of_session, self.known_sessions = self._saved_maps
        self._saved_notes = {}

    def _commit(self, op: Op | None) -> None:
        changed = self.m.commit()
        self.changes.extend(self._trial_versions)
        if op is not None and op.is_write:
            nodes = self.m.state.nodes
            for path in sorted(changed):
                node = nodes.get(path)
                if path in self._trial_captured and self._trial_captured[path] is node:
                    continue
                self.changes.append((path, op.zxid, node))
        for placement in self._trial_placements:
            self.placements.append(placement)
            self.used_zxids.add(placement.zxid)
        self.placed_keys.update(self._trial_placed_keys)
        if op is not None:
            self.floor = max(self.floor, position(op))
        self._saved_notes = {}

    def _conn_notes(self, conn: int) -> ConnNotes:
        notes = self.notes.get(conn)
        if notes is None:
            notes = self.notes[conn] = ConnNotes()
        if conn not in self._saved_notes:
            self._saved_notes[conn] = notes.snapshot()
        return notes

    # --- applying ------------------------------------------------------------------------

    def _ensure_connection(self, session_id: int, conn: int) -> Mismatch | None:
        """Make ``conn`` the spec's connection of the session (creating it the first time)."""
        state = self.m.state
        info = self.index.sessions.get(session_id)
        connection = self.index.connections.get(conn)
        address = connection.client_address if connection is not None else "127.0.0.1"
        timeout = info.timeout_ms if info is not None and info.timeout_ms > 0 else 10_000
        if session_id not in self.known_sessions:
            self.known_sessions.add(session_id)
            state.next_session_id = session_id
            self.m.step(rq.Connect(timeout_ms=timeout, client_address=address))
            state = self.m.state
            created = state.sessions.get(session_id)
            if created is None:
                return Mismatch("refused", None, detail="the spec did not create the session")
            if info is not None:
                state.sessions[session_id] = replace(created, password=info.password)
            self.conn_of_session[session_id] = conn
            return None
        session = state.sessions.get(session_id)
        if session is None:
            return Mismatch(
                "session-closed",
                None,
                detail=f"session 0x{session_id:x} is closed in the spec's state",
            )
        if self.conn_of_session.get(session_id) != conn or not session.connected:
            if session.connected:
                self.m.step(rq.Disconnect(session_id))
            outcome = self.m.step(
                rq.Connect(
                    timeout_ms=timeout,
                    session_id=session_id,
                    password=session.password,
                    client_address=address,
                )
            )
            if outcome.close:
                return Mismatch("refused", None, detail="the spec refused the re-attach")
            self.conn_of_session[session_id] = conn
        return None

    def _moved_on(self, op: Op) -> bool:
        """Whether ``op``'s session is already attached, in the replay, to a connection it
        opened after the one ``op`` was sent on.

        Then ``op`` is an old request that the leader took before it validated the move,
        committed after the new server had answered the session (``plan._upper_bound``): it
        takes effect without moving the session back, and the watches stay where the
        session is now."""
        current = self.conn_of_session.get(op.session)
        if current is None or current == op.conn or op.session not in self.m.state.sessions:
            return False
        now = self.index.connections.get(current)
        then = self.index.connections.get(op.conn)
        if now is None or then is None or now.connect is None or then.connect is None:
            return False
        return now.connect.invoke_ns > then.connect.invoke_ns

    def _set_auth(self, session_id: int, auth_ids: tuple[Id, ...]) -> None:
        sessions = self.m.state.sessions
        session = sessions.get(session_id)
        if session is not None and session.auth_ids != auth_ids:
            sessions[session_id] = replace(session, auth_ids=auth_ids)

    def _apply_candidate(self, candidate: Candidate, slot: int, at: Op | None) -> Mismatch | None:
        events: list[WatchEvent] = []
        if candidate.kind == "op":
            op = candidate.op
            assert op is not None
            if not self._moved_on(op):
                problem = self._ensure_connection(op.session, op.conn)
                if problem is not None:
                    problem.op = at
                    return problem
            self.m.state.last_zxid = _before(slot)
            self._set_auth(op.session, op.auth_ids)
            try:
                outcome = self.m.step(rq.Call(op.session, op.op))
            except InputError as error:
                return Mismatch("refused", at, detail=str(error))
            events = list(outcome.events)
        elif candidate.kind == "end":
            if candidate.session not in self.known_sessions:
                # A session that never asked anything: it exists from its handshake on.
                info = self.index.sessions.get(candidate.session)
                if info is not None and info.conns:
                    problem = self._ensure_connection(candidate.session, info.conns[0])
                    if problem is not None:
                        problem.op = at
                        return problem
            state = self.m.state
            if candidate.session not in state.sessions:
                return Mismatch("refused", at, detail="the session is already gone")
            state.last_zxid = slot
            kill_session(state, candidate.session, slot, events)
        else:
            assert candidate.path is not None
            state = self.m.state
            node = state.nodes.get(candidate.path)
            if node is None or node.children:
                return Mismatch("refused", at, detail=f"{candidate.path} cannot be reaped")
            state.last_zxid = slot
            delete_node(state, candidate.path, slot, events)
        self.m.state.last_zxid = max(self.m.state.last_zxid, slot)
        self.group += 1
        for event in events:
            conn = self.conn_of_session.get(event.session_id)
            if conn is None:
                continue
            notes = self._conn_notes(conn)
            notes.loose.append(Expected(event.type, event.path, event.zxid, None, self.group, True))
            notes.loose_used.append(False)
        nodes = self.m.state.nodes
        for path in sorted(self.m.changed_paths()):
            node = nodes.get(path)
            if path in self._trial_captured and self._trial_captured[path] is node:
                continue
            self._trial_captured[path] = node
            self._trial_versions.append((path, slot, node))
        self._trial_placements.append(Placement(candidate, slot, at.id if at else None))
        self._trial_placed_keys.append(candidate.key)
        return None

    def _evaluate(self, op: Op) -> Mismatch | None:
        problem = self._ensure_connection(op.session, op.conn)
        if problem is not None:
            problem.op = op
            return problem
        if isinstance(op.op, rq.AddAuth):
            # The server adds the identity when the packet arrives: replayed as early as it
            # can have arrived (just after the previous reply on its connection), so that
            # ACL-filtered notifications after it see it.
            self._set_auth(op.session, op.auth_after)
            return None
        state = self.m.state
        if op.is_write:
            state.last_zxid = _before(op.zxid)
        elif op.positioned:
            state.last_zxid = op.zxid
        self._set_auth(op.session, self._auth_override or op.auth_ids)
        try:
            outcome = self.m.step(rq.Call(op.session, op.op))
        except InputError as error:
            return Mismatch("refused", op, detail=str(error))
        self.group += 1
        unordered = isinstance(op.op, rq.CloseSession)
        for event in outcome.events:
            conn = self.conn_of_session.get(event.session_id)
            if conn is None:
                continue
            self._conn_notes(conn).strict.append(
                Expected(event.type, event.path, event.zxid, op.id, self.group, unordered)
            )
        expected = outcome.reply
        observed = op.reply
        assert observed is not None
        if expected is None:
            return Mismatch("reply", op, None, "the spec closes the connection without answering")
        difference = compare_replies(expected, observed)
        if difference is not None:
            return Mismatch("reply", op, expected, difference)
        if op.positioned and op.event.recv is not None:
            note_problem = self._sync_point(op.conn, op.event.recv)
            if note_problem is not None:
                return Mismatch("notifications", op, expected, note_problem.detail, note_problem)
        return None

    # --- notifications -------------------------------------------------------------------

    def _sync_point(self, conn: int, recv: int) -> NoteProblem | None:
        """Everything the spec sent ``conn`` so far arrived before frame ``recv``, nothing else."""
        connection = self.index.connections.get(conn)
        arrived_all = connection.notifications if connection is not None else []
        notes = self._conn_notes(conn)
        recvs = self.plan.recvs.get(conn)
        if recvs is None:
            recvs = self.plan.recvs[conn] = [n.recv for n in arrived_all]
        end = bisect_right(recvs, recv)
        arrived = arrived_all[notes.arrived_cursor : end]
        problem = notes.match(
            conn,
            arrived,
            profile_zxid=self.plan.notification_zxid,
            complete=True,
            later=arrived_all[end:],
        )
        if problem is None:
            notes.arrived_cursor = end
            notes.strict_cursor = len(notes.strict)
        return problem

    # --- the end -------------------------------------------------------------------------

    def _finish(self) -> None:
        """After the last reply: late notifications must still be explained."""
        limit = self.floor + 4 * SLOTS_PER_CANDIDATE_MAX
        mandatory: list[tuple[Candidate, list[int]]] = []
        for candidate in list(self.pending.values()):
            fixed = self.schedule.get(candidate.key)
            if fixed is not None:
                mandatory.append((candidate, [fixed]))
            elif candidate.forced_after_ns is not None:
                slots = self._slots(candidate, limit, [])[:1]
                if slots:
                    mandatory.append((candidate, slots))
        self.first_trials += 1
        first = self._trial(None, mandatory, [])
        if first is None:
            return
        keys = {c.key for c, _ in mandatory}
        for candidate in self._eligible(limit):
            if candidate.key in keys:
                continue
            for slot in self._slots(candidate, limit, [])[:2]:
                if self.searched >= TRIALS_MAX:
                    self.exhausted = True
                    self.failure = first
                    return
                if self._trial(None, mandatory, [(candidate, slot)]) is None:
                    return
        self.failure = first

    def _check_end(self) -> Mismatch | None:
        for conn, connection in self.index.connections.items():
            notes = self._conn_notes(conn)
            arrived = connection.notifications[notes.arrived_cursor :]
            if not arrived:
                continue
            problem = notes.match(
                conn, arrived, profile_zxid=self.plan.notification_zxid, complete=False, later=[]
            )
            if problem is not None:
                return Mismatch("notifications", None, None, problem.detail, problem)
        return None

    # --- when it fails -------------------------------------------------------------------

    def _queue_alternatives(self, op: Op, limit: int, mismatch: Mismatch) -> None:
        """Other placements worth a whole new replay: first the candidates that touch the
        znodes of the observation that failed, then the guesses this replay made."""
        alternatives: list[dict[str, int | None]] = []
        hints = self._hints(op)
        touched = named(op.op)
        problem = mismatch.note_problem
        if problem is not None:
            for note in (problem.arrived, problem.expected):
                if note is not None and note.path.startswith("/"):
                    touched.add(note.path)
        parents = {parent_path(p) for p in touched if p != "/"}

        def relevance(candidate: Candidate) -> tuple[int, int]:
            """Those that change the znodes the observation shows first, then their parents
            and siblings (a sequential create's number counts its parent's child creates);
            the latest first, since every observation after an earlier one was explained
            without it."""
            own = candidate_named(candidate)
            if own & touched:
                return 0, -candidate.lower
            own_parents = {parent_path(p) for p in own if p != "/"}
            if own & parents or own_parents & touched or own_parents & parents:
                return 1, -candidate.lower
            return 2, -candidate.lower

        unplaced = [c for c in self.pending.values() if c.key not in self.schedule]
        alternatives.extend(self._named_children(op, limit, mismatch, unplaced))
        # A scheduled candidate that the failing observation names, moved to where the
        # observation's Stats or notifications say it went (an earlier failure could only
        # guess its zxid; a later Stat shows it).
        for key, zxid in self.schedule.items():
            moved = self.by_key.get(key)
            if zxid is None or moved is None or relevance(moved)[0] > 0:
                continue
            own_hints = [h for h in hints if h != zxid and moved.lower < h <= limit]
            if own_hints:
                for schedule in self._anywhere(moved, limit, own_hints, 1):
                    if schedule.get(key) != zxid:
                        alternatives.append(schedule)
        pending = sorted(unplaced + self._reap_candidates(), key=relevance)
        involved = [c for c in pending if c.lower < limit] + [p.candidate for p in self.lazy]
        self.failure_involves_unknowns = any(
            relevance(c)[0] <= 1 for c in involved
        ) and not self._data_from_nowhere(op)
        for candidate in pending:
            if candidate.deadline is not None:
                saved = self.floor
                self.floor = candidate.lower
                try:
                    slots = self._slots_down(candidate, min(limit, candidate.deadline))[:3]
                finally:
                    self.floor = saved
                alternatives.extend({candidate.key: slot} for slot in slots)
            else:
                alternatives.extend(self._anywhere(candidate, limit, hints, 2))
        for placement in reversed(self.lazy):
            candidate = placement.candidate
            if candidate.deadline is None:
                alternatives.append({candidate.key: None})
            for schedule in self._anywhere(candidate, limit, [], 2):
                if schedule.get(candidate.key) != placement.zxid:
                    alternatives.append(schedule)
        self.failure_alternatives = alternatives[:ALTERNATIVES_PER_FAILURE_MAX]

    def _data_from_nowhere(self, op: Op) -> bool:
        """Whether ``op`` read data that no request of the history (nor the snapshot it
        starts from) wrote to that znode: no placement of unknown requests can explain it."""
        if not isinstance(op.op, rq.GetData) or op.reply is None:
            return False
        data = getattr(op.reply.body, "data", None)
        if data is None:
            return False
        path = op.op.path
        base = self.base_nodes.get(path)
        if base is not None and base.data == data:
            return False
        for other in self.index.ops:
            if other.outcome == "error" or not other.is_write:
                continue
            request = other.op
            for sub in request.ops if isinstance(request, rq.Multi) else (request,):
                if not isinstance(sub, rq.Create | rq.SetData) or (sub.data or b"") != data:
                    continue
                made = sub.path
                if made == path or (
                    isinstance(sub, rq.Create)
                    and path.startswith(made)
                    and path[len(made) :].isdigit()
                ):
                    return False
        return True

    def _named_children(
        self, op: Op, limit: int, mismatch: Mismatch, unplaced: list[Candidate]
    ) -> list[dict[str, int | None]]:
        """For a child list that names children the replay does not have: the unknown
        creates that would make them, all placed at once.

        Several lost creates often show first in one getChildren (a leader that proposed
        them while cut off committed them together on healing); one placement at a time
        would fail at that same read each time, and the search would try their combinations.
        A sequentially named child (ten digits) is made by a sequential create of its
        prefix; the latest one sent is taken."""
        if mismatch.kind != "reply" or mismatch.expected is None or op.reply is None:
            return []
        observed = getattr(op.reply.body, "children", None)
        expected = getattr(mismatch.expected.body, "children", None)
        path = getattr(op.op, "path", None)
        if observed is None or expected is None or not isinstance(path, str):
            return []
        parent = path.rstrip("/")
        creates: list[tuple[Candidate, str, bool]] = []
        for candidate in unplaced:
            if candidate.op is None or candidate.lower >= limit:
                continue
            request = candidate.op.op
            for sub in request.ops if isinstance(request, rq.Multi) else (request,):
                if isinstance(sub, rq.Create) and sub.flags in CreateMode._value2member_map_:
                    creates.append((candidate, sub.path, CreateMode(sub.flags).is_sequential))
        chosen: list[Candidate] = []
        for name in sorted(set(observed) - set(expected)):
            child = f"{parent}/{name}"
            sequential = len(name) >= 10 and name[-10:].isdigit()
            makers = [
                c
                for c, made, seq in creates
                if c not in chosen
                and ((made == child and not seq) or (sequential and seq and made == child[:-10]))
            ]
            if makers:
                chosen.append(max(makers, key=lambda c: (c.lower, c.key)))
        if not chosen:
            return []
        out = self._all_at_once(chosen, limit)
        # A child the replay has and the list lacks, made by a scheduled unknown create (an
        # earlier failure guessed which lost create made a pzxid): the guess was wrong; the
        # lost create that makes a missing child takes its zxid instead.
        wrong = [
            c
            for c in (self.by_key.get(k) for k, z in self.schedule.items() if z is not None)
            if c is not None
            and c.op is not None
            and isinstance(c.op.op, rq.Create)
            and parent_path(c.op.op.path) == parent
            and c.op.op.path.rsplit("/", 1)[1] in set(expected) - set(observed)
        ]
        for mistaken, instead in zip(wrong, chosen, strict=False):
            zxid = self.schedule[mistaken.key]
            assert zxid is not None
            if instead.lower < zxid and (instead.upper is None or zxid < instead.upper):
                out.insert(0, {mistaken.key: None, instead.key: zxid})
        return out

    def _all_at_once(self, chosen: list[Candidate], limit: int) -> list[dict[str, int | None]]:
        """A schedule with every one of ``chosen`` (after the requests sent before it on its
        connection) at the first free zxids its window allows, in the order they were sent."""
        members: list[Candidate] = []
        for candidate in chosen:
            for member in [*self._chain_all(candidate), candidate]:
                if member not in members and member.key not in self.schedule:
                    members.append(member)
        members.sort(key=lambda c: (c.op.invoke if c.op is not None else 0, c.lower))
        held = {z for z in self.schedule.values() if z is not None}
        taken = self.plan.write_zxids
        space = self.plan.space
        schedule: dict[str, int | None] = {}
        last = -1
        for member in members:
            high = limit if member.upper is None else min(limit, member.upper - 1)
            slot = space.up(max(member.lower, last) + 1)
            while slot <= high and (slot in taken or slot in held):
                slot = space.up(slot + 1)
            if slot > high:
                return []
            schedule[member.key] = last = slot
        out: list[dict[str, int | None]] = []
        # First: the scheduled unknown requests among the same zxids re-ordered with them in
        # the order all were sent (a sequential create's number shows that order).
        low = min(member.lower for member in members)
        parents = {parent_path(p) for c in chosen for p in candidate_named(c) if p != "/"}
        mixed = [
            self.by_key[key]
            for key, zxid in self.schedule.items()
            if zxid is not None
            and low < zxid <= limit
            and key in self.by_key
            and {parent_path(p) for p in candidate_named(self.by_key[key]) if p != "/"} & parents
        ]
        if mixed and all(c.kind == "op" and c.op is not None for c in mixed):
            # (the new members took zxids no scheduled candidate holds: one zxid each)
            slots = sorted(
                z for z in {*schedule.values(), *(self.schedule[c.key] for c in mixed)} if z
            )
            everyone = sorted([*members, *mixed], key=lambda c: c.op.invoke if c.op else 0)
            assert len(everyone) == len(slots), "one zxid for each request re-ordered"
            ordered: dict[str, int | None] = {}
            for candidate, zxid in zip(everyone, slots, strict=True):
                assert zxid is not None
                if zxid <= candidate.lower or (
                    candidate.upper is not None and zxid >= candidate.upper
                ):
                    break
                ordered[candidate.key] = zxid
            else:
                out.append(ordered)
        if self._make_room(schedule):
            out.append(schedule)
        return out

    def _chain_all(self, candidate: Candidate) -> list[Candidate]:
        """Every unknown write sent before ``candidate`` on its connection, in order."""
        chain: list[Candidate] = []
        key = candidate.after
        while key is not None and key in self.by_key:
            earlier = self.by_key[key]
            chain.append(earlier)
            key = earlier.after
        chain.reverse()
        return chain

    def _anywhere(
        self, candidate: Candidate, limit: int, hints: list[int], count: int
    ) -> list[dict[str, int | None]]:
        """Schedules placing ``candidate`` (and the requests sent before it on its connection)
        at free zxids below ``limit``, also below the replay's floor: at a hinted zxid, or at
        the first free ones — first among the zxids no scheduled candidate holds, then among
        all, where a scheduled candidate in the way moves to the next free zxid.

        The zxids no scheduled candidate holds come first because the schedule was built by
        earlier failures, each placing a candidate where an observation showed it: several
        unknown requests that took effect at consecutive zxids (a leader that proposed them
        while cut off from its followers, and committed them on healing) are found one by
        one, each beside the others, not by pushing the ones already found aside."""
        chain = [*self._chain_all(candidate), candidate]
        keys = [c.key for c in chain]
        hints = self._hints_for(candidate, hints)
        low = min(c.lower for c in chain)
        high = limit if candidate.upper is None else min(limit, candidate.upper - 1)
        taken = self.plan.write_zxids
        free: list[int] = []
        space = self.plan.space
        slot = space.up(low + 1)
        while slot <= high and len(free) < 4 * SLOTS_PER_CANDIDATE_MAX:
            if slot not in taken:
                free.append(slot)
            slot = space.up(slot + 1)
        held = {z for k, z in self.schedule.items() if z is not None and k not in keys}
        unheld = [slot for slot in free if slot not in held]
        size = len(chain)
        starts: list[tuple[list[int], int]] = []
        for slots in (unheld, free):  # at a hinted zxid first, then at the first free ones
            for hint in hints:
                if hint in slots and slots.index(hint) >= size - 1:
                    starts.append((slots, slots.index(hint) + 1 - size))
        starts += [(unheld, 0), (unheld, 1), (free, 0), (free, 1)]
        out: list[dict[str, int | None]] = []
        for slots, start in starts:
            if start + size > len(slots):
                continue
            schedule: dict[str, int | None] = dict(
                zip(keys, slots[start : start + size], strict=True)
            )
            if schedule not in out and self._make_room(schedule):
                out.append(schedule)
            if len(out) >= count:
                break
        return out

    def _make_room(self, schedule: dict[str, int | None]) -> bool:
        """Move scheduled candidates whose zxid ``schedule`` takes to the next free zxid."""
        used = {z for z in schedule.values() if z is not None}
        others = {k: z for k, z in self.schedule.items() if k not in schedule and z is not None}
        used |= set(others.values())
        for key, zxid in sorted(others.items(), key=lambda item: item[1]):
            if zxid not in {z for k, z in schedule.items() if k != key}:
                continue
            moved = self.by_key.get(key)
            if moved is None:
                return False
            space = self.plan.space
            slot = space.up(zxid + 1)
            bound = moved.upper if moved.upper is not None else zxid + 4 * SLOTS_PER_CANDIDATE_MAX
            if moved.deadline is not None:
                bound = min(bound, moved.deadline + 1)
            while slot < bound and (slot in used or slot in self.plan.write_zxids):
                slot = space.up(slot + 1)
            if slot >= bound:
                return False
            schedule[key] = slot
            used.add(slot)
        return True

    # --- explanations --------------------------------------------------------------------

    @property
    def versions(self) -> dict[str, list[tuple[int, Znode | None]]]:
        """Per znode, its changes in replay order (built from ``changes`` when asked)."""
        built, versions = self._versions
        if built != len(self.changes):
            versions = {}
            for path, zxid, node in self.changes:
                versions.setdefault(path, []).append((zxid, node))
            self._versions = (len(self.changes), versions)
        return versions

    def node_at(self, path: str, zxid: int) -> Znode | None:
        """The znode at ``path`` after every transaction up to ``zxid`` (as replayed)."""
        history = self.versions.get(path)
        base = self.base_nodes.get(path)
        if not history:
            return base
        position = bisect_right([z for z, _ in history], zxid)
        return history[position - 1][1] if position > 0 else base

    def change_zxids(self, path: str) -> list[int]:
        return [z for z, _ in self.versions.get(path, [])]

    def read_at(self, op: Op, zxid: int) -> rq.Reply | None:
        """What the spec answers ``op`` (a read) at ``zxid``, from the replayed versions."""
        paths = _read_paths(op.op)
        if paths is None:
            return None
        nodes = {p: n for p in paths if (n := self.node_at(p, zxid)) is not None}
        state = replace(self.m.state, nodes=nodes, data_watches={}, child_watches={})
        state.last_zxid = zxid
        session = Session(op.session, bytes(16), 10_000, 1 << 62, True, op.auth_ids)
        state.sessions = {op.session: session}
        try:
            _, outcome = step(state, rq.Call(op.session, op.op))
        except InputError:
            return None
        return outcome.reply


# --- the plan shared by all replays of one history -------------------------------------------


def _before(zxid: int) -> int:
    counter = zxid_counter(zxid)
    return make_zxid(zxid_epoch(zxid), counter - 1) if counter > 0 else zxid - 1


def _choices(sizes: list[int]) -> list[tuple[int, ...]]:
    """Index tuples into each mandatory candidate's slots: the first of each, then variations."""
    if not sizes:
        return [()]
    first = tuple(0 for _ in sizes)
    out = [first]
    for number, size in enumerate(sizes):
        for pick in range(1, min(size, 4)):
            out.append((*first[:number], pick, *first[number + 1 :]))
    return out


def _candidate_text(candidate: Candidate) -> str:
    if candidate.kind == "op" and candidate.op is not None:
        return f"request #{candidate.op.id} (outcome unknown)"
    if candidate.kind == "end":
        return f"the end of session 0x{candidate.session:x}"
    return f"reaping {candidate.path}"


def _read_paths(op: rq.Operation) -> list[str] | None:
    if isinstance(op, rq.Exists | rq.GetData | rq.GetChildren | rq.GetACL):
        return ["/" if op.path == "" else op.path]
    if isinstance(op, rq.MultiRead):
        return [
            "/" if getattr(o, "path", "") == "" else str(getattr(o, "path", "")) for o in op.ops
        ]
    return None


def replay_all(index: HistoryIndex, base: State, notification_zxid: bool) -> ReplayResult:
    """Replay with lazy placement; on failure, rerun with other placements (bounded).

    Best first: the alternatives of the replay that got furthest are tried first. Each
    alternative resumes from the last checkpoint of the replay that proposed it before the
    first observation it can change (``resume_index``).
    """
    plan = make_plan(index, base, notification_zxid)
    reach = _reach(plan)
    at_observation = {op.id: number for number, op in enumerate(plan.observations)}
    queue: list[tuple[int, int, dict[str, int | None], Replay | None]] = [(0, 0, {}, None)]
    tried: set[tuple[tuple[str, int | None], ...]] = set()
    first: Replay | None = None
    best: Replay | None = None  # the failing replay that got furthest
    runs = 0
    order = 0
    exhausted = False
    steps = 0
    resumable: list[Replay] = []
    while queue and runs < RUNS_MAX and steps < REPLAY_STEPS_MAX:
        _, _, schedule, parent = heapq.heappop(queue)
        key = tuple(sorted(schedule.items()))
        if key in tried:
            continue
        tried.add(key)
        runs += 1
        checkpoints: list[Checkpoint] = []
        if parent is not None:
            start = resume_index(parent, schedule, reach, at_observation)
            checkpoints = parent.checkpoints[: bisect_right(parent.checkpoints, start, key=_index)]
        replay = Replay.resume(index, base, plan, schedule, checkpoints)
        begun = (replay.observations, replay.trials)
        replay.run()
        steps += replay.observations - begun[0] + replay.trials - begun[1]
        if replay.failure is None:
            return ReplayResult(replay, None, runs, False, plan)
        exhausted = exhausted or replay.exhausted
        if first is None:
            first = best = replay
        elif best is not None and replay.observations > best.observations:
            if best is not first:
                best.release()
            best = replay
        else:
            replay.release()
        for alternative in replay.failure_alternatives:
            order += 1
            heapq.heappush(
                queue, (-replay.observations, order, {**schedule, **alternative}, replay)
            )
        resumable.append(replay)
        if len(resumable) > REPLAYS_RESUMABLE_MAX:
            resumable.sort(key=lambda r: r.observations)
            resumable.pop(0).checkpoints = []
    assert first is not None and best is not None
    undecided = exhausted or (first.failure_involves_unknowns and (bool(queue) or runs > 1))
    # The first replay's failure is reported when no placement got past it; else the
    # furthest one's, which is where the search gave up.
    shown = best if undecided else first
    return ReplayResult(shown, shown.failure, runs, undecided, plan)


def resume_index(
    parent: Replay,
    schedule: dict[str, int | None],
    reach: list[int],
    at_observation: dict[int, int],
) -> int:
    """The first observation at which a replay under ``schedule`` may differ from ``parent``.

    A replay is a deterministic function of its schedule, and the schedule is read in three
    places only: at the start (a candidate scheduled ``None`` is left out, with the requests
    its connection sent after it), where a scheduled candidate becomes due (the first
    observation whose zxid reaches the candidate's), and in searches (a scheduled candidate
    is not tried elsewhere; a trial that failed changed nothing but the trial count). So the
    two agree up to the first observation where a candidate whose entry changed was due
    under either schedule or was placed by ``parent``.
    """
    placed_at = {
        p.candidate.key: (
            at_observation[p.revealed_by] if p.revealed_by is not None else len(reach)
        )
        for p in parent.placements
    }
    start = len(reach)
    for key, zxid in schedule.items():
        before = parent.schedule.get(key, -1)
        if key in parent.schedule and before == zxid:
            continue
        if before is None:
            return 0  # left out before, not now: candidates come back from the start
        if zxid is not None:
            start = min(start, bisect_left(reach, zxid))
        if key in placed_at:
            start = min(start, placed_at[key])
    for key in parent.schedule:
        if key not in schedule:
            return 0  # a schedule only grows along a chain of replays; be safe if not
    return start


def _reach(plan: ReplayPlan) -> list[int]:
    """Per observation, the highest zxid a scheduled candidate may take by then (the running
    maximum of the observations' limits: ``Replay._process``)."""
    out: list[int] = []
    highest = -1
    for op in plan.observations:
        at = position(op)
        highest = max(highest, at - 1 if op.is_write else at)
        out.append(highest)
    return out


def _index(checkpoint: Checkpoint) -> int:
    return checkpoint.index


def _copy_notes(notes: ConnNotes) -> ConnNotes:
    return ConnNotes(
        list(notes.strict),
        list(notes.loose),
        list(notes.loose_used),
        notes.arrived_cursor,
        notes.strict_cursor,
    )


@dataclass
class ReplayResult:
    replay: Replay  # the successful run, or the first failing one
    failure: Mismatch | None
    runs: int
    undecided: bool  # the search budget ran out before every placement was tried
    plan: ReplayPlan
