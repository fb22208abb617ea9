"""Chapter: the ensemble — what clients see of several servers.

Every chapter before this one describes one server. An ensemble is several servers that
apply one sequence of transactions, in zxid order, each at its own pace, while each client
talks to one of them at a time. The sequential model still describes every server: a
server's state is the spec's state after a prefix of that one sequence. What this chapter
adds is which prefix a client may be shown, and when; its functions are the rules the
conformance checker applies to a history recorded against an ensemble
(``conformance.ordering``), and the rules zkref's quorum code is tested against.

Rules
-----
* **One sequence, many copies.** The leader orders every write (``Leader.propose``); a
  transaction is applied only once it is committed (a quorum has logged it), and every server
  applies the committed ones in zxid order. A reply's header zxid says which prefix answered
  it: a write's reply carries the write's own zxid, every other reply the last zxid the
  answering server had applied (``FinalRequestProcessor.processRequest``:
  ``zks.getZKDatabase().getDataTreeLastProcessedZxid()``). Followers lag behind the leader,
  so a read at one server may miss a write that another server has already acknowledged.
* **Reads never go back for a session.** The client keeps the largest zxid of any reply it
  received (``ClientCnxn.SendThread.readResponse``: ``lastZxid``, from replies with a
  positive zxid) and sends it as ``lastZxidSeen`` in every ConnectRequest. A server whose
  last applied zxid is older closes the connection without an answer, and the client tries
  the next server (``ZooKeeperServer.processConnectRequest``: "Refusing session request for
  client ... as it has seen zxid ... client must try another server";
  ``connect_refused``). On one connection the server's state only grows. So every reply a
  session gets comes from a state at least as new as anything the session has seen, and a
  write it sends is ordered after all of it (``reply_allowed``).
* **sync, as Apache ZooKeeper does it.** A follower forwards a sync to the leader
  (``FollowerRequestProcessor``: ``pendingSyncs``, ``Learner.request``). The leader answers
  with a SYNC packet at once if it has no proposal outstanding, else when the last proposal
  it had made when the sync arrived commits (``Leader.processSync``: ``pendingSyncs`` keyed by
  ``lastProposed``; ``Leader.tryToCommit``). The follower answers its client when SYNC
  arrives (``Follower.processPacket`` → ``FollowerZooKeeperServer.sync``), after every COMMIT
  the leader sent before it, and holds the session's later requests until then
  (``CommitProcessor``: a sync needs its commit at a follower). At the leader itself a sync
  passes like a read (``CommitProcessor.needCommit``: ``matchSyncs`` is false in the leader's
  pipeline). The reply is ``SyncResponse(path)`` with the answering server's last zxid.
* **sync is not a quorum operation.** It catches the server up with its *leader*, and the
  leader does not ask anyone whether it still leads. A leader cut off in a minority goes on
  answering syncs — its own clients' and its followers' — until it notices that its quorum
  is gone (no quorum of followers heard from for syncLimit ticks: ``Leader.lead``, "Not
  sufficient followers synced"), while the majority may already have elected a new leader
  that acknowledges writes such a sync does not see (ZOOKEEPER-1675, open for years). The
  programmer's guide tells a client that must see another client's update to "call the
  sync() method ... before it performs its read" (Consistency Guarantees); that holds only
  while the leader keeps its quorum, which a history cannot show. So Apache ZooKeeper's
  guarantee, ``Guarantee.ZOOKEEPER``, holds a sync to the session's order only, never to
  real time.
* **zkref's quorumSync.** With ``quorumSync=true`` (``spec.state.Config.quorum_sync``; off by
  default, Apache has no such setting: ``DIVERGENCES.md``) the leader answers a sync only
  once a quorum, itself included, has confirmed after the sync arrived that it still leads
  its epoch (``reference.quorum.leader``). Then a sync, and every read sent after it on the
  same session, sees every write completed before the sync was sent:
  ``Guarantee.SYNC_LINEARIZABLE``. The reads themselves still lag; only sync-then-read is
  linearizable.
* **One server is its own quorum.** A standalone server (or a history whose clients all talk
  to one server that never lost its leader) answers every read from a state that holds every
  write acknowledged before the read was sent: ``Guarantee.LINEARIZABLE``.
* **SESSIONMOVED.** A session belongs to the server it last connected to: re-attaching at a
  follower makes that follower its owner at the leader (REVALIDATE: ``Leader.revalidateSession``
  → ``setOwner(id, learnerHandler)``), re-attaching at the leader makes the leader its owner
  (``LeaderZooKeeperServer.revalidateSession``: ``setOwner(id, ServerCnxn.me)``). The old
  connection may still be open at the old server (the client gave up on it, a packet was
  delayed). The leader checks the owner of every request it prepares
  (``PrepRequestProcessor``: ``sessionTracker.checkSession(sessionId, owner)`` →
  ``SessionMovedException``), which is every request of its own clients and every write and
  sync a follower forwards. A write of a moved session becomes an error transaction
  SESSIONMOVED — it takes a zxid like any failed write — and the server holding the old
  connection closes it without a reply (``FinalRequestProcessor``: ``catch
  (SessionMovedException e) { cnxn.sendCloseSession(); }`` — "session moved is a connection
  level error", ZOOKEEPER-710; ``NIOServerCnxn.sendCloseSession`` closes the socket). At the
  leader a read, sync or ping of a moved session closes the connection the same way, taking
  no zxid. At a follower, reads, pings and watch requests never reach the leader and are
  answered from the follower's state; a forwarded sync is answered OK (the leader's failed
  check marks only its own copy of the request, and it still sends SYNC). closeSession is
  never checked ("the session expiration thread queues up this operation without being the
  session owner"): from the old connection it closes the session everywhere. So error code
  SESSIONMOVED (-118) never reaches the wire: clients see a closed connection, which the Java
  client takes for connection loss ("Clients normally do not see this error", programmer's
  guide, Sessions). ``moved_session_request`` is this table.
* **Connection loss and re-attach elsewhere.** A server that stops leading or following
  closes every client connection (``Learner.shutdown``, ``Leader.shutdown`` →
  ``QuorumPeer.closeAllConnections``); while it looks for a leader it serves no one. The
  client re-attaches at any server with its session id, password and lastZxidSeen. The
  password is a function of the session id (``spec.sessions.password_for``), so every server
  checks it alike; a follower then asks the leader whether the session lives (REVALIDATE:
  ``Learner.validateSession``; ``Leader.revalidateSession``: ``checkIfValidGlobalSession``
  touches it). A session that re-attaches within its timeout keeps its ephemerals, and its
  watches once the client sends setWatches; a leader that takes over gives every session a
  full timeout from the moment it starts tracking them (``SessionTrackerImpl``'s
  constructor calls ``trackSession`` for each of ``getSessionWithTimeOuts``), so an
  election costs no session its life unless it outlasts that timeout.
* **Expiry is the leader's alone.** Followers never expire a session: they note the packets
  of their own clients and send the touched sessions to the leader in every ping reply
  (``LearnerSessionTracker.snapshot``, ``Learner.ping``). The leader alone runs the expiry
  clock (``LeaderSessionTracker``, ``SessionTrackerImpl.run``) and expires a session by
  proposing closeSession like a client's (``ZooKeeperServer.expire`` → ``close``), so every
  server deletes its ephemerals at one and the same zxid. A client learns of it only when it
  re-attaches (timeout 0: ``spec.sessions``); a client cut off with a minority sees connection
  loss, never an expiry, until it reaches a server of the majority.

Source: ``ClientCnxn``, ``ZooKeeperServer.processConnectRequest``/``revalidateSession``,
``Leader.processSync``/``revalidateSession``, ``FollowerRequestProcessor``,
``FollowerZooKeeperServer.sync``, ``CommitProcessor.needCommit``, ``PrepRequestProcessor``,
``FinalRequestProcessor``, ``SessionTrackerImpl.checkSession``, ``NIOServerCnxn``,
``Learner.shutdown``; ZOOKEEPER-710, ZOOKEEPER-1675; etcd's ReadIndex (Raft thesis §6.4)
for the quorum round of ``quorumSync``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from spec.opcodes import WRITE_OPCODES, OpCode


class Guarantee(StrEnum):
    """What the replies of a server (or an ensemble) promise beyond its sessions' order.

    The values are the conformance checker's modes (``conformance.checker.MODES``).
    """

    # Apache ZooKeeper's ensemble: every session's replies are in one order, never going
    # back; a sync is held to nothing more (ZOOKEEPER-1675).
    ZOOKEEPER = "zookeeper"
    # zkref's quorumSync=true: a sync, and every read sent after it on the same session,
    # sees every write completed before the sync was sent.
    SYNC_LINEARIZABLE = "sync-linearizable"
    # One server: every read sees every write completed before the read was sent.
    LINEARIZABLE = "linearizable"

    @property
    def syncs_are_linearizable(self) -> bool:
        return self is not Guarantee.ZOOKEEPER

    @property
    def reads_are_linearizable(self) -> bool:
        return self is Guarantee.LINEARIZABLE


def guarantee_of(servers: int, quorum_sync: bool) -> Guarantee:
    """What a deployment promises: one server is linearizable; an ensemble is Apache's,
    unless its servers run with ``quorumSync=true``."""
    assert servers >= 1
    if servers == 1:
        return Guarantee.LINEARIZABLE
    return Guarantee.SYNC_LINEARIZABLE if quorum_sync else Guarantee.ZOOKEEPER


def connect_refused(last_zxid_seen: int, server_last_zxid: int) -> bool:
    """``processConnectRequest``: a client that has seen a newer state than the server's is
    refused — the connection is closed without an answer, new session or re-attach alike."""
    return last_zxid_seen > server_last_zxid


def reply_allowed(is_write: bool, reply_zxid: int, seen: int) -> bool:
    """A session's reply against ``seen``, the newest zxid the session had seen when it sent
    the request: a read (sync included) comes from a state at least that new, a write is
    ordered after it."""
    return reply_zxid > seen if is_write else reply_zxid >= seen


def read_floor(guarantee: Guarantee, seen: int, before_sync: int, before_read: int) -> int:
    """The oldest state, as a zxid, from which a read may be answered.

    ``seen`` is the newest zxid its session had seen when the read was sent (its
    lastZxidSeen); ``before_sync`` the newest zxid among the writes completed — acknowledged
    to any client — before the last successful sync sent on the session no later than the
    read was sent (the read itself, if it is a sync; 0 if there is none); ``before_read``
    the same for the writes completed before the read was sent. A server may answer the read
    from any state whose last zxid is at least this.
    """
    floor = seen
    if guarantee.syncs_are_linearizable:
        floor = max(floor, before_sync)
    if guarantee.reads_are_linearizable:
        floor = max(floor, before_read)
    return floor


@dataclass(frozen=True, slots=True)
class MovedAnswer:
    """What a request on the old connection of a session that moved to another server gets."""

    answered: bool  # a reply comes, from the old server's state
    takes_zxid: bool  # an error transaction SESSIONMOVED is logged (or the close itself)
    connection_closed: bool  # the old server closes the old connection, without a reply
    session_closed: bool = False  # the session itself ends (closeSession is never checked)


# Requests a follower answers itself, never showing them to the leader.
_FOLLOWER_LOCAL = frozenset(
    {
        OpCode.exists,
        OpCode.getData,
        OpCode.getACL,
        OpCode.getChildren,
        OpCode.getChildren2,
        OpCode.getAllChildrenNumber,
        OpCode.getEphemerals,
        OpCode.multiRead,
        OpCode.ping,
        OpCode.setWatches,
        OpCode.setWatches2,
        OpCode.checkWatches,
        OpCode.removeWatches,
        OpCode.addWatch,
        OpCode.whoAmI,
    }
)
# Writes a client sends on an established session (createSession and closeSession aside).
_CLIENT_WRITES = WRITE_OPCODES - {
    OpCode.createSession,
    OpCode.closeSession,
    OpCode.deleteContainer,
}


def moved_session_request(opcode: OpCode, at_leader: bool) -> MovedAnswer:
    """The SESSIONMOVED rule (module docstring): a request of a session that re-attached at
    another server, arriving on its old connection at the leader or at a follower.
    ``ValueError`` for an opcode clients do not send on an established session."""
    if opcode == OpCode.closeSession:
        return MovedAnswer(
            answered=True, takes_zxid=True, connection_closed=True, session_closed=True
        )
    if opcode == OpCode.auth:
        # ZooKeeperServer.processPacket answers an auth packet before any processor sees it.
        return MovedAnswer(answered=True, takes_zxid=False, connection_closed=False)
    if opcode in _CLIENT_WRITES:
        return MovedAnswer(answered=False, takes_zxid=True, connection_closed=True)
    if opcode != OpCode.sync and opcode not in _FOLLOWER_LOCAL:
        raise ValueError(f"{opcode!r} is not a request of an established session")
    if at_leader:
        return MovedAnswer(answered=False, takes_zxid=False, connection_closed=True)
    return MovedAnswer(answered=True, takes_zxid=False, connection_closed=False)


__all__ = [
    "Guarantee",
    "MovedAnswer",
    "connect_refused",
    "guarantee_of",
    "moved_session_request",
    "read_floor",
    "reply_allowed",
]
