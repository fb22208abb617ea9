"""Chapter: sessions — how a client's liveness is tracked, and what its end does.

Rules
-----
* Handshake (``ConnectRequest``): if the client has seen a zxid newer than the server's last
  one, the server closes the socket without answering (the client must try another server:
  no client ever sees the tree go back in time). Otherwise the requested timeout is clamped
  into ``[minSessionTimeout, maxSessionTimeout]`` (defaults 2 and 20 ticks).
* New session (id 0): the server logs a createSession transaction (it takes a zxid) and
  answers the negotiated timeout, the new id and a 16-byte password. Ids start at
  ``(serverId << 56) | ((startTime << 24) >>> 8)`` and go up by one; the password is
  ``java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16)``, so any server can check it.
* Re-attach (id ≠ 0): the server first closes any connection the session still has (its
  watches and auth ids go with it), then checks the password. A wrong password or a
  session that no longer exists is answered with timeout 0, id 0 and a zeroed password, and
  the connection is closed (the client reports SESSIONEXPIRED). So a re-attach with a wrong
  password kills the session's live connection, while the session itself survives.
  A valid re-attach takes the newly negotiated timeout and is answered like a new session
  but takes no zxid.
* Liveness: every packet from the session's connection (requests and pings) touches the
  session. Its deadline is ``now + timeout`` rounded *up* to the next multiple of tickTime
  (``ExpiryQueue.roundToNextInterval``), so a silent session expires between ``timeout`` and
  ``timeout + tickTime`` after its last packet. Being connected does not keep a session
  alive; only packets do.
* Expiry and closeSession are the same transaction: it takes one zxid and deletes every
  ephemeral of the session (each delete fires NodeDeleted and the parent's
  NodeChildrenChanged under that zxid), then the session is gone and its connection closed.
  The order in which a session's ephemerals are deleted is not specified (the spec deletes
  them in path order); several sessions due at the same tick expire in session-id order
  in the spec, in no promised order in ZooKeeper.
* A closed or expired session cannot be re-attached; the client only learns of it when it
  tries (there is no push).
* Auth ids belong to the connection: every connection holds ``ip:<client address>``, and
  addAuth adds ids for the rest of that connection's life.

Source: ``ZooKeeperServer.processConnectRequest``/``createSession``/``reopenSession``/
``generatePasswd``, ``SessionTrackerImpl`` (``initializeNextSessionId``, ``touchSession``),
``ExpiryQueue``, ``PrepRequestProcessor`` (closeSession), ``DataTree.killSession``.
"""

from __future__ import annotations

from dataclasses import replace

from spec.acl import Id
from spec.events import WatchEvent
from spec.modes import NodeKind
from spec.state import Session, State
from spec.tree import delete_node
from spec.watches import drop_connection_watches

SUPER_SECRET = 0xB3415C00
PASSWORD_BYTES = 16
_MASK64 = (1 << 64) - 1


def initial_session_id(server_id: int, start_time_ms: int) -> int:
    """``SessionTrackerImpl.initializeNextSessionId`` as an unsigned 64-bit value."""
    next_sid = ((start_time_ms << 24) & _MASK64) >> 8
    next_sid |= (server_id << 56) & _MASK64
    if next_sid == 1 << 63:  # EphemeralType.CONTAINER_EPHEMERAL_OWNER as unsigned
        next_sid += 1
    return next_sid


def signed64(value: int) -> int:
    """A session id as Java's ``long`` (ids with the top bit set are negative on the wire)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


class JavaRandom:
    """``java.util.Random``: the 48-bit linear congruential generator, bit for bit."""

    _MULTIPLIER = 0x5DEECE66D
    _MASK48 = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULTIPLIER) & self._MASK48

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULTIPLIER + 0xB) & self._MASK48
        value = self._seed >> (48 - bits)
        return value - (1 << bits) if value >= 1 << (bits - 1) else value

    def next_int(self) -> int:
        return self._next(32)

    def next_bytes(self, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            rnd = self.next_int()
            for _ in range(min(length - len(out), 4)):
                out.append(rnd & 0xFF)
                rnd >>= 8
        return bytes(out)


def password_for(session_id: int) -> bytes:
    """The session password ZooKeeper gives (and later expects) for ``session_id``."""
    return JavaRandom(signed64(session_id) ^ SUPER_SECRET).next_bytes(PASSWORD_BYTES)


def negotiate_timeout(state: State, requested_ms: int) -> int:
    """Clamp the requested timeout into the server's bounds."""
    return min(max(requested_ms, state.config.min_timeout), state.config.max_timeout)


def expiry_deadline(state: State, timeout_ms: int) -> int:
    """``roundToNextInterval(now + timeout)``: the next multiple of tickTime after it."""
    tick = state.config.tick_time_ms
    return ((state.now + timeout_ms) // tick + 1) * tick


def touch(state: State, session: Session) -> Session:
    """A packet arrived from the session's connection: push its deadline out."""
    touched = replace(session, expires_at=expiry_deadline(state, session.timeout_ms))
    state.sessions[session.session_id] = touched
    return touched


def open_session(state: State, timeout_ms: int, client_address: str) -> Session:
    """Create a new session (the caller takes its zxid)."""
    session_id = state.next_session_id
    state.next_session_id += 1
    session = Session(
        session_id=session_id,
        password=password_for(session_id),
        timeout_ms=timeout_ms,
        expires_at=expiry_deadline(state, timeout_ms),
        connected=True,
        auth_ids=(Id("ip", client_address),),
        client_address=client_address,
    )
    state.sessions[session_id] = session
    return session


def close_connection(state: State, session_id: int) -> None:
    """The session's connection is gone: watches and auth ids go with it."""
    session = state.sessions.get(session_id)
    if session is None or not session.connected:
        return
    drop_connection_watches(state, session_id)
    state.sessions[session_id] = replace(session, connected=False, auth_ids=())


def reattach(
    state: State, session_id: int, password: bytes, timeout_ms: int, address: str
) -> Session | None:
    """Re-attach a session to a new connection; None when it is gone or the password is wrong."""
    close_connection(state, session_id)
    session = state.sessions.get(session_id)
    if session is None or password != session.password:
        return None
    session = replace(
        session,
        timeout_ms=timeout_ms,
        connected=True,
        auth_ids=(Id("ip", address),),
        client_address=address,
    )
    return touch(state, session)


def kill_session(state: State, session_id: int, zxid: int, events: list[WatchEvent]) -> None:
    """Apply a closeSession transaction: delete the session's ephemerals, forget it."""
    ephemerals = sorted(
        path
        for path, node in state.nodes.items()
        if node.kind is NodeKind.EPHEMERAL and node.ephemeral_owner == session_id
    )
    for path in ephemerals:
        delete_node(state, path, zxid, events)
    close_connection(state, session_id)
    state.sessions.pop(session_id, None)
