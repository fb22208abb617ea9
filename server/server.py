"""The server: lifecycle, the Ready contract and the timer around the node.

Theory of operation
-------------------
One node for the server: a standalone ``ZooKeeperCore`` (a leader with a quorum of one), or
an ensemble's ``QuorumPeer`` around one. Around it, each in a module of its own:

* ``server.clients``: the client connections (frames in, bounded by ``jute.maxbuffer``,
  ``maxClientCnxns`` and backpressure; frames out; four-letter words at the first bytes),
  from the client port and, with ``secureClientPort``, from a second listener that serves
  the same protocol over TLS (``server.tls``), where a client's certificate gives its
  connection an ``x509`` id before its first frame;
* ``server.peers``: an ensemble's election and quorum connections;
* ``server.snapshots``: a snapshot every ``snapCount`` txns, encoded in slices, saved once
  durable;
* ``server.fourletter``: the text of the four-letter words.

After every input (client frames, a peer's message, a durability completion, a timer tick)
``_flush`` carries out the node's effects (``reference.ready.Ready``, the same contract
every driver of the core follows):

1. what to persist (txns; for an ensemble also epochs, truncations, snapshots from the
   leader) goes to the ``GroupCommitter``, which writes it to ``Storage`` in batches, in
   the order asked, while the loop goes on; when a batch is durable, ``_on_durable`` tells
   the node (``persisted``), which commits what it may: only then do the replies to those
   writes, and the reads queued behind them in their sessions, exist;
2. quorum messages are held until every persist asked before them is done (``_held_sends``):
   a follower never acks what it could still lose;
3. the client frames go out at once: they show committed state only, so nothing in the
   shell holds them back. Then the server is throttled or not (``globalOutstandingLimit``).

Time: ``server.clock`` is the only clock. A single ``loop.call_at`` timer, re-armed after
each pass, calls ``node.tick`` at ``node.next_deadline()`` so sessions expire,
containers/TTL nodes are reaped and (an ensemble) pings go out and silent peers time out.

The version we report (the profile's release: ``3.9.3-zkref`` or ``3.8.0-zkref``), and why:
``server.version``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from reference.core import ZooKeeperCore
from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import Notification
from reference.quorum.messages import Send, SendGate
from reference.quorum.peer import QuorumPeer
from reference.quorum.wire import QuorumPacket
from reference.ready import InstallSnapshot, TruncateLog
from reference.txn import Txn
from server import fourletter
from server.clients import ClientConnection, ClientConnections
from server.clock import Clock
from server.config import ServerConfig
from server.peers import PeerNetwork
from server.snapshots import SnapshotScheduler
from server.sqlite_storage import SQLiteStorage
from server.status import ServerControls
from server.storage import GroupCommitter, MemoryStorage, Storage
from server.tls import HANDSHAKE_TIMEOUT_S, server_context

log = logging.getLogger("zkref.server")

# gc.set_threshold: young collections every 50k allocations instead of 700.
GC_THRESHOLDS = (50_000, 20, 100)


class ZooKeeperServer:
    """A zkref server, standalone or one of an ensemble: ``await start()``, then
    ``await close()``."""

    def __init__(self, config: ServerConfig, storage: Storage | None = None) -> None:
        self.config = config
        self.clock = Clock()
        self.started_ms = self.clock.now_ms()
        # What the server drives: a standalone core, or (an ensemble's server) a quorum peer
        # around one. Both take client frames, time and durability, and give a Ready.
        self.node: ZooKeeperCore | QuorumPeer = ZooKeeperCore(
            config.core_config(self.started_ms), self.started_ms
        )
        self.peers: PeerNetwork | None = None
        # Sends held back until the persists asked before them are durable (the Ready
        # contract), each connection's in order.
        self._send_gate = SendGate()
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.committer = GroupCommitter(self.storage, self._on_durable, self._on_storage_failure)
        # Snapshots: only with a data dir (``_recover`` starts them).
        self.snapshots: SnapshotScheduler | None = None
        self.durable_zxid = self.core.last_zxid
        self.internal_errors = 0
        self.clients = ClientConnections(self, self._flush, self._answer_four_letter_word)
        self.trace_mask = 0b100110010  # Apache ZooKeeper's default, for gtmk/stmk
        self.host = config.host
        self.port = config.port
        self.secure_port = config.secure_port
        # Batches handed to storage and not yet durable: (last zxid, time handed, ms).
        self._submitted: deque[tuple[int, int]] = deque()
        self._latency_ms = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Server | None = None
        self._secure_listener: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline = 0
        self._stopped: asyncio.Event | None = None
        self.failure: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured address; returns once connections are accepted."""
        assert self._loop is None, "started twice"
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if self.config.data_dir is not None and isinstance(self.storage, MemoryStorage):
            await self._recover(self.config.data_dir)
        assert not self.config.is_ensemble or isinstance(self.node, QuorumPeer), (
            "an ensemble's server needs its dataDir"
        )
        # The recovered tree lives as long as the server: keep the collector from walking it
        # again and again, and collect young objects less often (full collections of a
        # large tree paused the loop for hundreds of ms).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.committer.start()
        try:
            self._listener = await self._loop.create_server(
                self.clients.new_connection,
                self.config.host,
                self.config.port,
                backlog=self.config.listen_backlog_effective,
                reuse_address=True,
            )
            if self.config.secure_port is not None:
                self._secure_listener = await self._loop.create_server(
                    self.clients.new_connection,
                    self.config.secure_host_effective,
                    self.config.secure_port,
                    ssl=server_context(self.config.tls),
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                    backlog=self.config.listen_backlog_effective,
                    reuse_address=True,
                )
        except BaseException:
            # Not serving after all: stop the writer and close the database (its thread
            # would otherwise keep the process alive).
            if self._listener is not None:
                self._listener.close()
            await self.committer.close()
            raise
        sockname = self._listener.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]
        if self._secure_listener is not None:
            self.secure_port = self._secure_listener.sockets[0].getsockname()[1]
        if isinstance(self.node, QuorumPeer):
            self.peers = PeerNetwork(self.config.my_id, self.config.servers, self)
            try:
                await self.peers.start()
            except BaseException:
                self._listener.close()
                if self._secure_listener is not None:
                    self._secure_listener.close()
                await self.committer.close()
                raise
        # The peer's first election notifications (and anything else recovery asked for).
        self._flush()
        self._arm_timer()

    async def _recover(self, data_dir: Path) -> None:
        """Open the data dir's database and rebuild the core from its snapshot and log.

        Raises ``StorageCorrupt`` (with what is wrong) rather than start from an empty tree.
        """
        storage = await SQLiteStorage.open(data_dir, self.config.snap_retain_count)
        now = self.clock.now_ms()
        core_config = self.config.core_config(now)
        try:
            recovered = await storage.load(core_config.profile.watch_mode_set)
            if self.config.is_ensemble:
                self.node = QuorumPeer.restore(
                    self.config.peer_config(),
                    core_config,
                    now,
                    recovered.snapshot_blob,
                    recovered.txns,
                    recovered.accepted_epoch,
                    recovered.current_epoch,
                )
            else:
                self.node = ZooKeeperCore.restore(
                    core_config, now, recovered.snapshot, recovered.txns
                )
        except BaseException:
            await storage.close()
            raise
        log.info(
            "recovered zxid 0x%x from %s (snapshot at 0x%x, %d txns replayed)",
            self.core.last_zxid,
            storage.path,
            recovered.snapshot_zxid,
            len(recovered.txns),
        )
        self.storage = storage
        self.committer = GroupCommitter(storage, self._on_durable, self._on_storage_failure)
        self.durable_zxid = self.core.last_zxid
        self.committer.durable_zxid = self.durable_zxid
        self.snapshots = SnapshotScheduler(
            storage,
            self.config.snap_count,
            lambda: self.core,
            self._count_internal_error,
            self.durable_zxid,
            len(recovered.txns),
        )

    async def close(self) -> None:
        """Stop accepting, close every connection, commit what is queued, stop the timer."""
        if self.peers is not None:
            await self.peers.close()
        if self.snapshots is not None:
            self.snapshots.stop()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._secure_listener is not None:
            self._secure_listener.close()
            self._secure_listener = None
        self.clients.abort_all()
        if self.snapshots is not None:
            await self.snapshots.wait()
        await self.committer.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return when ``close`` has run or storage failed (``failure`` says why)."""
        assert self._stopped is not None, "not started"
        await self._stopped.wait()

    @property
    def outstanding(self) -> int:
        """Outputs waiting for their transactions to become durable."""
        return self.core.outstanding

    @property
    def connections(self) -> dict[int, ClientConnection]:
        """The client connections, by connection id."""
        return self.clients.connections

    @property
    def throttled(self) -> bool:
        """No client is read: too many requests wait for their writes to commit."""
        return self.clients.throttled

    def _count_internal_error(self) -> None:
        self.internal_errors += 1

    def _answer_four_letter_word(self, conn: ClientConnection, word: str, argument: bytes) -> str:
        return fourletter.answer(word, argument, ServerControls(self, conn))

    # --- output --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Carry out the node's effects (``reference.ready``): what to persist to the group
        commit, sends once what was asked before them is durable, client frames out now;
        then throttle reading if too many requests wait."""
        ready = self.node.ready()
        committer = self.committer
        if ready.persist:
            if not self.config.is_ensemble:
                assert all(isinstance(item, Txn) for item in ready.persist), ready.persist
            committer.submit(ready.persist)
            last_txn = next((i for i in reversed(ready.persist) if isinstance(i, Txn)), None)
            if last_txn is not None:
                self._submitted.append((last_txn.header.zxid, self.clock.now_ms()))
                if self.snapshots is not None:
                    self.snapshots.txns_persisting(
                        sum(1 for i in ready.persist if isinstance(i, Txn))
                    )
            if self.snapshots is not None and any(
                isinstance(i, (TruncateLog, InstallSnapshot)) for i in ready.persist
            ):
                self.snapshots.abandon()
        if ready.send:
            now = self._send_gate.admit(
                cast(list[Send], ready.send),
                committer.persists_submitted,
                committer.persists_done,
            )
            if self.peers is not None:
                for message in now:
                    self.peers.send(message)
                self.peers.flush()
        clients = self.clients
        closes = clients.take_closes()
        if closes:
            ready.clients.extend(closes)
        if ready.clients:
            clients.deliver(ready.clients, self._latency_ms, self.clock.now_ms())
        core = self.core
        clients.update_throttle(core.outstanding, core.outstanding_bytes)
        self._arm_timer()

    def _release_sends(self) -> None:
        """Send what no longer waits for a persist, each connection's in the order asked."""
        if not self._send_gate.held:
            return
        peers = self.peers
        if peers is None:
            return
        for message in self._send_gate.release(self.committer.persists_done):
            peers.send(message)
        peers.flush()

    def _on_durable(self, zxid: int) -> None:
        """The committer made more durable (txns up to ``zxid``, or another change): the
        node commits what it may, and the replies and sends that waited go out."""
        assert zxid >= self.durable_zxid, "durability went backwards"
        self.durable_zxid = zxid
        if self.snapshots is not None:
            self.snapshots.durable(zxid)
        # The latency of what this releases: since its oldest txn was handed to storage.
        submitted = self._submitted
        now = self.clock.now_ms()
        self._latency_ms = now - submitted[0][1] if submitted else 0
        while submitted and submitted[0][0] <= zxid:
            submitted.popleft()
        self.node.persisted(zxid)
        self._release_sends()
        self._flush()
        self._latency_ms = 0

    @property
    def core(self) -> ZooKeeperCore:
        """The client core (an ensemble's peer may replace its core: always ask)."""
        node = self.node
        return node if isinstance(node, ZooKeeperCore) else node.core

    # --- the peer's inputs (an ensemble's server) -------------------------------------------

    def election_received(self, sid: int, notification: Notification) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.election_received(self.clock.now_ms(), sid, notification))

    def quorum_accepted(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_accepted(self.clock.now_ms(), conn))

    def quorum_connected(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_connected(self.clock.now_ms(), conn))

    def quorum_closed(self, conn: int) -> None:
        peer = self.node
        assert isinstance(peer, QuorumPeer)
        self._peer_input(lambda: peer.quorum_closed(self.clock.now_ms(), conn))

    def quorum_received(self, conn: int, events: Sequence[QuorumPacket | ApacheSnapshot]) -> None:
        """Packets read together on one connection, then one flush for all of them."""
        peer = self.node
        assert isinstance(peer, QuorumPeer)

        now = self.clock.now_ms()
        for event in events:
            try:
                peer.quorum_received(now, conn, event)
            except Exception:
                # A bug: keep the server up; the peer's timeouts bring it back to an election.
                self.internal_errors += 1
                log.exception("internal error in the quorum peer")
        self._flush()

    def _peer_input(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            # A bug: keep the server up; the peer's timeouts bring it back to an election.
            self.internal_errors += 1
            log.exception("internal error in the quorum peer")
        self._flush()

    def _on_storage_failure(self, error: BaseException) -> None:
        self.failure = error
        loop = self._loop
        assert loop is not None
        loop.create_task(self.close())

    # --- time ----------------------------------------------------------------------------

    def _arm_timer(self) -> None:
        deadline = self.node.next_deadline()
        if self._timer is not None:
            if deadline >= self._timer_deadline:
                return
            self._timer.cancel()
        loop = self._loop
        if loop is None:
            return
        self._timer_deadline = deadline
        # One millisecond late rather than early: the clock rounds down.
        self._timer = loop.call_at(self.clock.loop_time(deadline + 1), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.node.tick(self.clock.now_ms())
        except Exception:
            self.internal_errors += 1
            log.exception("internal error in the session/container timer")
        self._flush()
