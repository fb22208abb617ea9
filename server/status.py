"""The server's status as one value, for the four-letter words (``server.fourletter``).

``ServerStatus`` and its parts are plain frozen dataclasses: what ``srvr``, ``mntr``,
``conf``, ``cons``, ``dump``, the watch words and ``envi`` print, and nothing about how the
server keeps it. ``ServerControls.status`` builds it, and is the only place that reads the
server's, the client core's, the tree's and the quorum peer's attributes for monitoring;
the formatter reads the value only, so it can be tested from a hand-built status.

What is costly to gather (every connection, session, watch, the data directory's size, the
process environment) is gathered only when a word asks for it (``Detail``): ``srvr``, which
monitoring asks every few seconds, never walks the watches of a large tree. ``Detail.NONE``
gives the parts that cost O(1).

``ServerControls`` also carries out the three words that change something, and only what
Apache ZooKeeper's do: ``crst`` resets the connections' counters, ``srst`` the server's
(and a leader's proposal sizes), ``stmk`` sets the trace mask.

Must not change the core's state: it only reads it.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import struct
import sys
from dataclasses import dataclass
from enum import Flag, auto
from pathlib import Path
from typing import TYPE_CHECKING

from reference.core import ZooKeeperCore
from reference.quorum.election_wire import ServerState
from reference.quorum.follower import FollowerPhase
from reference.quorum.peer import QuorumPeer
from server.version import version_for

if TYPE_CHECKING:
    from reference.watchmanager import WatchManager
    from server.clients import ClientConnection
    from server.server import ZooKeeperServer

DIRECTORY_SIZE_FILES_MAX = 100_000  # stop counting a data directory after this many files
_REQUEST_HEADER = struct.Struct(">ii")  # RequestHeader.xid, .type


class Detail(Flag):
    """What a word needs beyond the O(1) parts of the status."""

    NONE = 0
    CONNECTIONS = auto()  # every connection and its counters (stat, cons, dump)
    SESSIONS = auto()  # every session and the ephemerals (dump)
    WATCHES = auto()  # every watch, by path and session (wchs, wchc, wchp)
    MONITOR = auto()  # the tree's totals and the process's file descriptors (mntr)
    DISK = auto()  # the data directory's size (conf, dirs)
    ENVIRONMENT = auto()  # the process and the machine (envi)


@dataclass(frozen=True, slots=True)
class Counters:
    """The server's request counters (``ServerStats``): since start or the last ``srst``."""

    packets_received: int
    packets_sent: int
    latency_min_ms: int
    latency_avg_ms: float
    latency_max_ms: int


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One client connection (``ServerCnxn.dumpConnectionInfo``)."""

    address: str  # "/ip:port"
    asking: bool  # the connection that asked for this status
    reading_paused: bool
    received: int
    sent: int
    session_id: int  # 0 before the handshake
    session_timeout_ms: int  # 0 without a session
    last_cxid: int | None  # the last request's xid and opcode (None before any request)
    last_opcode: int | None
    established_ms: int
    last_zxid: int
    last_response_ms: int
    last_latency_ms: int
    latency_min_ms: int
    latency_avg_ms: int
    latency_max_ms: int


@dataclass(frozen=True, slots=True)
class SessionStatus:
    session_id: int
    timeout_ms: int
    expires_at_ms: int  # meaningful only where this server decides expiry


@dataclass(frozen=True, slots=True)
class SessionsStatus:
    """The session tracker (``dump``): with ``decides_expiry`` (standalone, leader) its
    expiry buckets are printed; a follower's (``LearnerSessionTracker``) lists the global
    sessions with their timeouts."""

    decides_expiry: bool
    sessions: tuple[SessionStatus, ...]
    ephemerals: tuple[tuple[int, tuple[str, ...]], ...]  # (session, its paths), sessions sorted


@dataclass(frozen=True, slots=True)
class WatchSummary:
    """One watch manager's totals (``WatchesSummary``)."""

    connections: int
    paths: int
    watches: int


@dataclass(frozen=True, slots=True)
class WatchesStatus:
    data: WatchSummary
    child: WatchSummary
    # path -> sessions watching it (data and child watches together), both sorted
    by_path: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    """What ``mntr`` adds to ``srvr``."""

    ephemerals_count: int
    global_sessions: int
    watch_count: int
    approximate_data_size: int
    open_file_descriptors: int  # -1 where unknown
    max_file_descriptors: int
    txn_log_batches: int
    txn_log_committed: int
    txn_log_queued: int


