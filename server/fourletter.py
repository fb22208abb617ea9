"""Four-letter words: plain-text answers to monitoring commands on the client port.

A fresh connection whose first 4 bytes spell a command (``ruok``, ``srvr``, ``stat``,
``mntr``, ``cons``, ``wchs``, ...) gets the answer as text and is closed (``server.server``
does the reading and closing). Formats follow Apache ZooKeeper 3.8's
``org.apache.zookeeper.server.command`` classes, as observed on Debian's 3.8.0, so scripts
written for it (``zkServer.sh status``, monitoring agents reading ``mntr``) work unchanged.
Commands not in ``4lw.commands.whitelist`` are answered "<cmd> is not executed because it is
not in the whitelist." as Apache ZooKeeper does. An ensemble's server that does not serve (no
leader yet) answers the commands that read its state with "This ZooKeeper instance is not
currently serving requests" and ``isro`` with ``null``, as Apache ZooKeeper's does.

Differences worth knowing: Apache ZooKeeper stores the root znode twice (under "" and
"/"), so its node counts include it twice; we report the same numbers. Latencies are whole
milliseconds measured from the pass that read a request to the pass that wrote its reply
(notifications are counted as replies). ``envi`` describes the Python process where Apache
ZooKeeper describes the JVM.

Must not change the core's state: the answers only read it (``crst``, ``srst`` and ``stmk``
reset or set the shell's own counters, as in Apache ZooKeeper).
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reference.core import ZooKeeperCore
from server.version import version_for
from spec.opcodes import OpCode

if TYPE_CHECKING:
    from reference.watchmanager import WatchManager
    from server.server import ClientConnection, ZooKeeperServer

_MASK64 = (1 << 64) - 1
_REQUEST_HEADER = struct.Struct(">ii")
_LONG = struct.Struct(">q")
DIRECTORY_SIZE_FILES_MAX = 100_000  # stop counting a data directory after this many files

# ServerCnxn "lop" names (FinalRequestProcessor's lastOp).
_LAST_OP = {
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


def _hex(value: int) -> str:
    """``Long.toHexString``: unsigned, no padding."""
    return f"0x{value & _MASK64:x}"


def _java_date(ms: int) -> str:
    """``java.util.Date.toString`` in UTC."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms / 1000))


def _node_count(server: ZooKeeperServer) -> int:
    return len(server.core.tree.nodes) + 1  # Apache ZooKeeper counts the root twice


def _session_of(server: ZooKeeperServer, conn: ClientConnection) -> int:
    core_conn = server.core.connections.get(conn.conn_id)
    return 0 if core_conn is None else core_conn.session_id


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


# --- commands ------------------------------------------------------------------------------


def _connection_info(
    server: ZooKeeperServer, conn: ClientConnection, asking: ClientConnection, brief: bool
) -> str:
    interest = 0 if conn is asking or conn.reading_paused else 1
    parts = [
        f" {conn.address}[{interest}](queued=0,recved={conn.received},sent={conn.sent}",
    ]
    session_id = _session_of(server, conn)
    if not brief and session_id != 0:
        session = server.core.sessions.get(session_id)
        timeout = session.timeout_ms if session is not None else 0
        lop = "NA"
        if len(conn.last_header) == 8:
            xid, opcode = _REQUEST_HEADER.unpack(conn.last_header)
            lop = _LAST_OP.get(opcode, "NA")
        else:
            xid = -1
        average = conn.latency_total_ms // conn.latency_count if conn.latency_count else 0
        parts.append(f",sid={_hex(session_id)},lop={lop},est={conn.established_ms},to={timeout}")
        if xid >= 0:
            parts.append(f",lcxid={_hex(xid)}")
        parts.append(
            f",lzxid={_hex(conn.last_zxid)},lresp={conn.last_response_ms}"
            f",llat={conn.last_latency_ms},minlat={conn.latency_min_ms},avglat={average}"
            f",maxlat={conn.latency_max_ms}"
        )
    parts.append(")")
    return "".join(parts)


def _server_stats(server: ZooKeeperServer) -> str:
    stats = server.stats
    return (
        f"Latency min/avg/max: {stats.latency_min_ms}/{stats.latency_avg_ms}/"
        f"{stats.latency_max_ms}\n"
        f"Received: {stats.packets_received}\n"
        f"Sent: {stats.packets_sent}\n"
        f"Connections: {len(server.connections)}\n"
        f"Outstanding: {server.outstanding}\n"
        f"Zxid: {_hex(server.core.last_zxid)}\n"
        f"Mode: {_mode(server)}\n"
        f"Node count: {_node_count(server)}\n"
    )


def _mode(server: ZooKeeperServer) -> str:
    """``Mode:``: standalone, or an ensemble's leader, follower (or looking)."""
    node = server.node
    return "standalone" if isinstance(node, ZooKeeperCore) else node.mode


