"""Four-letter words: plain-text answers to monitoring commands on the client port.

A fresh connection whose first 4 bytes spell a command (``ruok``, ``srvr``, ``stat``,
``mntr``, ``cons``, ``wchs``, ...) gets the answer as text and is closed (``server.clients``
does the reading and closing). Formats follow Apache ZooKeeper 3.8's
``org.apache.zookeeper.server.command`` classes, as observed on Debian's 3.8.0 standalone and
in a three-server ensemble, so scripts written for it (``zkServer.sh status``, monitoring
agents reading ``mntr``) work unchanged.

This module formats a ``server.status.ServerStatus`` and nothing else: it reads no attribute
of the server, the core or the tree, so each word can be tested from a hand-built status.
``answer`` asks its ``Controls`` for the status with the details the word needs (``NEEDS``)
and, for ``crst``, ``srst`` and ``stmk``, for the one change the word makes.

Rules, as Apache ZooKeeper's (``NIOServerCnxn.checkFourLetterWord``, ``CommandExecutor``,
``AbstractFourLetterCommand.isZKServerRunning``):

* a word not in ``4lw.commands.whitelist`` is answered "<word> is not executed because it is
  not in the whitelist." and does nothing;
* a server that is not serving clients (an ensemble's server looking for a leader, or not yet
  synchronized with one) answers "This ZooKeeper instance is not currently serving requests"
  to every word that reads the server (``NOT_SERVING_WORDS``), "null" to ``isro``; ``ruok``,
  ``envi``, ``gtmk`` and ``stmk`` answer as always;
* an ensemble's leader adds its proposal sizes to ``srvr``/``stat``, and ``mntr`` adds the
  peer's state, the quorum size and (leader) its learners; ``conf`` adds the quorum's settings
  and membership (``QuorumZooKeeperServer.dumpConf``).

Differences worth knowing: Apache ZooKeeper stores the root znode twice (under "" and
"/"), so its node counts include it twice; we report the same numbers. Latencies are whole
milliseconds measured from the pass that read a request to the pass that wrote its reply
(notifications are counted as replies). ``mntr`` prints the values zkref has, not Apache's
hundreds of metrics summaries (``ServerMetrics``). ``envi`` describes the Python process
where Apache ZooKeeper describes the JVM.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from server.status import Detail, ServerStatus
from spec.opcodes import OpCode

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
_MASK64 = (1 << 64) - 1
_LONG = struct.Struct(">q")
_T = TypeVar("_T")

# ServerCnxn "lop" names (FinalRequestProcessor's lastOp).
_LAST_OP: dict[int, str] = {
    OpCode.create: "CREA",
    OpCode.create2: "CREA",
    OpCode.createContainer: "CREA",
    OpCode.createTTL: "CREA",
    OpCode.delete: "DELE",
    OpCode.setData: "SETD",
    OpCode.reconfig: "RECO",
    OpCode.setACL: "SETA",
    OpCode.closeSession: "CLOS",
    OpCode.sync: "SYNC",
    OpCode.check: "CHEC",
    OpCode.exists: "EXIS",
    OpCode.getData: "GETD",
    OpCode.setWatches: "SETW",
    OpCode.setWatches2: "STW2",
    OpCode.addWatch: "ADDW",
    OpCode.getACL: "GETA",
    OpCode.getChildren: "GETC",
    OpCode.getChildren2: "GETC",
    OpCode.getAllChildrenNumber: "GETACN",
    OpCode.getEphemerals: "GETE",
    OpCode.checkWatches: "CHKW",
    OpCode.removeWatches: "REMW",
    OpCode.whoAmI: "HOMI",
    OpCode.multi: "MULT",
    OpCode.multiRead: "MLTR",
    OpCode.ping: "PING",
    OpCode.auth: "AUTH",
}


class Controls(Protocol):
    """What ``answer`` needs of a server (``server.status.ServerControls``)."""

    def status(self, details: Detail = Detail.NONE) -> ServerStatus: ...

    def reset_connection_stats(self) -> None: ...

    def reset_server_stats(self) -> None: ...

    def set_trace_mask(self, mask: int) -> None: ...


def _hex(value: int) -> str:
    """``Long.toHexString``: unsigned, no padding."""
    return f"0x{value & _MASK64:x}"


def _java_date(ms: int) -> str:
    """``java.util.Date.toString`` in UTC."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms / 1000))