@dataclass(frozen=True, slots=True)
class ConfigStatus:
    """The settings ``conf`` prints (``ZooKeeperServer.dumpConf``)."""

    client_port: int
    data_dir: str  # absolute; "" without one
    tick_time_ms: int
    max_client_connections_per_ip: int
    min_session_timeout_ms: int
    max_session_timeout_ms: int
    listen_backlog: int
    server_id: int  # 0 for a standalone server, as Apache ZooKeeper's
    secure_client_port: int = -1  # getSecureClientPort: the TLS listener's port, else -1


@dataclass(frozen=True, slots=True)
class LeaderStatus:
    """A leader's view of its learners (``LeaderZooKeeperServer.registerMetrics``)."""

    learners: int  # connected learners, in any phase (``getLearners``)
    synced_followers: int  # voters that receive proposals (``getForwardingFollowers``)
    synced_non_voting_followers: int
    synced_observers: int
    pending_syncs: int  # zxids with syncs waiting for their commit (``getNumPendingSyncs``)
    uptime_ms: int  # since it started serving (``Leader.getUptime``)
    proposal_size_last_bytes: int
    proposal_size_min_bytes: int
    proposal_size_max_bytes: int


@dataclass(frozen=True, slots=True)
class QuorumStatus:
    """An ensemble's server (``QuorumZooKeeperServer``, ``QuorumPeer``)."""

    server_id: int
    peer_state: str  # "looking", "following - broadcast", ... (``getDetailedPeerState``)
    quorum_size: int  # voters (``QuorumPeer.getQuorumSize``)
    init_limit: int
    sync_limit: int
    election_algorithm: int  # 3: fast leader election, the only one
    election_port: int
    quorum_port: int
    peer_type: int  # LearnerType ordinal: 0 participant
    membership: str  # ``QuorumVerifier.toString``: the server lines, then "version=..."
    leader: LeaderStatus | None  # when leading
    # Proposals whose digest did not match our tree once applied (``digest_mismatches_count``)
    digest_mismatches: int = 0


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """Everything the four-letter words print; the parts a word did not ask for
    (``Detail``) are None."""

    version: str
    profile: str
    four_letter_whitelist: frozenset[str]
    serving: bool  # taking client requests (``ZooKeeperServer.isRunning``)
    mode: str  # standalone, leader, follower, looking (``Mode:``, ``zk_server_state``)
    zxid: int
    node_count: int  # the root counted twice, as Apache ZooKeeper's DataTree does
    outstanding: int
    connection_count: int
    counters: Counters
    uptime_ms: int
    rejected_connections: int
    throttled: bool
    internal_errors: int
    trace_mask: int
    config: ConfigStatus
    quorum: QuorumStatus | None  # an ensemble's server
    connections: tuple[ConnectionStatus, ...] | None = None
    sessions: SessionsStatus | None = None
    watches: WatchesStatus | None = None
    monitor: MonitorStatus | None = None
    data_dir_size: int | None = None
    environment: tuple[tuple[str, str], ...] | None = None