def srvr(server: ZooKeeperServer, asking: ClientConnection) -> str:
    return f"Zookeeper version: {version_for(server.config.profile)}\n" + _server_stats(server)


def stat(server: ZooKeeperServer, asking: ClientConnection) -> str:
    clients = "".join(
        _connection_info(server, c, asking, brief=True) + "\n"
        for c in list(server.connections.values())
    )
    version = version_for(server.config.profile)
    return f"Zookeeper version: {version}\nClients:\n{clients}\n" + _server_stats(server)


def cons(server: ZooKeeperServer, asking: ClientConnection) -> str:
    lines = "".join(
        _connection_info(server, c, asking, brief=False) + "\n"
        for c in list(server.connections.values())
    )
    return lines + "\n"


def crst(server: ZooKeeperServer, asking: ClientConnection) -> str:
    for conn in list(server.connections.values()):
        conn.reset_stats()
    return "Connection stats reset.\n"


def srst(server: ZooKeeperServer, asking: ClientConnection) -> str:
    server.stats.reset()
    return "Server stats reset.\n"


def ruok(server: ZooKeeperServer, asking: ClientConnection) -> str:
    return "imok"


def isro(server: ZooKeeperServer, asking: ClientConnection) -> str:
    return "rw"


def gtmk(server: ZooKeeperServer, asking: ClientConnection) -> str:
    return str(server.trace_mask)


def conf(server: ZooKeeperServer, asking: ClientConnection) -> str:
    config = server.config
    data_dir = str(config.data_dir.resolve()) if config.data_dir is not None else ""
    size = _directory_size(config.data_dir)
    return (
        f"clientPort={server.port}\n"
        "secureClientPort=-1\n"
        f"dataDir={data_dir}\n"
        f"dataDirSize={size}\n"
        f"dataLogDir={data_dir}\n"
        f"dataLogSize={size}\n"
        f"tickTime={config.tick_time_ms}\n"
        f"maxClientCnxns={config.max_client_connections_per_ip}\n"
        f"minSessionTimeout={config.min_session_timeout_ms_effective}\n"
        f"maxSessionTimeout={config.max_session_timeout_ms_effective}\n"
        f"clientPortListenBacklog={config.listen_backlog}\n"
        "serverId=0\n"
    )


def dirs(server: ZooKeeperServer, asking: ClientConnection) -> str:
    size = _directory_size(server.config.data_dir)
    return f"datadir_size: {size}\nlogdir_size: {size}\n"


def envi(server: ZooKeeperServer, asking: ClientConnection) -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "?"
    entries = [
        ("zookeeper.version", version_for(server.config.profile)),
        ("zkref.profile", server.config.profile.name),
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
    ]
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in entries)


def _watch_summary(manager: WatchManager) -> tuple[int, int, int]:
    by_path = manager.watchers_by_path()
    connections = {c for watchers in by_path.values() for c in watchers}
    return len(connections), len(by_path), sum(len(w) for w in by_path.values())


def wchs(server: ZooKeeperServer, asking: ClientConnection) -> str:
    tree = server.core.tree
    data = _watch_summary(tree.data_watches)
    child = _watch_summary(tree.child_watches)
    return (
        f"{data[0] + child[0]} connections watching {data[1] + child[1]} paths\n"
        f"Total watches:{data[2] + child[2]}\n"
    )


def _watches_by_path(server: ZooKeeperServer) -> dict[str, set[int]]:
    """path -> session ids watching it (data and child watches together)."""
    tree = server.core.tree
    result: dict[str, set[int]] = {}
    for manager in (tree.data_watches, tree.child_watches):
        for path, conn_ids in manager.watchers_by_path().items():
            sessions = result.setdefault(path, set())
            for conn_id in conn_ids:
                core_conn = server.core.connections.get(conn_id)
                sessions.add(core_conn.session_id if core_conn is not None else 0)
    return result


def wchc(server: ZooKeeperServer, asking: ClientConnection) -> str:
    by_session: dict[int, list[str]] = {}
    for path, sessions in _watches_by_path(server).items():
        for session_id in sessions:
            by_session.setdefault(session_id, []).append(path)
    out = [
        f"{_hex(sid)}\n" + "".join(f"\t{p}\n" for p in sorted(paths))
        for sid, paths in sorted(by_session.items())
    ]
    return "".join(out) + "\n"


def wchp(server: ZooKeeperServer, asking: ClientConnection) -> str:
    out = [
        f"{path}\n" + "".join(f"\t{_hex(s)}\n" for s in sorted(sessions))
        for path, sessions in sorted(_watches_by_path(server).items())
    ]
    return "".join(out) + "\n"


