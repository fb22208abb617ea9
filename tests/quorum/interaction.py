"""An interaction environment for quorum peers: the commands of the protocol transcripts.

After etcd-raft's ``rafttest.InteractionEnv``: real ``reference.quorum.peer.QuorumPeer``\\ s,
a network that delivers only when told, a clock that moves only when told, and every output
batch (``Ready``) of every peer printed as text. ``tests/quorum/test_transcripts.py`` runs
the files in ``tests/quorum/testdata`` through it.

The world
---------
* Servers ``1..N`` of one ensemble, each a ``QuorumPeer`` over a ``simulation.cluster.Disk``.
  Handling a peer's Ready makes its persists durable at once (then ``persisted``), then puts
  its sends on the network: the Ready contract (``reference.ready``) with an instant disk.
* The network holds messages in flight, per recipient, in the order they were sent. Election
  notifications and quorum packets travel as the bytes Apache's codecs write and are read
  back by the stream readers a server uses; a quorum connection is a pair of byte streams.
  Nothing is delivered until ``stabilize``, ``deliver`` or ``advance`` says so.
* The clock starts at ``t=0ms`` and moves only with ``advance``, which runs every timer due
  on the way, in time order, delivering everything in flight at each instant (a network of
  zero latency).
* ``partition`` cuts the pairs of servers that share no group: messages between them are
  lost, and quorum connections between them stay dead (TCP does not heal them); ``heal``
  lets new messages and connections through. ``crash`` loses the process, what its disk had
  not made durable (nothing, with an instant disk) and its connections; ``restart`` starts
  it again from its disk (``QuorumPeer.restore``).
* A ``stranger`` is a process that is no server of the ensemble: it can dial a quorum port
  and write what ``inject`` tells it to. ``inject`` also lets a real server's end of a
  connection write a packet its peer never decided to send.

Output: ``> 3 handling Ready`` blocks (persist, send, client lines), ``> 1 receiving``
blocks (each message delivered, then what the peer logged and its state line if it changed),
``@ t=200ms`` before what a moment of ``advance`` did. ``quiet`` on ``stabilize`` and
``advance`` keeps only log and state lines.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass, field
from typing import Final

from reference import jute
from reference.core import Role
from reference.quorum import apache_txn
from reference.quorum.apache_snapshot import ApacheSnapshot, encode_snapshot_transfer
from reference.quorum.election_wire import (
    Notification,
    ServerState,
    decode_notification,
    encode_notification,
)
from reference.quorum.messages import ElectionSend, QuorumClose, QuorumConnect, QuorumSend
from reference.quorum.peer import PeerConfig, QuorumPeer
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket, encode_packet
from reference.quorum.wire_payloads import AckEpoch, LeaderInfo, LearnerInfo
from reference.quorum.wire_stream import QuorumStreamReader
from reference.ready import Output
from reference.txn import CreateTxn, SetDataTxn, Txn, TxnHeader
from simulation.cluster import START_TIME_MS, Disk, quorum_config
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.state import Config
from tests.quorum.datadriven import Case
from tests.quorum.transcript_format import (
    apache_snapshot_text,
    connect_response_text,
    data_text,
    hex_zxid,
    notification_text,
    packet_text,
    persist_text,
    reply_text,
)

TICKS_PER_INSTANT_MAX: Final = 1_000  # a peer's tick() asking again this often is a bug
STEPS_PER_ADVANCE_MAX: Final = 100_000
ROUNDS_PER_STABILIZE_MAX: Final = 10_000
CLIENT_TIMEOUT_MS_DEFAULT: Final = 30_000


class CommandError(Exception):
    """A transcript command that cannot be carried out as written."""


# --- the network -------------------------------------------------------------------------------


@dataclass(eq=False)
class Link:
    """One quorum connection: the dialer's end (a follower, or a stranger) and the leader's."""

    dialer: int
    dialer_conn: int
    acceptor: int
    acceptor_conn: int
    to_dialer: QuorumStreamReader = field(
        default_factory=lambda: QuorumStreamReader(PacketSender.LEADER)
    )
    to_acceptor: QuorumStreamReader = field(
        default_factory=lambda: QuorumStreamReader(PacketSender.LEARNER)
    )
    cut: bool = False
    closed: bool = False

    def other(self, sid: int) -> int:
        return self.acceptor if sid == self.dialer else self.dialer

    def conn_of(self, sid: int) -> int:
        return self.dialer_conn if sid == self.dialer else self.acceptor_conn


@dataclass(frozen=True, slots=True)
class ElectionMessage:
    sender: int
    to: int
    data: bytes
    label: str


@dataclass(frozen=True, slots=True)
class ConnectMessage:
    """A dial of ``to``'s quorum port."""

    sender: int
    to: int
    conn: int
    label: str = "connect to the quorum port"


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """The dialer learns whether its dial succeeded (``link`` is None if not)."""

    sender: int
    to: int
    conn: int
    link: Link | None
    label: str


