"""What a server core asks its driver to do: persist, then send, and what clients see now.

Every state machine of ``reference`` (the client-facing core and the replication peer)
returns its effects as one value, ``Ready``, in the shape of etcd-raft's ``Ready``. The
driver (``server/`` on real sockets and disks; the simulator; tests) executes it under one
contract, the same for all of them:

1. ``persist``, in order: transactions to append to the log (``Txn``) and the other durable
   changes (``WriteAcceptedEpoch``, ``WriteCurrentEpoch``, ``TruncateLog``,
   ``InstallSnapshot``). Once every txn up to a zxid is durable, the driver calls the core's
   ``persisted(zxid)``.
2. ``send``, in order, only once everything this Ready and every earlier Ready asked to
   persist is durable, and never before an earlier Ready's sends. Messages that promise
   something about the disk (an ACK of a proposal, ACKEPOCH, the ACK of NEWLEADER) are
   therefore never sent early, and sends on a connection keep their order. A send marked as
   promising nothing about the disk (``QuorumSend.after_persists`` False) may go at once,
   but never before an earlier send on the same connection; a driver that holds it like
   the others is still correct, only slower.
3. ``clients``: frames for client connections, to write (or connections to close) now. They
   describe committed state only, so they need not wait for anything.

The gate that keeps clients from seeing what is not durable is inside the cores, not in the
drivers: a reply to a write is produced only when its transaction commits, and it commits
only once a quorum (a standalone server: itself) has it durable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference.txn import Txn
from spec.record import record


@dataclass(slots=True)
class Output:
    """Write ``data`` to client connection ``conn_id`` (then close it, when ``close``)."""

    conn_id: int
    data: bytes | None
    close: bool


@record
class WriteAcceptedEpoch:
    """Make ``acceptedEpoch`` (the last epoch this server agreed to follow) durable."""

    epoch: int


@record
class WriteCurrentEpoch:
    """Make ``currentEpoch`` (the epoch of the last NEWLEADER this server acked) durable."""

    epoch: int


@record
class TruncateLog:
    """Remove every logged txn after ``zxid`` (the leader's TRUNC)."""

    zxid: int


@record
class InstallSnapshot:
    """Replace the log and snapshots with this snapshot at ``zxid`` (the leader's SNAP).

    ``blob`` is in ``reference.persistence``'s snapshot format.
    """

    zxid: int
    blob: bytes


PersistAction = WriteAcceptedEpoch | WriteCurrentEpoch | TruncateLog | InstallSnapshot
Persist = Txn | PersistAction


@dataclass(slots=True)
class Ready:
    """Effects to carry out: persist, then send, then nothing else waits (module docstring).

    ``send`` holds the replication layer's messages (``reference.quorum.messages``); a
    standalone server sends none.
    """

    persist: list[Persist] = field(default_factory=list)
    send: list[object] = field(default_factory=list)
    clients: list[Output] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.persist or self.send or self.clients)