def dump(server: ZooKeeperServer, asking: ClientConnection) -> str:
    core = server.core
    by_deadline: dict[int, list[int]] = {}
    for session in list(core.sessions.values()):
        by_deadline.setdefault(session.expires_at, []).append(session.session_id)
    out = [
        "SessionTracker dump:\n",
        f"Session Sets ({len(by_deadline)})/({len(core.sessions)}):\n",
    ]
    for deadline, session_ids in sorted(by_deadline.items()):
        out.append(f"{len(session_ids)} expire at {_java_date(deadline)}:\n")
        out.extend(f"\t{_hex(s)}\n" for s in sorted(session_ids))
    ephemerals = {s: paths for s, paths in core.tree.ephemerals.items() if paths}
    out.append("ephemeral nodes dump:\n")
    out.append(f"Sessions with Ephemerals ({len(ephemerals)}):\n")
    for session_id, paths in sorted(ephemerals.items()):
        out.append(f"{_hex(session_id)}:\n")
        out.extend(f"\t{p}\n" for p in paths)
    connections = list(server.connections.values())
    out.append("Connections dump:\n")
    out.append(f"Connections Sets (1)/({len(connections)}):\n")
    out.append(f"{len(connections)} connections:\n")
    out.extend(
        f"\tip: {c.address} sessionId: {_hex(_session_of(server, c))}\n" for c in connections
    )
    return "".join(out)


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


def mntr(server: ZooKeeperServer, asking: ClientConnection) -> str:
    core = server.core
    tree = core.tree
    stats = server.stats
    data_watch_count = len(tree.data_watches)
    child_watch_count = len(tree.child_watches)
    entries: list[tuple[str, object]] = [
        ("zk_version", version_for(server.config.profile)),
        ("zk_server_state", _mode(server)),
        ("zk_ephemerals_count", sum(len(p) for p in tree.ephemerals.values())),
        ("zk_num_alive_connections", len(server.connections)),
        ("zk_avg_latency", stats.latency_avg_ms),
        ("zk_outstanding_requests", server.outstanding),
        ("zk_znode_count", _node_count(server)),
        ("zk_global_sessions", len(core.sessions)),
        ("zk_local_sessions", 0),
        ("zk_packets_sent", stats.packets_sent),
        ("zk_packets_received", stats.packets_received),
        ("zk_watch_count", data_watch_count + child_watch_count),
        ("zk_min_latency", stats.latency_min_ms),
        ("zk_max_latency", stats.latency_max_ms),
        ("zk_approximate_data_size", tree.approximate_data_size()),
        ("zk_open_file_descriptor_count", _open_file_descriptors()),
        ("zk_max_file_descriptor_count", _max_file_descriptors()),
        ("zk_uptime", server.clock.now_ms() - server.started_ms),
        ("zk_connection_rejected", server.rejected_connections),
        ("zk_last_proposal_size", -1),
        ("zk_txn_log_batches", server.committer.batches),
        ("zk_txn_log_committed", server.committer.committed_txns),
        ("zk_txn_log_queued", server.committer.queued_txns),
        ("zk_throttled", int(server.throttled)),
        ("zk_internal_errors", server.internal_errors),
    ]
    return "".join(f"{key}\t{value}\n" for key, value in entries)


_COMMANDS: dict[str, Callable[[ZooKeeperServer, ClientConnection], str]] = {
    "conf": conf,
    "cons": cons,
    "crst": crst,
    "dirs": dirs,
    "dump": dump,
    "envi": envi,
    "gtmk": gtmk,
    "isro": isro,
    "mntr": mntr,
    "ruok": ruok,
    "srst": srst,
    "srvr": srvr,
    "stat": stat,
    "wchc": wchc,
    "wchp": wchp,
    "wchs": wchs,
}


# What the commands that read the server's state answer while it does not serve (an
# ensemble's server looking for a leader or syncing with it): Apache's
# AbstractFourLetterCommand.ZK_NOT_SERVING, checked by these commands' commandRun.
ZK_NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"
_GATED_WHEN_NOT_SERVING = frozenset(
    {"conf", "cons", "crst", "dirs", "dump", "mntr", "srst", "srvr", "stat", "wchc", "wchp", "wchs"}
)


def answer(server: ZooKeeperServer, asking: ClientConnection, word: str, argument: bytes) -> str:
    """The text answer to ``word`` (``argument``: the 8 bytes after ``stmk``)."""
    if word not in server.config.four_letter_whitelist:
        return f"{word} is not executed because it is not in the whitelist.\n"
    node = server.node
    if not isinstance(node, ZooKeeperCore) and not node.serving:
        if word == "isro":
            return "null"  # IsroCommand
        if word in _GATED_WHEN_NOT_SERVING:
            return ZK_NOT_SERVING
    if word == "stmk":
        (server.trace_mask,) = _LONG.unpack(argument[:8])
        return str(server.trace_mask)
    return _COMMANDS[word](server, asking)
