"""What a quorum peer asks its driver to send, and how connections are named.

These are the values in ``Ready.send`` (``reference.ready``): each is carried out only after
every persist of the same and earlier Readies is durable, in order — except a ``QuorumSend``
marked ``after_persists=False``, which promises nothing about this server's disk and so need
not wait for it (a leader's PROPOSAL, COMMIT and PING; a follower's ACK of a proposal once
``persisted`` said it is durable, its forwarded requests and PING replies): it still goes
after every earlier send on the same connection.

Connections. Election messages are addressed to server ids: the driver keeps one election
connection per pair of servers (``QuorumCnxManager``) and may drop messages while none is
up (the election resends). Quorum connections are named by an ``int``: a follower dials its
leader (``QuorumConnect``, with a negative id the peer chooses) and the driver reports
``quorum_connected`` or ``quorum_closed``; a leader is told of connections it accepted
(``quorum_accepted``, with a positive id the driver chooses). Either side closes with
``QuorumClose``; a closed connection delivers nothing more, as TCP promises.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
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
    """Write a packet (or, after SNAP, the snapshot and its signature) on ``conn``.

    ``after_persists``: whether it waits until what was asked to persist before it is
    durable (the Ready contract's default). False for a packet that claims nothing about
    this server's disk: Apache's leader sends a PROPOSAL before logging it itself
    (``Leader.propose``; its own ack comes from ``SyncRequestProcessor`` like a follower's),
    and its learners write REQUEST, PING and ACK from different threads, never waiting for
    one another (``Learner.writePacket``).
    """

    conn: int
    packet: QuorumPacket | ApacheSnapshot
    after_persists: bool = True


@dataclass(frozen=True, slots=True)
class QuorumClose:
    """Close quorum connection ``conn`` once what was sent on it before is written."""

    conn: int


Send = ElectionSend | QuorumConnect | QuorumSend | QuorumClose


def connection_of(send: Send) -> tuple[str, int]:
    """The connection a send goes on: sends on one connection keep their order; sends on
    different connections have none between them (TCP gives none either)."""
    if isinstance(send, ElectionSend):
        return ("election", send.to)
    return ("quorum", send.conn)


def waits_for_persists(send: Send) -> bool:
    """Whether ``send`` waits for the persists asked before it (``QuorumSend.after_persists``;
    every other send does)."""
    return not isinstance(send, QuorumSend) or send.after_persists


class SendGate:
    """The Ready contract's hold on sends, for a driver (``reference.ready``).

    ``admit`` takes a Ready's sends with the count of persists asked so far (this Ready's
    included) and the count durable; it returns the sends that may go now and keeps the
    others. ``release`` returns, once more persists are durable, the kept sends that may go.
    A send waits until the persists asked before it are durable (unless it need not:
    ``waits_for_persists``) and until every earlier send on its connection went.
    """

    __slots__ = ("held",)

    def __init__(self) -> None:
        # Per connection, in order: (persists that must be durable first, send).
        self.held: dict[tuple[str, int], deque[tuple[int, Send]]] = {}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self.held.values())

    def admit(self, sends: Iterable[Send], asked: int, done: int) -> list[Send]:
        now: list[Send] = []
        held = self.held
        for send in sends:
            key = connection_of(send)
            needs = asked if waits_for_persists(send) else 0
            queue = held.get(key)
            if queue is None and needs <= done:
                now.append(send)
            elif queue is None:
                held[key] = deque([(needs, send)])
            else:
                queue.append((needs, send))
        return now

    def release(self, done: int) -> list[Send]:
        ready: list[Send] = []
        held = self.held
        for key in list(held):
            queue = held[key]
            while queue and queue[0][0] <= done:
                ready.append(queue.popleft()[1])
            if not queue:
                del held[key]
        return ready

    def clear(self) -> None:
        self.held.clear()