def _need(value: _T | None, word: str) -> _T:
    assert value is not None, f"{word}: the status lacks a detail the word needs"
    return value


# --- the words -----------------------------------------------------------------------------


def _connection_info(status: ServerStatus, brief: bool) -> str:
    lines = []
    for conn in _need(status.connections, "stat/cons"):
        interest = 0 if conn.asking or conn.reading_paused else 1
        parts = [f" {conn.address}[{interest}](queued=0,recved={conn.received},sent={conn.sent}"]
        if not brief and conn.session_id != 0:
            lop = "NA" if conn.last_opcode is None else _LAST_OP.get(conn.last_opcode, "NA")
            parts.append(
                f",sid={_hex(conn.session_id)},lop={lop},est={conn.established_ms}"
                f",to={conn.session_timeout_ms}"
            )
            if conn.last_cxid is not None and conn.last_cxid >= 0:
                parts.append(f",lcxid={_hex(conn.last_cxid)}")
            parts.append(
                f",lzxid={_hex(conn.last_zxid)},lresp={conn.last_response_ms}"
                f",llat={conn.last_latency_ms},minlat={conn.latency_min_ms}"
                f",avglat={conn.latency_avg_ms},maxlat={conn.latency_max_ms}"
            )
        parts.append(")\n")
        lines.append("".join(parts))
    return "".join(lines)


def _server_stats(status: ServerStatus) -> str:
    """``ServerStats.toString``, the node count, and a leader's proposal sizes
    (``StatCommand``)."""
    counters = status.counters
    text = (
        f"Latency min/avg/max: {counters.latency_min_ms}/{counters.latency_avg_ms}/"
        f"{counters.latency_max_ms}\n"
        f"Received: {counters.packets_received}\n"
        f"Sent: {counters.packets_sent}\n"
        f"Connections: {status.connection_count}\n"
        f"Outstanding: {status.outstanding}\n"
        f"Zxid: {_hex(status.zxid)}\n"
        f"Mode: {status.mode}\n"
        f"Node count: {status.node_count}\n"
    )
    leader = status.quorum.leader if status.quorum is not None else None
    if leader is not None and status.mode == "leader":
        text += (
            f"Proposal sizes last/min/max: {leader.proposal_size_last_bytes}/"
            f"{leader.proposal_size_min_bytes}/{leader.proposal_size_max_bytes}\n"
        )
    return text


def srvr(status: ServerStatus) -> str:
    return f"Zookeeper version: {status.version}\n" + _server_stats(status)


def stat(status: ServerStatus) -> str:
    clients = _connection_info(status, brief=True)
    return f"Zookeeper version: {status.version}\nClients:\n{clients}\n" + _server_stats(status)


def cons(status: ServerStatus) -> str:
    return _connection_info(status, brief=False) + "\n"


def crst(status: ServerStatus) -> str:
    return "Connection stats reset.\n"


def srst(status: ServerStatus) -> str:
    return "Server stats reset.\n"


def ruok(status: ServerStatus) -> str:
    return "imok"


def isro(status: ServerStatus) -> str:
    return "rw" if status.serving else "null"


def gtmk(status: ServerStatus) -> str:
    return str(status.trace_mask)


def conf(status: ServerStatus) -> str:
    config = status.config
    size = _need(status.data_dir_size, "conf")
    text = (
        f"clientPort={config.client_port}\n"
        f"secureClientPort={config.secure_client_port}\n"
        f"dataDir={config.data_dir}\n"
        f"dataDirSize={size}\n"
        f"dataLogDir={config.data_dir}\n"
        f"dataLogSize={size}\n"
        f"tickTime={config.tick_time_ms}\n"
        f"maxClientCnxns={config.max_client_connections_per_ip}\n"
        f"minSessionTimeout={config.min_session_timeout_ms}\n"
        f"maxSessionTimeout={config.max_session_timeout_ms}\n"
        f"clientPortListenBacklog={config.listen_backlog}\n"
        f"serverId={config.server_id}\n"
    )
    quorum = status.quorum
    if quorum is not None:
        # QuorumZooKeeperServer.dumpConf; the membership text ends without a newline.
        text += (
            f"initLimit={quorum.init_limit}\n"
            f"syncLimit={quorum.sync_limit}\n"
            f"electionAlg={quorum.election_algorithm}\n"
            f"electionPort={quorum.election_port}\n"
            f"quorumPort={quorum.quorum_port}\n"
            f"peerType={quorum.peer_type}\n"
            "membership: \n"
            f"{quorum.membership}"
        )
    return text