@dataclass(frozen=True, slots=True)
class QuorumBytes:
    link: Link
    sender: int
    to: int
    data: bytes
    label: str


@dataclass(frozen=True, slots=True)
class CloseMessage:
    link: Link
    sender: int
    to: int
    label: str = "closed the quorum connection"


Message = ElectionMessage | ConnectMessage | ConnectResult | QuorumBytes | CloseMessage


# --- servers and clients -----------------------------------------------------------------------


@dataclass(eq=False)
class Server:
    sid: int
    disk: Disk
    peer: QuorumPeer | None = None
    shown: str = ""  # the state line last printed


@dataclass(eq=False)
class Client:
    """A client of the ensemble: its session, and the connection it has now."""

    name: str
    sid: int = 0
    conn: int | None = None
    session_id: int = 0
    password: bytes = bytes(16)
    timeout_ms: int = CLIENT_TIMEOUT_MS_DEFAULT
    handshake_done: bool = False
    next_xid: int = 1
    last_zxid: int = 0
    pending: dict[int, int] = field(default_factory=dict)  # xid -> opcode


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


QUORUM_LOGGER: Final = "zkref.quorum"

# Output kinds: what ``quiet`` keeps.
_HEADER_TIME, _HEADER_BLOCK, _DETAIL, _LOG, _STATE = range(5)


