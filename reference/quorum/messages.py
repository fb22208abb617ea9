"""What a quorum peer asks its driver to send, and how connections are named.

These are the values in ``Ready.send`` (``reference.ready``): each is carried out only after
every persist of the same and earlier Readies is durable, in order.

Connections. Election messages are addressed to server ids: the driver keeps one election
connection per pair of servers (``QuorumCnxManager``) and may drop messages while none is
up (the election resends). Quorum connections are named by an ``int``: a follower dials its
leader (``QuorumConnect``, with a negative id the peer chooses) and the driver reports
``quorum_connected`` or ``quorum_closed``; a leader is told of connections it accepted
(``quorum_accepted``, with a positive id the driver chooses). Either side closes with
``QuorumClose``; a closed connection delivers nothing more, as TCP promises.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import Notification
from reference.quorum.wire import QuorumPacket


@dataclass(frozen=True, slots=True)
class ElectionSend:
    """Send an election notification to server ``to``."""

    to: int
    notification: Notification


@dataclass(frozen=True, slots=True)
class QuorumConnect:
    """Dial server ``leader``'s quorum port; the connection will be called ``conn``."""

    conn: int
    leader: int


@dataclass(frozen=True, slots=True)
class QuorumSend:
    """Write a packet (or, after SNAP, the snapshot and its signature) on ``conn``."""

    conn: int
    packet: QuorumPacket | ApacheSnapshot


@dataclass(frozen=True, slots=True)
class QuorumClose:
    """Close quorum connection ``conn`` once what was sent on it before is written."""

    conn: int


Send = ElectionSend | QuorumConnect | QuorumSend | QuorumClose