def dirs(status: ServerStatus) -> str:
    size = _need(status.data_dir_size, "dirs")
    return f"datadir_size: {size}\nlogdir_size: {size}\n"


def envi(status: ServerStatus) -> str:
    entries = _need(status.environment, "envi")
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in entries)


def wchs(status: ServerStatus) -> str:
    watches = _need(status.watches, "wchs")
    data, child = watches.data, watches.child
    return (
        f"{data.connections + child.connections} connections watching "
        f"{data.paths + child.paths} paths\n"
        f"Total watches:{data.watches + child.watches}\n"
    )


def wchc(status: ServerStatus) -> str:
    by_session: dict[int, list[str]] = {}
    for path, sessions in _need(status.watches, "wchc").by_path:
        for session_id in sessions:
            by_session.setdefault(session_id, []).append(path)
    out = [
        f"{_hex(sid)}\n" + "".join(f"\t{p}\n" for p in sorted(paths))
        for sid, paths in sorted(by_session.items())
    ]
    return "".join(out) + "\n"


def wchp(status: ServerStatus) -> str:
    out = [
        f"{path}\n" + "".join(f"\t{_hex(s)}\n" for s in sessions)
        for path, sessions in _need(status.watches, "wchp").by_path
    ]
    return "".join(out) + "\n"


def dump(status: ServerStatus) -> str:
    tracker = _need(status.sessions, "dump")
    out = ["SessionTracker dump:\n"]
    if tracker.decides_expiry:
        # SessionTrackerImpl.dumpSessions: the expiry buckets.
        by_deadline: dict[int, list[int]] = {}
        for session in tracker.sessions:
            by_deadline.setdefault(session.expires_at_ms, []).append(session.session_id)
        out.append(f"Session Sets ({len(by_deadline)})/({len(tracker.sessions)}):\n")
        for deadline, session_ids in sorted(by_deadline.items()):
            out.append(f"{len(session_ids)} expire at {_java_date(deadline)}:\n")
            out.extend(f"\t{_hex(s)}\n" for s in sorted(session_ids))
    else:
        # LearnerSessionTracker.dumpSessions: the global sessions and their timeouts.
        out.append(f"Global Sessions({len(tracker.sessions)}):\n")
        out.extend(
            f"{_hex(s.session_id)}\t{s.timeout_ms}ms\n"
            for s in sorted(tracker.sessions, key=lambda s: s.session_id)  # a TreeSet<Long>
        )
    out.append("ephemeral nodes dump:\n")
    out.append(f"Sessions with Ephemerals ({len(tracker.ephemerals)}):\n")
    for session_id, paths in tracker.ephemerals:
        out.append(f"{_hex(session_id)}:\n")
        out.extend(f"\t{p}\n" for p in paths)
    connections = _need(status.connections, "dump")
    out.append("Connections dump:\n")
    out.append(f"Connections Sets (1)/({len(connections)}):\n")
    out.append(f"{len(connections)} connections:\n")
    out.extend(f"\tip: {c.address} sessionId: {_hex(c.session_id)}\n" for c in connections)
    return "".join(out)