class ServerControls:
    """The four-letter words' view of one server, for the connection ``asking``."""

    def __init__(self, server: ZooKeeperServer, asking: ClientConnection) -> None:
        self._server = server
        self._asking = asking

    # --- what the words may change -------------------------------------------------------

    def reset_connection_stats(self) -> None:
        for conn in list(self._server.clients.connections.values()):
            conn.reset_stats()

    def reset_server_stats(self) -> None:
        self._server.clients.stats.reset()
        node = self._server.node
        if isinstance(node, QuorumPeer) and node.leader is not None:
            node.leader.proposal_sizes.reset()

    def set_trace_mask(self, mask: int) -> None:
        self._server.trace_mask = mask

    # --- the status ----------------------------------------------------------------------

    def status(self, details: Detail = Detail.NONE) -> ServerStatus:
        server = self._server
        config = server.config
        core = server.core
        node = server.node
        clients = server.clients
        stats = clients.stats
        peer = node if isinstance(node, QuorumPeer) else None
        now = server.clock.now_ms()
        return ServerStatus(
            version=version_for(config.profile),
            profile=config.profile.name,
            four_letter_whitelist=config.four_letter_whitelist,
            serving=True if peer is None else peer.serving,
            mode="standalone" if isinstance(node, ZooKeeperCore) else node.mode,
            zxid=core.last_zxid,
            node_count=len(core.tree.nodes) + 1,
            outstanding=server.outstanding,
            connection_count=len(clients.connections),
            counters=Counters(
                stats.packets_received,
                stats.packets_sent,
                stats.latency_min_ms,
                stats.latency_avg_ms,
                stats.latency_max_ms,
            ),
            uptime_ms=now - server.started_ms,
            rejected_connections=clients.rejected_connections,
            throttled=clients.throttled,
            internal_errors=server.internal_errors,
            trace_mask=server.trace_mask,
            config=ConfigStatus(
                client_port=server.port,
                secure_client_port=-1 if server.secure_port is None else server.secure_port,
                data_dir=str(config.data_dir.resolve()) if config.data_dir is not None else "",
                tick_time_ms=config.tick_time_ms,
                max_client_connections_per_ip=config.max_client_connections_per_ip,
                min_session_timeout_ms=config.min_session_timeout_ms_effective,
                max_session_timeout_ms=config.max_session_timeout_ms_effective,
                listen_backlog=config.listen_backlog,
                server_id=config.my_id if peer is not None else 0,
            ),
            quorum=None if peer is None else self._quorum(peer, now),
            connections=self._connections() if Detail.CONNECTIONS in details else None,
            sessions=self._sessions() if Detail.SESSIONS in details else None,
            watches=self._watches() if Detail.WATCHES in details else None,
            monitor=self._monitor() if Detail.MONITOR in details else None,
            data_dir_size=(_directory_size(config.data_dir) if Detail.DISK in details else None),
            environment=self._environment() if Detail.ENVIRONMENT in details else None,
        )

    def _quorum(self, peer: QuorumPeer, now: int) -> QuorumStatus:
        config = self._server.config
        (me,) = [s for s in config.servers if s.sid == config.my_id]
        leader = peer.leader
        leader_status = None
        if leader is not None:
            established_ms = leader.established_ms
            sizes = leader.proposal_sizes
            leader_status = LeaderStatus(
                learners=leader.learner_count(),
                synced_followers=len(leader.forwarding()),
                synced_non_voting_followers=0,  # every learner votes: observers are refused
                synced_observers=0,
                pending_syncs=len(leader.pending_syncs),
                uptime_ms=0 if established_ms is None else now - established_ms,
                proposal_size_last_bytes=sizes.last_bytes,
                proposal_size_min_bytes=sizes.min_bytes,
                proposal_size_max_bytes=sizes.max_bytes,
            )
        return QuorumStatus(
            server_id=config.my_id,
            peer_state=_peer_state(peer),
            quorum_size=len(peer.config.voters),
            init_limit=peer.config.init_limit,
            sync_limit=peer.config.sync_limit,
            election_algorithm=3,
            election_port=me.election_port,
            quorum_port=me.quorum_port,
            peer_type=0,
            membership=config.quorum_config_text().decode(),
            leader=leader_status,
            digest_mismatches=peer.digest_mismatches,
        )

    def _connections(self) -> tuple[ConnectionStatus, ...]:
        core = self._server.core
        result = []
        for conn in list(self._server.clients.connections.values()):
            core_conn = core.connections.get(conn.conn_id)
            session_id = 0 if core_conn is None else core_conn.session_id
            session = core.sessions.get(session_id) if session_id else None
            last_cxid: int | None = None
            last_opcode: int | None = None
            if len(conn.last_header) == _REQUEST_HEADER.size:
                last_cxid, last_opcode = _REQUEST_HEADER.unpack(conn.last_header)
            result.append(
                ConnectionStatus(
                    address=conn.address,
                    asking=conn is self._asking,
                    reading_paused=conn.reading_paused,
                    received=conn.received,
                    sent=conn.sent,
                    session_id=session_id,
                    session_timeout_ms=0 if session is None else session.timeout_ms,
                    last_cxid=last_cxid,
                    last_opcode=last_opcode,
                    established_ms=conn.established_ms,
                    last_zxid=conn.last_zxid,
                    last_response_ms=conn.last_response_ms,
                    last_latency_ms=conn.last_latency_ms,
                    latency_min_ms=conn.latency_min_ms,
                    latency_avg_ms=(
                        conn.latency_total_ms // conn.latency_count if conn.latency_count else 0
                    ),
                    latency_max_ms=conn.latency_max_ms,
                )
            )
        return tuple(result)

    def _sessions(self) -> SessionsStatus:
        core = self._server.core
        sessions = tuple(
            SessionStatus(s.session_id, s.timeout_ms, s.expires_at)
            for s in list(core.sessions.values())
        )
        ephemerals = tuple(
            (session_id, tuple(paths))
            for session_id, paths in sorted(core.tree.ephemerals.items())
            if paths
        )
        return SessionsStatus(core.tracker.decides_expiry, sessions, ephemerals)

    def _watches(self) -> WatchesStatus:
        core = self._server.core
        tree = core.tree
        by_path: dict[str, set[int]] = {}
        for manager in (tree.data_watches, tree.child_watches):
            for path, conn_ids in manager.watchers_by_path().items():
                sessions = by_path.setdefault(path, set())
                for conn_id in conn_ids:
                    core_conn = core.connections.get(conn_id)
                    sessions.add(core_conn.session_id if core_conn is not None else 0)
        return WatchesStatus(
            data=_watch_summary(tree.data_watches),
            child=_watch_summary(tree.child_watches),
            by_path=tuple((p, tuple(sorted(s))) for p, s in sorted(by_path.items())),
        )

    def _monitor(self) -> MonitorStatus:
        server = self._server
        core = server.core
        tree = core.tree
        committer = server.committer
        return MonitorStatus(
            ephemerals_count=sum(len(p) for p in tree.ephemerals.values()),
            global_sessions=len(core.sessions),
            watch_count=len(tree.data_watches) + len(tree.child_watches),
            approximate_data_size=tree.approximate_data_size(),
            open_file_descriptors=_open_file_descriptors(),
            max_file_descriptors=_max_file_descriptors(),
            txn_log_batches=committer.batches,
            txn_log_committed=committer.committed_txns,
            txn_log_queued=committer.queued_txns,
        )

    def _environment(self) -> tuple[tuple[str, str], ...]:
        """``envi``: the Python process where Apache ZooKeeper describes the JVM."""
        config = self._server.config
        try:
            user = getpass.getuser()
        except Exception:  # no user name in this environment
            user = "?"
        return (
            ("zookeeper.version", version_for(config.profile)),
            ("zkref.profile", config.profile.name),
            ("host.name", socket.gethostname()),
            ("python.version", platform.python_version()),
            ("python.implementation", platform.python_implementation()),
            ("python.executable", sys.executable),
            ("os.name", platform.system()),
            ("os.arch", platform.machine()),
            ("os.version", platform.release()),
            ("user.name", user),
            ("user.home", os.path.expanduser("~")),
            ("user.dir", os.getcwd()),
            ("process.pid", str(os.getpid())),
        )


