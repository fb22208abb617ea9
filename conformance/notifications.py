"""Notifications: which events a connection must receive, and matching what arrived.

The replay (``conformance.replay``) learns from the spec which events each connection is
sent, and when. ``ConnNotes`` keeps them per connection: *strict* ones (fired by an observed
transaction: they must arrive, in order — except the deletes of one closing session, whose
order is a hash set's) and *loose* ones (fired by a transaction the checker had to place
itself: its zxid is a guess, so they may arrive, anywhere, at most once). ``ConnNotes.match``
compares them with the notifications that arrived before a reply, and names the problem:
missing, unexpected (a watch firing twice or never armed), late (after a reply that already
showed the state after the change) or out of order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conformance.history import NotificationEvent
from spec.events import EventType


@dataclass(frozen=True, slots=True)
class Expected:
    """A notification the spec says a connection receives."""

    type: int
    path: str
    zxid: int  # the triggering transaction (-1: fired by setWatches)
    cause: int | None  # the op id of the transaction (None: an unobserved one)
    group: int  # events of one step share a group
    unordered: bool  # a session's close deletes its ephemerals in no promised order


@dataclass
class NoteProblem:
    kind: str  # "watch-missing", "watch-unexpected", "watch-late", "watch-order"
    conn: int
    expected: Expected | None
    arrived: NotificationEvent | None
    detail: str


@dataclass
class ConnNotes:
    strict: list[Expected] = field(default_factory=list)
    loose: list[Expected] = field(default_factory=list)
    loose_used: list[bool] = field(default_factory=list)
    arrived_cursor: int = 0
    strict_cursor: int = 0

    def snapshot(self) -> tuple[int, int, tuple[bool, ...], int, int]:
        return (
            len(self.strict),
            len(self.loose),
            tuple(self.loose_used),
            self.arrived_cursor,
            self.strict_cursor,
        )

    def restore(self, saved: tuple[int, int, tuple[bool, ...], int, int]) -> None:
        strict_len, loose_len, used, self.arrived_cursor, self.strict_cursor = saved
        del self.strict[strict_len:]
        del self.loose[loose_len:]
        self.loose_used = list(used)

    # --- the replay -----------------------------------------------------------------------------

    def match(
        self,
        conn: int,
        arrived: list[NotificationEvent],
        *,
        profile_zxid: bool,
        complete: bool,
        later: list[NotificationEvent],
    ) -> NoteProblem | None:
        """Match arrivals to expectations: strict ones in order (a session close's deletes in
        any order), loose ones anywhere. ``complete``: every strict one must have arrived."""
        strict = self.strict[self.strict_cursor :]
        cursor = 0
        used_loose: list[int] = []
        for note in arrived:
            if cursor < len(strict):
                group = strict[cursor].group
                group_end = cursor
                while group_end < len(strict) and strict[group_end].group == group:
                    group_end += 1
                window = (
                    range(cursor, group_end)
                    if strict[cursor].unordered
                    else range(cursor, cursor + 1)
                )
                hit = next((i for i in window if same(note, strict[i], profile_zxid)), None)
                if hit is not None:
                    strict[cursor], strict[hit] = strict[hit], strict[cursor]
                    cursor += 1
                    continue
            loose = next(
                (
                    i
                    for i, e in enumerate(self.loose)
                    if not self.loose_used[i] and i not in used_loose and same(note, e, None)
                ),
                None,
            )
            if loose is not None:
                used_loose.append(loose)
                continue
            return _classify(conn, note, strict, cursor, arrived, profile_zxid)
        if complete and cursor < len(strict):
            missing = strict[cursor]
            late = next((n for n in later if same(n, missing, profile_zxid)), None)
            if late is not None:
                return NoteProblem(
                    "watch-late",
                    conn,
                    missing,
                    late,
                    f"{event_text(missing)} arrived (frame {late.recv}) only after a reply "
                    f"showing the state after the change",
                )
            return NoteProblem(
                "watch-missing",
                conn,
                missing,
                None,
                f"{event_text(missing)} never arrived on connection {conn}, although a later "
                f"reply on it shows the state after the change",
            )
        for i in used_loose:
            self.loose_used[i] = True
        return None


def _classify(
    conn: int,
    note: NotificationEvent,
    strict: list[Expected],
    cursor: int,
    arrived: list[NotificationEvent],
    profile_zxid: bool,
) -> NoteProblem:
    """Why ``note`` does not fit: an expected event was skipped, or nothing explains it."""
    ahead = next(
        (e for e in strict[cursor + 1 :] if same(note, e, profile_zxid)),
        None,
    )
    if ahead is not None and cursor < len(strict):
        missing = strict[cursor]
        if any(same(n, missing, profile_zxid) for n in arrived):
            return NoteProblem(
                "watch-order",
                conn,
                missing,
                note,
                f"{note_text(note)} arrived before {event_text(missing)}, out of zxid order",
            )
        return NoteProblem(
            "watch-missing",
            conn,
            missing,
            note,
            f"{event_text(missing)} never arrived, but the later {note_text(note)} did",
        )
    return NoteProblem(
        "watch-unexpected",
        conn,
        None,
        note,
        f"{note_text(note)}: no armed watch explains it (a one-shot watch fires once, "
        f"and only for a change made while it was armed)",
    )


def same(note: NotificationEvent, expected: Expected, profile_zxid: bool | None) -> bool:
    if note.type != expected.type or note.path != expected.path:
        return False
    if profile_zxid is None:
        return True
    wire_zxid = expected.zxid if profile_zxid else -1
    return note.zxid == wire_zxid


def event_text(expected: Expected) -> str:
    try:
        name = EventType(expected.type).name
    except ValueError:
        name = str(expected.type)
    cause = f" (from #{expected.cause})" if expected.cause is not None else ""
    zxid = f" at zxid 0x{expected.zxid:x}" if expected.zxid >= 0 else " (setWatches)"
    return f"{name} {expected.path}{zxid}{cause}"


def note_text(note: NotificationEvent) -> str:
    try:
        name = EventType(note.type).name
    except ValueError:
        name = str(note.type)
    return f"notification {name} {note.path} (frame {note.recv}, zxid {note.zxid})"