class InteractionEnv:
    """The world of one transcript (module docstring). ``handle`` runs one command."""

    def __init__(self) -> None:
        self.now = START_TIME_MS
        self.servers: dict[int, Server] = {}
        self.voters: tuple[int, ...] = ()
        self.peer_configs: dict[int, PeerConfig] = {}
        self.inbox: dict[int, list[Message]] = {}
        self.links: list[Link] = []
        self.cut_pairs: set[frozenset[int]] = set()
        self.clients: dict[str, Client] = {}
        self.client_of_conn: dict[int, Client] = {}
        self.strangers: set[int] = set()
        self._next_accept_conn = 1
        self._next_client_conn = 1
        self._next_stranger_conn = -1000
        self._lines: list[str] = []
        self._pending_headers: dict[int, str] = {}
        self._quiet = False
        self._hidden: set[int] = set()  # packet types not printed (``hide=PING``)
        self._block_open = False  # inside a "> N ..." block: its lines are indented
        self._capture = _LogCapture()
        self._logger = logging.getLogger(QUORUM_LOGGER)
        self._saved_level = self._logger.level
        self._logger.addHandler(self._capture)
        self._logger.setLevel(logging.INFO)

    def close(self) -> None:
        self._logger.removeHandler(self._capture)
        self._logger.setLevel(self._saved_level)

    # --- output ----------------------------------------------------------------------------

    def _emit(self, text: str, kind: int = _DETAIL) -> None:
        if self._quiet and kind in (_DETAIL, _HEADER_BLOCK):
            return
        for level in sorted(self._pending_headers):
            if self._quiet and level == _HEADER_BLOCK:
                continue
            self._lines.append(self._pending_headers[level])
        self._pending_headers = {}
        if self._quiet and kind in (_LOG, _STATE):
            text = text.strip()
        self._lines.append(text)

    def _header(self, text: str, kind: int) -> None:
        """A header printed only if something follows it."""
        if kind == _HEADER_TIME:
            self._pending_headers = {}
        self._block_open = kind == _HEADER_BLOCK
        self._pending_headers[kind] = text

    def _flush_logs(self) -> None:
        for record in self._capture.records:
            level = "WARN" if record.levelno >= logging.WARNING else "INFO"
            self._emit(f"{self._indent()}{level} {record.getMessage()}", _LOG)
        self._capture.records = []

    def _state_text(self, server: Server) -> str:
        peer = server.peer
        if peer is None:
            return f"{server.sid} DOWN"
        parts = [str(server.sid), peer.state.name]
        if peer.state == ServerState.FOLLOWING and peer.follower is not None:
            parts.append(f"leader={peer.follower.leader_id}")
        parts.append(f"epoch={peer.current_epoch}")
        if peer.accepted_epoch != peer.current_epoch:
            parts.append(f"accepted={peer.accepted_epoch}")
        parts.append(f"zxid={hex_zxid(peer.core.last_zxid)}")
        if peer.log_last != peer.core.last_zxid:
            parts.append(f"logged={hex_zxid(peer.log_last)}")
        if peer.core.role in (Role.LEADING, Role.FOLLOWING):
            parts.append("serving")
        return " ".join(parts)

    @staticmethod
    def _state_key(text: str) -> str:
        """What makes a state line worth printing again: all but the zxids."""
        return " ".join(w for w in text.split() if not w.startswith(("zxid=", "logged=")))

    def _after_input(self, server: Server) -> None:
        self._flush_logs()
        text = self._state_text(server)
        if self._state_key(text) != self._state_key(server.shown):
            server.shown = text
            self._emit(f"{self._indent()}{text}", _STATE)

    def _indent(self) -> str:
        return "  " if self._block_open else ""

    # --- commands ---------------------------------------------------------------------------

    def handle(self, case: Case) -> str:
        """Run one command; its output, or ``ok`` when it printed nothing."""
        self._lines = []
        self._pending_headers = {}
        self._block_open = False
        words = shlex.split(case.command)
        command, args = words[0], words[1:]
        positional = [a for a in args if "=" not in a]
        options = dict(a.split("=", 1) for a in args if "=" in a)
        handler = getattr(self, "cmd_" + command.replace("-", "_"), None)
        if handler is None:
            raise CommandError(f"line {case.line}: unknown command {command!r}")
        try:
            handler(positional, options)
        except CommandError as error:
            raise CommandError(f"line {case.line}: {case.command}: {error}") from None
        finally:
            self._quiet = False
            self._hidden = set()
        self._flush_logs()
        return "\n".join(self._lines) if self._lines else "ok"

    def cmd_add_servers(self, args: list[str], options: dict[str, str]) -> None:
        """``add-servers N [tickTime=ms] [initLimit=ticks] [syncLimit=ticks]
        [commitLogCount=n]``: a fresh ensemble of N servers, all started."""
        if self.servers:
            raise CommandError("the ensemble exists already")
        count = int(args[0])
        tick_time = int(options.pop("tickTime", "2000"))
        init_limit = int(options.pop("initLimit", "10"))
        sync_limit = int(options.pop("syncLimit", "5"))
        commit_log_count = int(options.pop("commitLogCount", "500"))
        if options:
            raise CommandError(f"unknown options {sorted(options)}")
        self.voters = tuple(range(1, count + 1))
        for sid in self.voters:
            self.peer_configs[sid] = PeerConfig(
                sid,
                self.voters,
                tick_time,
                init_limit,
                sync_limit,
                commit_log_count,
                quorum_config(self.voters),
            )
            self.servers[sid] = Server(sid, Disk())
            self.inbox[sid] = []
        for sid in self.voters:
            self._start(self.servers[sid])

    def _start(self, server: Server) -> None:
        config = self.peer_configs[server.sid]
        core_config = Config(
            tick_time_ms=config.tick_time_ms, server_id=server.sid, start_time_ms=START_TIME_MS
        )
        disk = server.disk
        server.peer = QuorumPeer.restore(
            config,
            core_config,
            self.now,
            disk.snapshot,
            [blob for _, blob in disk.log],
            disk.accepted_epoch,
            disk.current_epoch,
        )
        server.shown = ""
        self._after_input(server)

    def cmd_stabilize(self, args: list[str], options: dict[str, str]) -> None:
        """``stabilize [quiet] [hide=PING,...]``: handle Readies and deliver messages until
        nothing moves."""
        self._set_verbosity(args, options)
        self._stabilize()

    def _set_verbosity(self, args: list[str], options: dict[str, str]) -> None:
        """``quiet``: only log and state lines; ``hide=PING,COMMIT``: not those packets."""
        self._quiet = "quiet" in args
        hidden = options.get("hide", "")
        try:
            self._hidden = {PacketType[name] for name in hidden.split(",") if name}
        except KeyError as error:
            raise CommandError(f"unknown packet type {error}") from None

    def _stabilize(self) -> None:
        for _ in range(ROUNDS_PER_STABILIZE_MAX):
            moved = False
            for sid in sorted(self.servers):
                moved |= self._handle_ready(self.servers[sid])
            for sid in sorted(self.inbox):
                moved |= self._deliver(sid)
            if not moved:
                return
        raise AssertionError("stabilize does not settle")

    def cmd_process_ready(self, args: list[str], options: dict[str, str]) -> None:
        """``process-ready 1 [2 ...]``: handle those servers' Readies (nothing delivered)."""
        for sid in self._sids(args):
            self._handle_ready(self._server(sid))

    def cmd_deliver(self, args: list[str], options: dict[str, str]) -> None:
        """``deliver 1 [2 ...]``: deliver what is in flight to those servers (their Readies
        are not handled)."""
        for sid in self._sids(args):
            self._deliver(sid)

    def cmd_advance(self, args: list[str], options: dict[str, str]) -> None:
        """``advance 250ms|3s [quiet] [hide=PING,...] [deliver=no]``: move the clock, running
        every timer due on the way and stabilizing at each instant something happened (with
        ``deliver=no``, only handling the Readies: what they send stays in flight)."""
        self._set_verbosity(args, options)
        deliver = options.get("deliver", "yes") != "no"
        durations = [a for a in args if a != "quiet"]
        if len(durations) != 1:
            raise CommandError("advance takes one duration")
        target = self.now + _duration_ms(durations[0])
        steps = 0
        while True:
            steps += 1
            assert steps < STEPS_PER_ADVANCE_MAX, "advance does not advance"
            running = [s for s in self.servers.values() if s.peer is not None]
            deadlines = {s.sid: s.peer.next_deadline() for s in running if s.peer is not None}
            if not deadlines or min(deadlines.values()) > target:
                break
            self.now = max(self.now, min(deadlines.values()))
            self._header(f"@ t={self.now - START_TIME_MS}ms", _HEADER_TIME)
            for sid in sorted(deadlines):
                server = self.servers[sid]
                peer = server.peer
                if peer is None or deadlines[sid] > self.now:
                    continue
                self._header(f"> {sid} tick", _HEADER_BLOCK)
                ticks = 0
                while peer.tick(self.now):
                    ticks += 1
                    assert ticks < TICKS_PER_INSTANT_MAX, f"server {sid} ticks forever"
                self._after_input(server)
            if deliver:
                self._stabilize()
            else:
                self._handle_readies()
        self.now = target

    def _handle_readies(self) -> None:
        """Handle every Ready (and those that durability produces), delivering nothing."""
        for _ in range(ROUNDS_PER_STABILIZE_MAX):
            moved = False
            for sid in sorted(self.servers):
                moved |= self._handle_ready(self.servers[sid])
            if not moved:
                return
        raise AssertionError("Readies keep coming")

    def cmd_crash(self, args: list[str], options: dict[str, str]) -> None:
        """``crash 3``: kill -9. Its connections close; messages in flight to it are lost."""
        (sid,) = self._sids(args)
        server = self._server(sid)
        if server.peer is None:
            raise CommandError(f"server {sid} is down already")
        server.peer = None
        server.disk.crash()
        lost = len(self.inbox[sid])
        self.inbox[sid] = []
        self._emit(f"{sid} DOWN" + (f" ({lost} messages in flight to it lost)" if lost else ""))
        server.shown = f"{sid} DOWN"
        for link in self.links:
            if link.closed or sid not in (link.dialer, link.acceptor):
                continue
            link.closed = True
            other = link.other(sid)
            if not link.cut:
                self._queue(CloseMessage(link, sid, other, "connection reset (the process died)"))
        for client in self.clients.values():
            if client.conn is not None and client.sid == sid:
                self._emit(f"client {client.name}: connection to {sid} lost")
                self._drop_client_conn(client)

    def cmd_restart(self, args: list[str], options: dict[str, str]) -> None:
        """``restart 3``: start a crashed server again from its disk."""
        (sid,) = self._sids(args)
        server = self._server(sid)
        if server.peer is not None:
            raise CommandError(f"server {sid} is running")
        self._start(server)

    def cmd_partition(self, args: list[str], options: dict[str, str]) -> None:
        """``partition 1,2 3``: only servers of one group reach each other (groups may
        overlap: ``partition 1,2 2,3`` cuts 1 from 3 only)."""
        groups = [{int(s) for s in group.split(",")} for group in args]
        everyone = sorted({*self.servers, *self.strangers})
        self.cut_pairs = {
            frozenset((a, b))
            for a in everyone
            for b in everyone
            if a < b and not any(a in g and b in g for g in groups)
        }
        for link in self.links:
            if not link.closed and self._cut(link.dialer, link.acceptor):
                link.cut = True
        for sid in sorted(self.inbox):
            kept: list[Message] = []
            for message in self.inbox[sid]:
                if self._cut(message.sender, message.to):
                    self._emit(f"lost {message.sender}->{message.to} {message.label}")
                else:
                    kept.append(message)
            self.inbox[sid] = kept

    def cmd_heal(self, args: list[str], options: dict[str, str]) -> None:
        """``heal``: every server reaches every other again (cut connections stay dead)."""
        self.cut_pairs = set()

    def cmd_state(self, args: list[str], options: dict[str, str]) -> None:
        """``state``: every server's state line."""
        for sid in sorted(self.servers):
            self._emit(self._state_text(self.servers[sid]))

    def cmd_log(self, args: list[str], options: dict[str, str]) -> None:
        """``log 1 [2 ...]``: what a server's disk holds (epochs, snapshot, logged zxids)."""
        for sid in self._sids(args):
            disk = self._server(sid).disk
            snapshot = hex_zxid(disk.snapshot_zxid) if disk.snapshot is not None else "none"
            zxids = " ".join(hex_zxid(z) for z, _ in disk.log) or "-"
            self._emit(
                f"{sid} acceptedEpoch={disk.accepted_epoch} currentEpoch={disk.current_epoch} "
                f"snapshot={snapshot} log=[{zxids}]"
            )

    def cmd_tree(self, args: list[str], options: dict[str, str]) -> None:
        """``tree 1 [2 ...]``: the znodes a server's tree holds (outside /zookeeper)."""
        for sid in self._sids(args):
            peer = self._peer(sid)
            nodes = [
                f"{path}={data_text(node.data)}"
                for path, node in sorted(peer.core.tree.nodes.items())
                if path != "/" and not path.startswith("/zookeeper")
            ]
            self._emit(f"{sid} {' '.join(nodes) or '(empty)'}")

    # --- strangers and injected packets ------------------------------------------------------

    def cmd_stranger(self, args: list[str], options: dict[str, str]) -> None:
        """``stranger 9 connect 3``: process 9 (no server of the ensemble) dials 3's quorum
        port."""
        if len(args) != 3 or args[1] != "connect":
            raise CommandError("usage: stranger <id> connect <server>")
        stranger, to = int(args[0]), int(args[2])
        if stranger in self.servers:
            raise CommandError(f"{stranger} is a server of the ensemble")
        self.strangers.add(stranger)
        self.inbox.setdefault(stranger, [])
        conn = self._next_stranger_conn
        self._next_stranger_conn -= 1
        self._emit(f"{stranger}->{to} connect to the quorum port")
        self._queue(ConnectMessage(stranger, to, conn))

    def cmd_inject(self, args: list[str], options: dict[str, str]) -> None:
        """``inject 9->3 FOLLOWERINFO 0x0 sid=9``: the sender's end of its newest open quorum
        connection with the recipient writes this packet (the sender's peer, if any, knows
        nothing of it). Data by type: FOLLOWERINFO ``sid`` [``protocolVersion``], ACKEPOCH
        ``currentEpoch``, LEADERINFO, PROPOSAL ``create=/path`` or ``set=/path``
        [``data``] [``session``]; other types carry no data."""
        if len(args) < 2:
            raise CommandError("usage: inject <from>-><to> <TYPE> [zxid] [key=value ...]")
        sender, to = _arrow(args[0])
        try:
            type_ = PacketType[args[1]]
        except KeyError:
            raise CommandError(f"unknown packet type {args[1]}") from None
        zxid = int(args[2], 0) if len(args) > 2 else 0
        packet = QuorumPacket(type_, zxid, _inject_data(type_, zxid, options), None)
        link = self._open_link(sender, to)
        sender_role = PacketSender.LEADER if sender == link.acceptor else PacketSender.LEARNER
        label = packet_text(packet, sender_role)
        self._emit(f"{sender}->{to} {label} (injected)")
        self._queue(QuorumBytes(link, sender, to, encode_packet(packet), label))

    def cmd_inject_bytes(self, args: list[str], options: dict[str, str]) -> None:
        """``inject-bytes 9->3 deadbeef``: raw bytes on the quorum connection."""
        sender, to = _arrow(args[0])
        data = bytes.fromhex("".join(args[1:]))
        link = self._open_link(sender, to)
        label = f"bytes {data.hex()}"
        self._emit(f"{sender}->{to} {label} (injected)")
        self._queue(QuorumBytes(link, sender, to, data, label))

    def cmd_inject_vote_bytes(self, args: list[str], options: dict[str, str]) -> None:
        """``inject-vote-bytes 9->1 HEX``: a notification's bytes (without the length that
        frames it) on the election connection from 9 to 1, whoever 9 is."""
        sender, to = _arrow(args[0])
        data = bytes.fromhex("".join(args[1:]))
        label = f"notification bytes {data.hex()}"
        self._emit(f"{sender}->{to} {label} (injected)")
        self.inbox.setdefault(sender, [])
        self._queue(ElectionMessage(sender, to, data, label))

    def _open_link(self, sender: int, to: int) -> Link:
        for link in reversed(self.links):
            if not link.closed and {link.dialer, link.acceptor} == {sender, to}:
                return link
        raise CommandError(f"no open quorum connection between {sender} and {to}")

    # --- clients -----------------------------------------------------------------------------

    def cmd_client(self, args: list[str], options: dict[str, str]) -> None:
        """``client NAME connect SID [timeout=ms] [session-of=OTHER]``, ``client NAME
        reconnect SID`` (the same session, at another server), ``client NAME disconnect``
        (the connection closes, the session lives on), and requests: ``create PATH [DATA]
        [ephemeral]``, ``get PATH``, ``set PATH DATA``, ``delete PATH``, ``sync [PATH]``,
        ``close``."""
        if len(args) < 2:
            raise CommandError("usage: client <name> <operation> ...")
        name, operation, rest = args[0], args[1], args[2:]
        if operation == "connect":
            if name in self.clients:
                raise CommandError(f"client {name} exists; use reconnect")
            client = Client(name, timeout_ms=int(options.get("timeout", CLIENT_TIMEOUT_MS_DEFAULT)))
            owner = options.get("session-of")
            if owner is not None:
                # A second connection with another client's session id and password (what
                # a client that lost its connection and moved on would send).
                other = self.clients[owner]
                client.session_id, client.password = other.session_id, other.password
                client.timeout_ms, client.last_zxid = other.timeout_ms, other.last_zxid
            self.clients[name] = client
            self._connect(client, int(rest[0]))
            return
        existing = self.clients.get(name)
        if existing is None:
            raise CommandError(f"no client {name}")
        client = existing
        if operation in ("reconnect", "disconnect"):
            if client.conn is not None:
                self._emit(f"client {name} closes its connection to {client.sid}")
                old = self._peer(client.sid)
                old.connection_lost(client.conn)
                self._drop_client_conn(client)
                self._after_input(self.servers[client.sid])
            if operation == "reconnect":
                self._connect(client, int(rest[0]))
            return
        self._request(client, operation, rest)

    def _connect(self, client: Client, sid: int) -> None:
        peer = self._peer(sid)
        conn = self._next_client_conn
        self._next_client_conn += 1
        client.sid, client.conn, client.handshake_done = sid, conn, False
        self.client_of_conn[conn] = client
        session = "new session" if client.session_id == 0 else f"session={client.session_id:#x}"
        self._emit(
            f"client {client.name} -> {sid}: connect {session} lastZxidSeen="
            f"{hex_zxid(client.last_zxid)} timeout={client.timeout_ms}"
        )
        peer.connection_made(conn, "127.0.0.1")
        if peer.serving:
            request = jute.ConnectRequest(
                0, client.last_zxid, client.timeout_ms, client.session_id, client.password, False
            )
            peer.receive(conn, jute.encode_connect_request(request)[4:], self.now)
        self._after_input(self.servers[sid])

    def _request(self, client: Client, operation: str, rest: list[str]) -> None:
        if client.conn is None:
            raise CommandError(f"client {client.name} is not connected")
        record: jute.RequestRecord | None
        if operation == "create":
            flags = 1 if "ephemeral" in rest[2:] else 0
            data = rest[1].encode() if len(rest) > 1 else b""
            opcode, record = (
                OpCode.create,
                jute.CreateRequest(rest[0], data, OPEN_ACL_UNSAFE, flags),
            )
        elif operation == "get":
            opcode, record = OpCode.getData, jute.GetDataRequest(rest[0], False)
        elif operation == "set":
            opcode, record = OpCode.setData, jute.SetDataRequest(rest[0], rest[1].encode(), -1)
        elif operation == "delete":
            opcode, record = OpCode.delete, jute.DeleteRequest(rest[0], -1)
        elif operation == "sync":
            opcode, record = OpCode.sync, jute.SyncRequest(rest[0] if rest else "/")
        elif operation == "close":
            opcode, record = OpCode.closeSession, None
        else:
            raise CommandError(f"unknown client operation {operation!r}")
        xid = client.next_xid
        client.next_xid += 1
        client.pending[xid] = opcode
        shown = " ".join([operation, *rest])
        self._emit(f"client {client.name} -> {client.sid}: xid={xid} {shown}")
        payload = jute.encode_request(jute.RequestHeader(xid, opcode), record)[4:]
        self._peer(client.sid).receive(client.conn, payload, self.now)
        self._after_input(self.servers[client.sid])

    def _drop_client_conn(self, client: Client) -> None:
        if client.conn is not None:
            self.client_of_conn.pop(client.conn, None)
        client.conn = None
        client.pending = {}

    def _client_output(self, out: Output) -> None:
        client = self.client_of_conn.get(out.conn_id)
        if client is None:
            self._emit(f"  connection {out.conn_id} <- {'close' if out.close else 'data'}")
            return
        name = client.name
        if out.data is not None:
            payload = out.data[4:]
            if not client.handshake_done:
                client.handshake_done = True
                response = jute.decode_connect_response(payload)
                if response.timeOut > 0:
                    client.session_id = response.sessionId
                    client.password = response.passwd or bytes(16)
                self._emit(f"  client {name} <- {connect_response_text(payload)}")
            else:
                xid = int.from_bytes(payload[:4], "big", signed=True)
                opcode = client.pending.pop(xid, None) if xid >= 0 else None
                zxid = int.from_bytes(payload[4:12], "big", signed=True)
                client.last_zxid = max(client.last_zxid, zxid)
                self._emit(f"  client {name} <- {reply_text(payload, opcode)}")
        if out.close:
            self._emit(f"  client {name} <- connection closed")
            self._drop_client_conn(client)

    # --- the Ready contract and the network ---------------------------------------------------

    def _handle_ready(self, server: Server) -> bool:
        peer = server.peer
        if peer is None:
            return False
        ready = peer.ready()
        if not ready:
            return False
        sid = server.sid
        self._header(f"> {sid} handling Ready", _HEADER_BLOCK)
        disk = server.disk
        for item in ready.persist:
            self._emit(f"  persist {persist_text(item)}")
        if ready.persist:
            disk.pending.extend(ready.persist)
            disk.persists_asked += len(ready.persist)
            last = disk.make_durable(len(ready.persist))
            if last:
                peer.persisted(last)
        for message in ready.send:
            self._send(server, message)
        for out in ready.clients:
            self._client_output(out)
        self._after_input(server)
        return True

    def _cut(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.cut_pairs

    def _queue(self, message: Message) -> None:
        self.inbox.setdefault(message.to, []).append(message)

    def _link_of(self, sid: int, conn: int) -> Link | None:
        for link in reversed(self.links):
            if (link.dialer, link.dialer_conn) == (sid, conn) or (
                link.acceptor,
                link.acceptor_conn,
            ) == (sid, conn):
                return link
        return None

    def _send(self, server: Server, message: object) -> None:
        sid = server.sid
        if isinstance(message, ElectionSend):
            to = message.to
            label = notification_text(message.notification)
            fate = self._fate(sid, to)
            self._emit(f"  send {sid}->{to} {label}{fate}")
            if not fate:
                data = encode_notification(message.notification)
                self._queue(ElectionMessage(sid, to, data, label))
        elif isinstance(message, QuorumConnect):
            self._emit(f"  send {sid}->{message.leader} connect to the quorum port")
            self._queue(ConnectMessage(sid, message.leader, message.conn))
        elif isinstance(message, QuorumSend):
            link = self._link_of(sid, message.conn)
            if link is None:
                self._emit(f"  send on connection {message.conn} (no such connection)")
                return
            to = link.other(sid)
            event = message.packet
            if isinstance(event, QuorumPacket):
                role = PacketSender.LEADER if sid == link.acceptor else PacketSender.LEARNER
                label = packet_text(event, role)
                data = encode_packet(event)
            else:
                label = apache_snapshot_text(event)
                data = encode_snapshot_transfer(event)
            fate = " (connection closed)" if link.closed else " (lost: partitioned)" * link.cut
            if not self._hides(event):
                self._emit(f"  send {sid}->{to} {label}{fate}")
            if not fate:
                self._queue(QuorumBytes(link, sid, to, data, label))
        elif isinstance(message, QuorumClose):
            link = self._link_of(sid, message.conn)
            if link is None or link.closed:
                return
            to = link.other(sid)
            link.closed = True
            self._emit(f"  send {sid}->{to} close the quorum connection")
            if not link.cut:
                self._queue(CloseMessage(link, sid, to))
        else:
            raise AssertionError(f"unknown send {message!r}")

    def _hides(self, event: QuorumPacket | ApacheSnapshot) -> bool:
        return isinstance(event, QuorumPacket) and event.type in self._hidden

    def _fate(self, sender: int, to: int) -> str:
        if self._cut(sender, to):
            return " (lost: partitioned)"
        server = self.servers.get(to)
        if server is not None and server.peer is None:
            return f" (lost: {to} is down)"
        return ""

    def _deliver(self, sid: int) -> bool:
        messages = self.inbox.get(sid)
        if not messages:
            return False
        self.inbox[sid] = []
        self._header(f"> {sid} receiving", _HEADER_BLOCK)
        for message in messages:
            self._deliver_one(message)
        return True

    def _deliver_one(self, message: Message) -> None:
        sid, sender = message.to, message.sender
        server = self.servers.get(sid)
        peer = server.peer if server is not None else None
        if isinstance(message, ElectionMessage):
            try:
                notification: Notification = decode_notification(message.data)
            except jute.JuteError as error:
                # WorkerReceiver drops a notification it cannot read (server.peers too).
                self._emit(f"  {sender}->{sid} {message.label}")
                self._emit(f"{self._indent()}WARN dropping a malformed notification: {error}", _LOG)
                return
            self._emit(f"  {sender}->{sid} {notification_text(notification)}")
            if peer is not None and server is not None:
                peer.election_received(self.now, sender, notification)
                self._after_input(server)
        elif isinstance(message, ConnectMessage):
            self._emit(f"  {sender}->{sid} {message.label}")
            if peer is None or server is None or self._cut(sender, sid):
                self._queue(ConnectResult(sid, sender, message.conn, None, "connection refused"))
                return
            link = Link(sender, message.conn, sid, self._next_accept_conn)
            self._next_accept_conn += 1
            self.links.append(link)
            peer.quorum_accepted(self.now, link.acceptor_conn)
            self._after_input(server)
            self._queue(ConnectResult(sid, sender, message.conn, link, "connection accepted"))
        elif isinstance(message, ConnectResult):
            self._emit(f"  {sender}->{sid} {message.label}")
            if peer is not None and server is not None:
                if message.link is None:
                    peer.quorum_closed(self.now, message.conn)
                else:
                    peer.quorum_connected(self.now, message.conn)
                self._after_input(server)
        elif isinstance(message, QuorumBytes):
            self._deliver_bytes(message, server)
        else:
            self._emit(f"  {sender}->{sid} {message.label}")
            if peer is not None and server is not None:
                peer.quorum_closed(self.now, message.link.conn_of(sid))
                self._after_input(server)

    def _deliver_bytes(self, message: QuorumBytes, server: Server | None) -> None:
        """Bytes on a quorum connection, read as a server reads them (``server.peers``):
        whole packets (and a SNAP's snapshot) go to the peer; bytes that can never be valid
        close the connection."""
        link, sid, sender = message.link, message.to, message.sender
        if link.cut:
            return
        reader = link.to_dialer if sid == link.dialer else link.to_acceptor
        if reader.broken:
            return  # this side closed the connection for its bytes: it reads no more
        try:
            events = reader.feed(message.data)
        except jute.JuteError as error:
            self._emit(f"  {sender}->{sid} {message.label}")
            why = f"quorum connection from {sender}: {error}; closing it"
            self._emit(f"{self._indent()}WARN {why}", _LOG)
            link.closed = True
            self._queue(CloseMessage(link, sid, sender))
            if server is not None and server.peer is not None:
                server.peer.quorum_closed(self.now, link.conn_of(sid))
                self._after_input(server)
            return
        if not events:
            self._emit(f"  {sender}->{sid} {message.label} (incomplete: waiting for more)")
        role = PacketSender.LEADER if sender == link.acceptor else PacketSender.LEARNER
        for event in events:
            if isinstance(event, ApacheSnapshot):
                self._emit(f"  {sender}->{sid} {apache_snapshot_text(event)}")
            elif not self._hides(event):
                self._emit(f"  {sender}->{sid} {packet_text(event, role)}")
            if server is None or server.peer is None or link.closed:
                continue
            server.peer.quorum_received(self.now, link.conn_of(sid), event)
            self._after_input(server)

    # --- helpers ------------------------------------------------------------------------------

    def _sids(self, args: list[str]) -> list[int]:
        if not args:
            raise CommandError("which servers?")
        if args == ["all"]:
            return sorted(self.servers)
        return [int(a) for a in args]

    def _server(self, sid: int) -> Server:
        server = self.servers.get(sid)
        if server is None:
            raise CommandError(f"no server {sid}")
        return server

    def _peer(self, sid: int) -> QuorumPeer:
        peer = self._server(sid).peer
        if peer is None:
            raise CommandError(f"server {sid} is down")
        return peer

    # For tests that drive the environment directly.

    def run(self, command: str) -> str:
        return self.handle(Case(0, command, ""))


def _duration_ms(text: str) -> int:
    if text.endswith("ms"):
        return int(text[:-2])
    if text.endswith("s"):
        return int(float(text[:-1]) * 1000)
    raise CommandError(f"a duration is like 250ms or 3s, not {text!r}")


def _arrow(text: str) -> tuple[int, int]:
    sender, _, to = text.partition("->")
    if not to:
        raise CommandError(f"expected FROM->TO, not {text!r}")
    return int(sender), int(to)


def _inject_data(type_: PacketType, zxid: int, options: dict[str, str]) -> bytes | None:
    if type_ == PacketType.FOLLOWERINFO:
        version = int(options.get("protocolVersion", "0x10000"), 0)
        return LearnerInfo(int(options["sid"]), version, 0).encode()
    if type_ == PacketType.ACKEPOCH:
        return AckEpoch(int(options["currentEpoch"])).encode()
    if type_ == PacketType.LEADERINFO:
        return LeaderInfo().encode()
    if type_ == PacketType.PROPOSAL:
        session = int(options.get("session", "0"), 0)
        data = options.get("data", "").encode()
        header_type = OpCode.create if "create" in options else OpCode.setData
        body: CreateTxn | SetDataTxn
        if "create" in options:
            path = options["create"]
            body = CreateTxn(path, data, OPEN_ACL_UNSAFE, "persistent", 0, -1, 0, OpCode.create)
        else:
            body = SetDataTxn(options["set"], data, 1)
        txn = Txn(TxnHeader(session, 1, zxid, START_TIME_MS, header_type), body)
        return apache_txn.encode_txn_entry(apache_txn.from_zkref(txn))
    return None
