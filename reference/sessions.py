"""The session tracker: which sessions exist, when each expires, and who holds it.

Owns the ``Session`` records of one server and, where this server decides expiry (a
standalone server, or the leader of an ensemble), the expiry buckets (``ExpiryQueue``):
a session's deadline is ``now + timeout`` rounded up to the next multiple of tickTime, so
a silent session expires between ``timeout`` and ``timeout + tickTime`` after its last
packet (``spec.sessions``). A server that does not decide expiry (a follower) only collects
*touches*, the sessions it heard from since the last ping, with their timeouts, and hands
them to the leader in its ping reply (``LearnerSessionTracker``).

Each session also carries its request queue (``pending``): what its connection sent that
must wait for an earlier write of the same session to commit, so that a session sees its
own writes and its replies come back in order (``CommitProcessor``'s per-session queue).

Must not do I/O, read a clock or touch the tree: the core tells it the time and what
committed.

Source: ``SessionTrackerImpl`` (``initializeNextSessionId``, ``touchSession``,
``setSessionClosing``), ``ExpiryQueue``, ``LearnerSessionTracker``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import IntEnum

from spec.sessions import initial_session_id, password_for, signed64


class SessionState(IntEnum):
    """Where a session is in its life, as this server knows it."""

    CREATING = 0  # its createSession txn is proposed, not committed yet
    ESTABLISHED = 1
    CLOSING = 2  # a closeSession txn is proposed (by the client or by expiry)


class Session:
    """A session: id, password, negotiated timeout, deadline, connection and queue.

    ``pending`` holds, in arrival order, the session's requests that wait: the writes it
    submitted that have not committed (``PendingWrite``) and everything that arrived after
    the oldest of them (``QueuedRequest``). It is empty or starts with a write.
    """

    __slots__ = (
        "conn_id",
        "expires_at",
        "owner",
        "password",
        "pending",
        "session_id",
        "state",
        "timeout_ms",
    )

    def __init__(self, session_id: int, timeout_ms: int, expires_at: int = 0) -> None:
        self.session_id = session_id
        self.password = password_for(session_id)
        self.timeout_ms = timeout_ms
        self.expires_at = expires_at
        self.conn_id: int | None = None
        self.state = SessionState.ESTABLISHED
        self.pending: deque[object] = deque()
        # The server whose connection holds the session, as the leader knows it (0: none
        # known); a write forwarded by another server fails SESSIONMOVED.
        self.owner = 0


class SessionTracker:
    """The sessions of one server; with ``decides_expiry``, their expiry buckets too."""

    def __init__(
        self, server_id: int, start_time_ms: int, tick_time_ms: int, decides_expiry: bool
    ) -> None:
        assert tick_time_ms > 0
        self.tick_time_ms = tick_time_ms
        self.server_id = server_id
        self.decides_expiry = decides_expiry
        self.sessions: dict[int, Session] = {}
        self._buckets: dict[int, set[int]] = {}
        # Touches heard since the last ping reply (followers): session id -> timeout.
        self.touches: dict[int, int] = {}
        self.next_session_id = signed64(initial_session_id(server_id, start_time_ms))

    def __len__(self) -> int:
        return len(self.sessions)

    def get(self, session_id: int) -> Session | None:
        return self.sessions.get(session_id)

    def created_here(self, session_id: int) -> bool:
        """Whether ``session_id`` is of this server's id space (its top byte is our id)."""
        return ((session_id & 0xFFFF_FFFF_FFFF_FFFF) >> 56) == self.server_id & 0xFF

    def advance_past(self, session_ids: Iterable[int]) -> None:
        """Never hand out an id this server handed out before (a restart within the same
        millisecond, a clock that went back). Only ids of our own space count: another
        server's sessions say nothing about our counter, and following them would hand out
        ids in its space (SessionTrackerImpl keeps to its own: the server id is the top byte).
        """
        own = [s for s in session_ids if self.created_here(s)]
        if own:
            self.next_session_id = max(self.next_session_id, max(own) + 1)

    def new_session_id(self) -> int:
        """The next id of a session created here (ids carry the server id: never shared)."""
        session_id = self.next_session_id
        self.next_session_id += 1
        return session_id

    def add(self, session_id: int, timeout_ms: int, now_ms: int) -> Session:
        """Track a session (created here, committed elsewhere, or restored from disk)."""
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session(session_id, timeout_ms)
        else:
            session.timeout_ms = timeout_ms
        self.touch(session, now_ms)
        return session

    def remove(self, session_id: int) -> Session | None:
        """Forget a session (its closeSession committed)."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self._unbucket(session)
        self.touches.pop(session_id, None)
        return session

    # --- liveness --------------------------------------------------------------------------

    def deadline(self, now_ms: int, timeout_ms: int) -> int:
        """``ExpiryQueue.roundToNextInterval(now + timeout)``."""
        tick = self.tick_time_ms
        return ((now_ms + timeout_ms) // tick + 1) * tick

    def touch(self, session: Session, now_ms: int) -> None:
        """The session was heard from at ``now_ms``."""
        if not self.decides_expiry:
            self.touches[session.session_id] = session.timeout_ms
            return
        deadline = self.deadline(now_ms, session.timeout_ms)
        if deadline == session.expires_at:
            return
        self._unbucket(session)
        session.expires_at = deadline
        self._buckets.setdefault(deadline, set()).add(session.session_id)

    def touch_remote(self, session_id: int, timeout_ms: int, now_ms: int) -> bool:
        """A follower heard from the session (a ping reply, a revalidation): False if the
        session is unknown or closing (``SessionTrackerImpl.touchSession``)."""
        session = self.sessions.get(session_id)
        if session is None or session.state == SessionState.CLOSING:
            return False
        del timeout_ms  # the leader keeps the timeout the session was created with
        self.touch(session, now_ms)
        return True

    def take_touches(self) -> dict[int, int]:
        """The touches since the last call, for a ping reply (``getTouchSnapshot``)."""
        touches, self.touches = self.touches, {}
        return touches

    def decide_expiry(self, now_ms: int) -> None:
        """Start deciding expiry (this server became the leader): every known session gets
        a full timeout from now, as a new leader's ``SessionTrackerImpl`` gives them."""
        self.decides_expiry = True
        self._buckets = {}
        self.touches = {}
        for session in self.sessions.values():
            session.expires_at = 0
            self.touch(session, now_ms)

    def stop_deciding_expiry(self) -> None:
        """This server no longer decides expiry (it follows, or looks for a leader)."""
        self.decides_expiry = False
        self._buckets = {}
        for session in self.sessions.values():
            session.expires_at = 0

    def next_expiry(self) -> int | None:
        return min(self._buckets) if self._buckets else None

    def pop_expired(self, deadline: int) -> list[Session]:
        """The sessions of the bucket at ``deadline``, in id order, out of their bucket."""
        ids = self._buckets.pop(deadline, set())
        expired = []
        for session_id in sorted(ids):
            session = self.sessions.get(session_id)
            if session is not None:
                session.expires_at = 0
                expired.append(session)
        return expired

    def buckets(self) -> dict[int, set[int]]:
        """Deadline -> session ids (``dump``)."""
        return self._buckets

    def _unbucket(self, session: Session) -> None:
        bucket = self._buckets.get(session.expires_at)
        if bucket is not None:
            bucket.discard(session.session_id)
            if not bucket:
                del self._buckets[session.expires_at]