def _peer_state(peer: QuorumPeer) -> str:
    """``QuorumPeer.getDetailedPeerState``: the state, then the ZAB phase unless electing,
    then the sync mode while one is under way ("following - synchronization - diff")."""
    state = peer.state
    if state == ServerState.LEADING and peer.leader is not None:
        leader = peer.leader
        if leader.established:
            phase = "broadcast"
        elif not leader.election_finished:  # a quorum has not acked the new epoch yet
            phase = "discovery"
        else:
            phase = "synchronization"
        return f"leading - {phase}"
    if state == ServerState.FOLLOWING and peer.follower is not None:
        follower = peer.follower
        if follower.phase == FollowerPhase.BROADCAST:
            return "following - broadcast"
        if follower.phase < FollowerPhase.SYNC_WAIT:
            return "following - discovery"
        # The sync mode is NONE again once NEWLEADER arrived (``Learner.syncWithLeader``).
        if follower.phase == FollowerPhase.SYNCING and follower.sync_mode:
            return f"following - synchronization - {follower.sync_mode.lower()}"
        return "following - synchronization"
    return ServerState(state).name.lower()


def _watch_summary(manager: WatchManager) -> WatchSummary:
    by_path = manager.watchers_by_path()
    connections = {c for watchers in by_path.values() for c in watchers}
    return WatchSummary(len(connections), len(by_path), sum(len(w) for w in by_path.values()))


def _directory_size(path: Path | None) -> int:
    if path is None:
        return 0
    total = 0
    seen = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            seen += 1
            if seen > DIRECTORY_SIZE_FILES_MAX:
                return total
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                continue
    return total


def _open_file_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def _max_file_descriptors() -> int:
    try:
        import resource

        return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ImportError, OSError, ValueError):
        return -1
