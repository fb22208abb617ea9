"""The spec's state, replayed in place: one state for a whole history, with an undo journal.

``spec.machine.step`` never changes the state it is given: it starts with ``state.clone()``,
which copies the whole tree. That is right for a specification and too slow for replaying a
history of thousands of operations (each step would copy every znode). ``Machine`` keeps one
state and lets ``step`` work on it directly, by handing ``step`` a state whose next ``clone``
returns the state itself; the clone inside multi (its scratch copy, which must stay a copy)
is left alone. Every change to the znode and session tables is journaled, so the checker
can try an operation (or an unobserved transaction before it) and undo it if the replies do
not match: ``mark`` → ``step``... → ``rollback`` or ``commit``.

What this module must not do: change what ``step`` computes. It relies only on ``step`` and
multi calling ``State.clone``, and on the spec changing ``nodes`` and ``sessions`` through
item assignment and ``pop``; the checker's tests replay histories both ways (in place and with
plain ``step``) and compare.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from spec.machine import step
from spec.requests import Input, Outcome
from spec.state import Session, State, WatchTable, Znode

K = TypeVar("K")
V = TypeVar("V")

_ABSENT: Any = object()


class UndoDict(dict[K, V], Generic[K, V]):
    """A dict that remembers, while journaling, the value each key had before it changed."""

    __slots__ = ("journal",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.journal: dict[K, Any] | None = None

    def __setitem__(self, key: K, value: V) -> None:
        journal = self.journal
        if journal is not None and key not in journal:
            journal[key] = dict.get(self, key, _ABSENT)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: K) -> None:
        journal = self.journal
        if journal is not None and key not in journal:
            journal[key] = dict.get(self, key, _ABSENT)
        dict.__delitem__(self, key)

    def pop(self, key: K, *default: Any) -> Any:
        journal = self.journal
        if journal is not None and key not in journal:
            journal[key] = dict.get(self, key, _ABSENT)
        return dict.pop(self, key, *default)

    def begin(self) -> None:
        self.journal = {}

    def undo(self) -> None:
        journal, self.journal = self.journal or {}, None
        for key, old in journal.items():
            if old is _ABSENT:
                dict.pop(self, key, None)
            else:
                dict.__setitem__(self, key, old)

    def end(self) -> set[K]:
        changed = set(self.journal or ())
        self.journal = None
        return changed


class ReplayState(State):
    """A ``State`` whose next ``clone`` may return itself (see the module docstring)."""

    reuse_next_clone = False

    def clone(self) -> State:
        if self.reuse_next_clone:
            self.reuse_next_clone = False
            return self
        nodes: UndoDict[str, Znode] = UndoDict(self.nodes)
        sessions: UndoDict[int, Session] = UndoDict(self.sessions)
        nodes.begin()
        sessions.begin()
        return replace(
            self,
            nodes=nodes,
            sessions=sessions,
            data_watches=_copy_table(self.data_watches),
            child_watches=_copy_table(self.child_watches),
        )


def _copy_table(table: WatchTable) -> WatchTable:
    return {path: dict(watchers) for path, watchers in table.items()}


def replay_state(state: State) -> ReplayState:
    """A ``ReplayState`` holding the same values as ``state``."""
    return ReplayState(
        config=state.config,
        now=state.now,
        last_zxid=state.last_zxid,
        nodes=UndoDict(state.nodes),
        sessions=UndoDict(state.sessions),
        data_watches=_copy_table(state.data_watches),
        child_watches=_copy_table(state.child_watches),
        next_session_id=state.next_session_id,
        next_container_check=state.next_container_check,
    )


@dataclass
class _Mark:
    base: ReplayState
    chain: list[ReplayState]
    data_watches: WatchTable
    child_watches: WatchTable
    scalars: tuple[int, int, int, int]


class Machine:
    """One spec state stepped in place, with ``mark`` / ``rollback`` / ``commit``."""

    def __init__(self, state: State) -> None:
        self.state = replay_state(state)
        self._mark: _Mark | None = None

    def step(self, request: Input) -> Outcome:
        """``spec.machine.step`` on the current state, in place (InputError propagates)."""
        state = self.state
        state.reuse_next_clone = True
        try:
            new_state, outcome = step(state, request)
        finally:
            state.reuse_next_clone = False
        if new_state is not state:
            assert isinstance(new_state, ReplayState), "step returned a foreign state"
            self.state = new_state
            if self._mark is not None:
                self._mark.chain.append(new_state)
            else:
                nodes, sessions = _journaled(new_state)
                nodes.end()
                sessions.end()
        return outcome

    def mark(self) -> None:
        """Start journaling: everything until ``rollback`` can be undone."""
        if self._mark is not None:
            self.commit()
        state = self.state
        nodes, sessions = _journaled(state)
        nodes.begin()
        sessions.begin()
        self._mark = _Mark(
            state,
            [state],
            _copy_table(state.data_watches),
            _copy_table(state.child_watches),
            (state.last_zxid, state.now, state.next_session_id, state.next_container_check),
        )

    def changed_paths(self) -> set[str]:
        """Znodes changed since ``mark`` (created, replaced or deleted)."""
        if self._mark is None:
            return set()
        changed: set[str] = set()
        for state in self._mark.chain:
            nodes, _ = _journaled(state)
            changed.update(nodes.journal or ())
        return changed

    def rollback(self) -> None:
        """Undo everything since ``mark``."""
        mark = self._mark
        assert mark is not None, "rollback without mark"
        self._mark = None
        base = mark.base
        for state in mark.chain[1:]:
            nodes, sessions = _journaled(state)
            nodes.end()
            sessions.end()
        nodes, sessions = _journaled(base)
        nodes.undo()
        sessions.undo()
        base.data_watches = mark.data_watches
        base.child_watches = mark.child_watches
        base.last_zxid, base.now, base.next_session_id, base.next_container_check = mark.scalars
        self.state = base

    def commit(self) -> set[str]:
        """Keep everything since ``mark``; returns the znodes changed."""
        changed = self.changed_paths()
        mark = self._mark
        self._mark = None
        if mark is not None:
            for state in mark.chain:
                nodes, sessions = _journaled(state)
                nodes.end()
                sessions.end()
        return changed


def _journaled(state: State) -> tuple[UndoDict[str, Znode], UndoDict[int, Session]]:
    nodes, sessions = state.nodes, state.sessions
    if not isinstance(nodes, UndoDict):
        nodes = state.nodes = UndoDict(nodes)
    if not isinstance(sessions, UndoDict):
        sessions = state.sessions = UndoDict(sessions)
    return nodes, sessions