def mntr(status: ServerStatus) -> str:
    monitor = _need(status.monitor, "mntr")
    counters = status.counters
    quorum = status.quorum
    entries: list[tuple[str, object]] = [
        ("zk_version", status.version),
        ("zk_server_state", status.mode),
    ]
    if quorum is not None:
        entries.append(("zk_peer_state", quorum.peer_state))
    entries += [
        ("zk_ephemerals_count", monitor.ephemerals_count),
        ("zk_num_alive_connections", status.connection_count),
        ("zk_avg_latency", counters.latency_avg_ms),
        ("zk_outstanding_requests", status.outstanding),
        ("zk_znode_count", status.node_count),
        ("zk_global_sessions", monitor.global_sessions),
        ("zk_local_sessions", 0),
        ("zk_packets_sent", counters.packets_sent),
        ("zk_packets_received", counters.packets_received),
        ("zk_watch_count", monitor.watch_count),
        ("zk_min_latency", counters.latency_min_ms),
        ("zk_max_latency", counters.latency_max_ms),
        ("zk_approximate_data_size", monitor.approximate_data_size),
        ("zk_open_file_descriptor_count", monitor.open_file_descriptors),
        ("zk_max_file_descriptor_count", monitor.max_file_descriptors),
        ("zk_uptime", status.uptime_ms),
        ("zk_connection_rejected", status.rejected_connections),
    ]
    if quorum is not None:
        entries.append(("zk_quorum_size", quorum.quorum_size))
        entries.append(("zk_digest_mismatches_count", quorum.digest_mismatches))
        leader = quorum.leader
        if leader is not None and status.mode == "leader":
            # LeaderZooKeeperServer.registerMetrics
            entries += [
                ("zk_learners", leader.learners),
                ("zk_synced_followers", leader.synced_followers),
                ("zk_synced_non_voting_followers", leader.synced_non_voting_followers),
                ("zk_synced_observers", leader.synced_observers),
                ("zk_pending_syncs", leader.pending_syncs),
                ("zk_leader_uptime", leader.uptime_ms),
                ("zk_last_proposal_size", leader.proposal_size_last_bytes),
                ("zk_min_proposal_size", leader.proposal_size_min_bytes),
                ("zk_max_proposal_size", leader.proposal_size_max_bytes),
            ]
    entries += [
        ("zk_txn_log_batches", monitor.txn_log_batches),
        ("zk_txn_log_committed", monitor.txn_log_committed),
        ("zk_txn_log_queued", monitor.txn_log_queued),
        ("zk_throttled", int(status.throttled)),
        ("zk_internal_errors", status.internal_errors),
    ]
    return "".join(f"{key}\t{value}\n" for key, value in entries)


@dataclass(frozen=True, slots=True)
class Command:
    """A word: its formatter, the details of the status it reads, and whether it answers
    only while the server serves."""

    format: Callable[[ServerStatus], str]
    details: Detail = Detail.NONE
    needs_serving: bool = True


COMMANDS: dict[str, Command] = {
    "conf": Command(conf, Detail.DISK),
    "cons": Command(cons, Detail.CONNECTIONS),
    "crst": Command(crst),
    "dirs": Command(dirs, Detail.DISK),
    "dump": Command(dump, Detail.SESSIONS | Detail.CONNECTIONS),
    "envi": Command(envi, Detail.ENVIRONMENT, needs_serving=False),
    "gtmk": Command(gtmk, needs_serving=False),
    "isro": Command(isro, needs_serving=False),  # "null" when not serving
    "mntr": Command(mntr, Detail.MONITOR),
    "ruok": Command(ruok, needs_serving=False),
    "srst": Command(srst),
    "srvr": Command(srvr),
    "stat": Command(stat, Detail.CONNECTIONS),
    "wchc": Command(wchc, Detail.WATCHES),
    "wchp": Command(wchp, Detail.WATCHES),
    "wchs": Command(wchs, Detail.WATCHES),
}
NOT_SERVING_WORDS = frozenset(w for w, c in COMMANDS.items() if c.needs_serving)


def answer(word: str, argument: bytes, server: Controls) -> str:
    """The text answer to ``word`` (``argument``: the 8 bytes after ``stmk``)."""
    status = server.status()
    if word not in status.four_letter_whitelist:
        return f"{word} is not executed because it is not in the whitelist.\n"
    if word == "stmk":
        (mask,) = _LONG.unpack(argument[:8])
        server.set_trace_mask(mask)
        return str(mask)
    command = COMMANDS[word]
    if command.needs_serving and not status.serving:
        return NOT_SERVING + "\n"
    if word == "crst":
        server.reset_connection_stats()
    elif word == "srst":
        server.reset_server_stats()
    if command.details:
        status = server.status(command.details)
    return command.format(status)
