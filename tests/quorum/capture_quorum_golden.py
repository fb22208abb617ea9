"""Capture golden quorum traffic from a real three-server Apache ZooKeeper 3.8. NOT run in CI.

What it does, all on 127.0.0.1 and on free ports only:

1. gives each server a client, quorum and election port, and puts a recording TCP proxy in
   front of every quorum and election port. Each server's zoo.cfg lists its own real
   address and the *proxies* of the other two, so every connection one server opens to
   another goes through a proxy that records both directions, chunk by chunk, before
   forwarding.

   One rewrite: a server that dials the election port of a higher sid sends its own
   election address in its first message, and the higher sid closes that connection and
   dials back *that* address (``QuorumCnxManager.handleConnection``): the real port, past
   the proxy. So an election proxy forwards the dialer's first message with its address
   replaced by the dialer's proxy. The recording keeps the bytes as Apache sent them.
2. drives the ensemble through: the first election; writes by clients of a follower
   (forwarded REQUESTs: every txn kind, null data, a failing multi, errors, sync, a
   refused reconfig, createSession/closeSession with ephemerals); writes by a client of
   the leader; a session that expires (the leader's closeSession); a session that moves
   to another follower (REVALIDATE, valid and not) and pings carrying session touches; a
   container and a TTL node reaped by the leader (deleteContainer); a follower restarted
   behind (DIFF), restarted with its data wiped (SNAP), and a leader that logged a
   proposal no follower saw, killed and restarted after a new leader was elected (TRUNC;
   that restart uses ``multiAddress.enabled=true`` so initial messages of both formats are
   captured);
3. cuts each recorded direction into frames with plain ``struct`` code of its own (not
   zkref's codec): initial messages and length-prefixed messages on the election port,
   ``QuorumPacket``s and the snapshot after SNAP on the quorum port; tags each with its
   port, connection, direction, capture phase and type, and writes
   ``data/golden_quorum_frames.json``;
4. stops every process it started and every proxy, by PID, on the way out, whatever
   happened.

Usage: ``python -m tests.quorum.capture_quorum_golden [--out PATH] [--keep]`` from the
repository root. Needs Java and the Debian ``zookeeper`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference import jute
from reference.jute.multi import MultiOp, MultiRequest
from spec.acl import ACL, OPEN_ACL_UNSAFE, Id, generate_digest
from spec.opcodes import OpCode
from tests.quorum.golden import (
    ACCEPTOR_TO_DIALER,
    DIALER_TO_ACCEPTOR,
    GOLDEN_QUORUM_FRAMES_PATH,
    KIND_INITIAL_MESSAGE,
    KIND_NOTIFICATION,
    KIND_PACKET,
    KIND_SNAPSHOT,
    LEADER_TO_LEARNER,
    LEARNER_TO_LEADER,
    PORT_ELECTION,
    PORT_QUORUM,
)
from tests.support.rawclient import RawClient, four_letter_word

LOOPBACK = "127.0.0.1"
JAVA_CLASSPATH = "/usr/share/java/*:/usr/share/zookeeper/*"
ENSEMBLE_SIZE = 3
TICK_TIME_MS = 1000
INIT_LIMIT_TICKS = 10
SYNC_LIMIT_TICKS = 5
CONTAINER_CHECK_INTERVAL_MS = 1000
WAIT_SECONDS_MAX = 90.0
POLL_SECONDS = 0.2
PROXY_BUFFER_BYTES = 65536

PACKET_NAMES = {
    1: "REQUEST",
    2: "PROPOSAL",
    3: "ACK",
    4: "COMMIT",
    5: "PING",
    6: "REVALIDATE",
    7: "SYNC",
    8: "INFORM",
    9: "COMMITANDACTIVATE",
    10: "NEWLEADER",
    11: "FOLLOWERINFO",
    12: "UPTODATE",
    13: "DIFF",
    14: "TRUNC",
    15: "SNAP",
    16: "OBSERVERINFO",
    17: "LEADERINFO",
    18: "ACKEPOCH",
    19: "INFORMANDACTIVATE",
}
SNAP = 15
STATE_NAMES = {0: "LOOKING", 1: "FOLLOWING", 2: "LEADING", 3: "OBSERVING"}

INT = struct.Struct(">i")
LONG = struct.Struct(">q")


def log(message: str) -> None:
    print(f"[capture] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(what: str, condition: Callable[[], bool], seconds: float = WAIT_SECONDS_MAX) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


# --- recording ---------------------------------------------------------------------------


@dataclass
class Connection:
    """One proxied TCP connection: which port of which server it reached."""

    connection_id: int
    port: str  # PORT_QUORUM or PORT_ELECTION
    acceptor_sid: int  # the server whose port was dialed (the leader, on the quorum port)


@dataclass
class Recording:
    """Every chunk every proxy forwarded, in one global order, and the phases of the run."""

    chunks: list[tuple[int, bool, bytes]] = field(default_factory=list)  # (conn, from dialer, data)
    connections: list[Connection] = field(default_factory=list)
    phases: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, port: str, acceptor_sid: int) -> Connection:
        with self.lock:
            connection = Connection(len(self.connections), port, acceptor_sid)
            self.connections.append(connection)
            return connection

    def add(self, connection_id: int, from_dialer: bool, data: bytes) -> None:
        with self.lock:
            self.chunks.append((connection_id, from_dialer, data))

    def checkpoint(self) -> int:
        with self.lock:
            return len(self.chunks)

    def phase(self, name: str) -> None:
        log(f"--- phase {name}")
        with self.lock:
            self.phases.append((name, len(self.chunks)))

    def stream(self, connection_id: int, from_dialer: bool, since: int = 0) -> bytes:
        with self.lock:
            return b"".join(
                data
                for c, d, data in self.chunks[since:]
                if c == connection_id and d == from_dialer
            )


def initial_message_length(data: bytes) -> int | None:
    """The length of the election port's first message at the start of ``data``."""
    if len(data) < 8:
        return None
    (first,) = LONG.unpack_from(data)
    if first >= 0:
        return 8
    if len(data) < 20:
        return None
    (length,) = INT.unpack_from(data, 16)
    return 20 + int(length)


class RecordingProxy:
    """Forwards 127.0.0.1:<port> to one server port and records both directions.

    ``rewrite_initial`` (election ports only) turns the dialer's first message into the one
    forwarded; what is recorded is what the dialer sent.
    """

    def __init__(
        self,
        recording: Recording,
        port_kind: str,
        acceptor_sid: int,
        upstream_port: int,
        rewrite_initial: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.recording = recording
        self.port_kind = port_kind
        self.acceptor_sid = acceptor_sid
        self.upstream_port = upstream_port
        self.rewrite_initial = rewrite_initial
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.upstream_port), timeout=5)
            except OSError:
                downstream.close()  # the server is down: so is its port
                continue
            upstream.settimeout(None)
            connection = self.recording.open(self.port_kind, self.acceptor_sid)
            with self.lock:
                self.sockets += [downstream, upstream]
            for from_dialer, source, target in (
                (True, downstream, upstream),
                (False, upstream, downstream),
            ):
                threading.Thread(
                    target=self._pump,
                    args=(connection.connection_id, from_dialer, source, target),
                    daemon=True,
                ).start()

    def _pump(
        self, connection_id: int, from_dialer: bool, source: socket.socket, target: socket.socket
    ) -> None:
        held = b""  # the dialer's first message, until it is whole
        rewriting = from_dialer and self.rewrite_initial is not None
        while True:
            try:
                data = source.recv(PROXY_BUFFER_BYTES)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            self.recording.add(connection_id, from_dialer, data)
            if rewriting:
                held += data
                length = initial_message_length(held)
                if length is None or len(held) < length:
                    continue
                assert self.rewrite_initial is not None
                data = self.rewrite_initial(held[:length]) + held[length:]
                rewriting = False
            with contextlib.suppress(OSError):
                target.sendall(data)

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.close()


# --- the ensemble ------------------------------------------------------------------------


@dataclass
class ServerPorts:
    client: int
    quorum: int
    election: int


class Ensemble:
    """Three Apache ZooKeeper servers behind recording proxies; every process it starts is
    stopped by ``close``, by PID."""

    def __init__(self, workdir: Path, recording: Recording) -> None:
        self.workdir = workdir
        self.recording = recording
        self.sids = list(range(1, ENSEMBLE_SIZE + 1))
        self.ports = {sid: ServerPorts(free_port(), free_port(), free_port()) for sid in self.sids}
        self.quorum_proxies: dict[int, RecordingProxy] = {}
        self.election_proxies: dict[int, RecordingProxy] = {}
        for sid in self.sids:
            self.quorum_proxies[sid] = RecordingProxy(
                recording, PORT_QUORUM, sid, self.ports[sid].quorum
            )
            self.election_proxies[sid] = RecordingProxy(
                recording, PORT_ELECTION, sid, self.ports[sid].election, self._rewrite
            )
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.multi_address = False
        for sid in self.sids:
            self.data_dir(sid).mkdir(parents=True)
            (self.data_dir(sid) / "myid").write_text(f"{sid}\n")

    def _rewrite(self, message: bytes) -> bytes:
        """The dialer's first message with its own election address(es) replaced by its
        proxy's, so that a dial-back goes through the proxy too."""
        (version,) = LONG.unpack_from(message)
        if version >= 0:
            return message
        (sid,) = LONG.unpack_from(message, 8)
        proxy = self.election_proxies.get(int(sid))
        if proxy is None:
            return message
        addresses = message[20:].decode().split("|")
        text = "|".join(f"{LOOPBACK}:{proxy.port}" for _ in addresses).encode()
        return message[:16] + INT.pack(len(text)) + text

    def data_dir(self, sid: int) -> Path:
        return self.workdir / f"server{sid}" / "data"

    def log_dir(self, sid: int) -> Path:
        return self.workdir / f"server{sid}" / "logs"

    def write_config(self, sid: int) -> Path:
        lines = [
            f"tickTime={TICK_TIME_MS}",
            f"initLimit={INIT_LIMIT_TICKS}",
            f"syncLimit={SYNC_LIMIT_TICKS}",
            f"dataDir={self.data_dir(sid)}",
            f"clientPort={self.ports[sid].client}",
            f"clientPortAddress={LOOPBACK}",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
        ]
        if self.multi_address:
            lines.append("multiAddress.enabled=true")
        for other in self.sids:
            if other == sid:
                quorum, election = self.ports[sid].quorum, self.ports[sid].election
            else:
                quorum = self.quorum_proxies[other].port
                election = self.election_proxies[other].port
            lines.append(f"server.{other}={LOOPBACK}:{quorum}:{election}")
        config = self.workdir / f"server{sid}" / "zoo.cfg"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, sid: int) -> None:
        assert sid not in self.processes, f"server {sid} is running"
        config = self.write_config(sid)
        self.log_dir(sid).mkdir(parents=True, exist_ok=True)
        command = [
            "java",
            "-Xmx256m",
            "-Dzookeeper.extendedTypesEnabled=true",
            f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_INTERVAL_MS}",
            f"-Dzookeeper.log.dir={self.log_dir(sid)}",
            "-cp",
            JAVA_CLASSPATH,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(config),
        ]
        with open(self.log_dir(sid) / "server.out", "ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        self.processes[sid] = process
        log(f"started server {sid}: pid {process.pid}, client port {self.ports[sid].client}")

    def stop(self, sid: int) -> None:
        """SIGTERM, then SIGKILL if it does not exit."""
        process = self.processes.pop(sid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log(f"stopped server {sid} (pid {process.pid})")

    def kill(self, sid: int) -> None:
        process = self.processes.pop(sid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        log(f"killed server {sid} (pid {process.pid})")

    def pause(self, sid: int) -> None:
        os.kill(self.processes[sid].pid, signal.SIGSTOP)
        log(f"paused server {sid}")

    def wipe(self, sid: int) -> None:
        assert sid not in self.processes
        shutil.rmtree(self.data_dir(sid))
        self.data_dir(sid).mkdir(parents=True)
        (self.data_dir(sid) / "myid").write_text(f"{sid}\n")
        log(f"wiped the data of server {sid}")

    def mode(self, sid: int) -> str | None:
        if sid not in self.processes:
            return None
        try:
            answer = four_letter_word(LOOPBACK, self.ports[sid].client, "srvr", timeout_s=2)
        except OSError:
            return None
        for line in answer.splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: ") :]
        return None

    def wait_serving(self, sids: list[int]) -> int:
        """Wait until ``sids`` serve as one leader and followers; the leader's sid."""
        modes: dict[int, str | None] = {}

        def settled() -> bool:
            modes.update({sid: self.mode(sid) for sid in sids})
            values = list(modes.values())
            return values.count("leader") == 1 and values.count("follower") == len(sids) - 1

        wait_for(f"servers {sids} to elect a leader", settled)
        leader = next(sid for sid, mode in modes.items() if mode == "leader")
        log(f"serving: leader {leader}, followers {[s for s in sids if s != leader]}")
        return leader

    def wait_follower(self, sid: int) -> None:
        wait_for(f"server {sid} to follow", lambda: self.mode(sid) == "follower")
        log(f"server {sid} follows")

    def version(self, sid: int) -> str:
        answer = four_letter_word(LOOPBACK, self.ports[sid].client, "srvr")
        return answer.splitlines()[0]

    def close(self) -> None:
        for sid in list(self.processes):
            with contextlib.suppress(Exception):
                self.stop(sid)
        for proxy in [*self.quorum_proxies.values(), *self.election_proxies.values()]:
            proxy.close()


# --- clients -----------------------------------------------------------------------------

DIGEST_ACL = ACL(31, Id("digest", generate_digest("golden:secret")))
READ_ALL = ACL(1, Id("world", "anyone"))


SUPER_SECRET = 0xB3415C00  # ZooKeeperServer.superSecret


def session_password(session_id: int) -> bytes:
    """``ZooKeeperServer.generatePasswd``: 16 bytes of ``java.util.Random(id ^ superSecret)``."""
    mask = (1 << 48) - 1
    seed = ((session_id ^ SUPER_SECRET) ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < 16:
        seed = (seed * 0x5DEECE66D + 0xB) & mask
        value = seed >> 16  # next(32), then nextBytes takes its bytes low first
        out += (value & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out[:16])


def client(ensemble: Ensemble, sid: int, timeout_ms: int = 10_000) -> RawClient:
    raw = RawClient(LOOPBACK, ensemble.ports[sid].client)
    raw.handshake(timeout_ms)
    return raw


def checked(reply: jute.Reply, *expected: int) -> jute.Reply:
    if reply.header.err not in (expected or (0,)):
        raise RuntimeError(f"unexpected reply {reply}")
    return reply


def follower_writes(ensemble: Ensemble, sid: int) -> None:
    """Every kind of write, by a client of a follower: each is a REQUEST to the leader."""
    with client(ensemble, sid) as c:
        checked(c.create("/golden", b"root"))
        checked(c.create("/golden/persistent", b"data"))
        checked(c.call(OpCode.create, jute.CreateRequest("/golden/null", None, OPEN_ACL_UNSAFE, 0)))
        checked(
            c.call(OpCode.create2, jute.CreateRequest("/golden/create2", b"2", OPEN_ACL_UNSAFE, 0))
        )
        checked(c.create("/golden/ephemeral", b"e", flags=1))
        checked(c.create("/golden/ephemeral-seq-", b"es", flags=3))
        checked(c.create("/golden/seq-", b"s", flags=2))
        checked(
            c.call(
                OpCode.createContainer,
                jute.CreateRequest("/golden/container", b"c", OPEN_ACL_UNSAFE, 4),
            )
        )
        checked(c.create("/golden/container/child", b""))
        checked(
            c.call(
                OpCode.createTTL,
                jute.CreateTTLRequest("/golden/ttl", b"t", OPEN_ACL_UNSAFE, 5, 1000),
            )
        )
        checked(c.call(OpCode.setData, jute.SetDataRequest("/golden/persistent", b"data2", -1)))
        checked(
            c.call(
                OpCode.setACL,
                jute.SetACLRequest("/golden/persistent", (DIGEST_ACL, READ_ALL), 0),
            )
        )
        checked(
            c.call(
                OpCode.multi,
                MultiRequest(
                    (
                        MultiOp(
                            OpCode.create,
                            jute.CreateRequest("/golden/multi", b"m", OPEN_ACL_UNSAFE, 0),
                        ),
                        MultiOp(
                            OpCode.create2,
                            jute.CreateRequest("/golden/multi-2", b"", OPEN_ACL_UNSAFE, 0),
                        ),
                        MultiOp(
                            OpCode.createContainer,
                            jute.CreateRequest("/golden/multi-c", b"", OPEN_ACL_UNSAFE, 4),
                        ),
                        MultiOp(
                            OpCode.createTTL,
                            jute.CreateTTLRequest(
                                "/golden/multi-t", b"", OPEN_ACL_UNSAFE, 5, 60_000
                            ),
                        ),
                        MultiOp(OpCode.check, jute.CheckVersionRequest("/golden/null", 0)),
                        MultiOp(OpCode.setData, jute.SetDataRequest("/golden/multi", b"m2", 0)),
                        MultiOp(OpCode.delete, jute.DeleteRequest("/golden/multi", 1)),
                    )
                ),
            )
        )
        checked(
            c.call(
                OpCode.multi,
                MultiRequest(
                    (
                        MultiOp(
                            OpCode.create,
                            jute.CreateRequest("/golden/never", b"", OPEN_ACL_UNSAFE, 0),
                        ),
                        MultiOp(OpCode.check, jute.CheckVersionRequest("/golden/null", 99)),
                        MultiOp(OpCode.delete, jute.DeleteRequest("/golden/null", -1)),
                    )
                ),
            ),
            0,
            -103,  # BADVERSION: the failing multi is still a txn
        )
        checked(c.create("/golden", b"again"), -110)  # NODEEXISTS: an error txn
        checked(c.call(OpCode.delete, jute.DeleteRequest("/golden/create2", 5)), -103)
        checked(c.call(OpCode.delete, jute.DeleteRequest("/golden/container/child", -1)))
        checked(c.call(OpCode.sync, jute.SyncRequest("/golden")))
        checked(
            c.call(OpCode.reconfig, jute.ReconfigRequest(None, None, None, -1)), -123, -102, -101
        )
        checked(c.close_session())


def leader_writes(ensemble: Ensemble, sid: int) -> None:
    """Writes by a client of the leader: proposed without a REQUEST."""
    with client(ensemble, sid) as c:
        checked(c.create("/golden/from-leader", b"L"))
        checked(c.create("/golden/from-leader-ephemeral", b"", flags=1))
        checked(c.close_session())


def expire_a_session(ensemble: Ensemble, follower: int, observer: int) -> None:
    """A client of a follower vanishes: the leader expires its session and its ephemeral."""
    c = client(ensemble, follower, timeout_ms=2 * TICK_TIME_MS)
    checked(c.create("/golden/expiring", b"", flags=1))
    c.close()  # no closeSession: the session must expire
    with client(ensemble, observer) as watcher:

        def gone() -> bool:
            reply = watcher.call(OpCode.exists, jute.ExistsRequest("/golden/expiring", False))
            return reply.header.err == -101

        wait_for("the session to expire", gone, 30.0)
        checked(watcher.close_session())


def move_a_session(ensemble: Ensemble, first: int, second: int) -> None:
    """A session re-attaches at another follower (REVALIDATE: valid), and a made-up session
    tries to (REVALIDATE: invalid)."""
    old = client(ensemble, first)
    if session_password(old.session_id) != old.password:
        raise RuntimeError("session_password does not compute Apache's passwords")
    checked(old.create("/golden/moving", b"", flags=1))
    moved = RawClient(LOOPBACK, ensemble.ports[second].client)
    response = moved.handshake(10_000, old.session_id, old.password)
    if response.sessionId != old.session_id:
        raise RuntimeError(f"the session did not move: {response}")
    old.close()
    checked(moved.get_data("/golden/moving"))
    # Keep the session busy across a few pings: they carry its touches.
    deadline = time.monotonic() + 3 * TICK_TIME_MS / 1000
    while time.monotonic() < deadline:
        checked(moved.call(OpCode.exists, jute.ExistsRequest("/golden", False)))
        time.sleep(0.1)
    checked(moved.close_session())
    moved.close()
    made_up = (second << 56) | 0x123456
    with RawClient(LOOPBACK, ensemble.ports[second].client) as stranger:
        response = stranger.handshake(10_000, made_up, session_password(made_up))
        if response.sessionId != 0:
            raise RuntimeError(f"a made-up session was accepted: {response}")


def writes(ensemble: Ensemble, sid: int, prefix: str, count: int) -> None:
    with client(ensemble, sid) as c:
        for index in range(count):
            checked(c.create(f"/golden/{prefix}-{index}", f"{prefix} {index}".encode()))
        checked(c.close_session())


def force_trunc(ensemble: Ensemble, leader: int, followers: list[int]) -> int:
    """The leader logs a proposal no follower logs, then everyone dies; the followers elect
    a new leader, and the old leader, restarted, must truncate. The new leader's sid."""
    c = client(ensemble, leader)  # its session needs a quorum: before the pause
    for sid in followers:
        ensemble.pause(sid)
    since = ensemble.recording.checkpoint()
    c.send_request(
        OpCode.create, jute.CreateRequest("/golden/uncommitted", b"", OPEN_ACL_UNSAFE, 0)
    )

    def proposed() -> bool:
        frames = cut_since(ensemble.recording, since, PORT_QUORUM, dialer=False)
        return any(frame.type_name == "PROPOSAL" for frame in frames)

    wait_for("the leader to propose to the paused followers", proposed, 10.0)
    time.sleep(1.0)  # its own log write (SyncRequestProcessor) is not on the wire
    c.close()
    ensemble.kill(leader)
    for sid in followers:
        ensemble.kill(sid)
    ensemble.multi_address = True
    for sid in followers:
        ensemble.start(sid)
    new_leader = ensemble.wait_serving(followers)
    ensemble.start(leader)
    ensemble.wait_follower(leader)
    return new_leader


# --- cutting the streams into frames (plain struct, independent of zkref's codec) ---------


class Cut(Exception):
    """The stream ends inside a value."""


class Cursor:
    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def take(self, count: int) -> bytes:
        if count < 0 or self.position + count > len(self.data):
            raise Cut
        start = self.position
        self.position += count
        return self.data[start : self.position]

    def read_int(self) -> int:
        (value,) = INT.unpack(self.take(4))
        return int(value)

    def read_long(self) -> int:
        (value,) = LONG.unpack(self.take(8))
        return int(value)

    def read_blob(self) -> bytes | None:
        length = self.read_int()
        return None if length == -1 else self.take(length)


@dataclass
class CutFrame:
    data: bytes
    kind: str
    type_name: str
    type_name_code: int
    end: int  # offset in the direction's stream where the frame ends


def cut_quorum(stream: bytes, from_leader: bool) -> tuple[list[CutFrame], int]:
    """QuorumPackets (int type, long zxid, buffer data, vector<Id> authinfo), and after a
    leader's SNAP the snapshot and its signature as one frame; the bytes left over."""
    frames: list[CutFrame] = []
    position = 0
    while True:
        cursor = Cursor(stream, position)
        try:
            type_ = cursor.read_int()
            cursor.read_long()
            cursor.read_blob()
            count = cursor.read_int()
            for _ in range(max(count, 0)):
                cursor.read_blob()
                cursor.read_blob()
        except Cut:
            return frames, len(stream) - position
        frames.append(
            CutFrame(
                stream[position : cursor.position],
                KIND_PACKET,
                PACKET_NAMES.get(type_, f"UNKNOWN{type_}"),
                type_,
                cursor.position,
            )
        )
        position = cursor.position
        if from_leader and type_ == SNAP:
            try:
                for _ in range(cursor.read_int()):  # sessions
                    cursor.take(12)
                for _ in range(cursor.read_int()):  # the ACL cache
                    cursor.read_long()
                    for _ in range(cursor.read_int()):
                        cursor.read_int()
                        cursor.read_blob()
                        cursor.read_blob()
                while cursor.read_blob() != b"/":  # znodes until the "/" end mark
                    cursor.read_blob()
                    cursor.read_long()
                    cursor.take(60)
                signature = cursor.read_blob()
            except Cut:
                return frames, len(stream) - position
            if signature != b"BenWasHere":
                raise RuntimeError(f"snapshot without signature: {signature!r}")
            frames.append(
                CutFrame(
                    stream[position : cursor.position],
                    KIND_SNAPSHOT,
                    "SNAPSHOT",
                    -1,
                    cursor.position,
                )
            )
            position = cursor.position


def cut_election(stream: bytes, from_dialer: bool) -> tuple[list[CutFrame], int]:
    """The dialer's first message, then int-length-prefixed messages."""
    frames: list[CutFrame] = []
    position = 0
    if from_dialer:
        length = initial_message_length(stream)
        if length is None or len(stream) < length:
            return frames, len(stream)
        (version,) = LONG.unpack_from(stream)
        name = {-65536: "V1", -65535: "V2"}.get(int(version), "PRE_3_5")
        frames.append(CutFrame(stream[:length], KIND_INITIAL_MESSAGE, name, int(version), length))
        position = length
    while len(stream) - position >= 4:
        (length,) = INT.unpack_from(stream, position)
        end = position + 4 + length
        if end > len(stream):
            break
        message = stream[position:end]
        (state,) = INT.unpack_from(message, 4) if length >= 4 else (-1,)
        frames.append(
            CutFrame(
                message, KIND_NOTIFICATION, STATE_NAMES.get(state, f"STATE{state}"), state, end
            )
        )
        position = end
    return frames, len(stream) - position


def cut_since(recording: Recording, since: int, port: str, dialer: bool) -> list[CutFrame]:
    """Frames completed since chunk ``since`` in one direction of every ``port`` connection
    (for waiting on the live traffic)."""
    frames: list[CutFrame] = []
    for connection in list(recording.connections):
        if connection.port != port:
            continue
        whole = recording.stream(connection.connection_id, dialer)
        recent = recording.stream(connection.connection_id, dialer, since)
        cut = (
            cut_quorum(whole, not dialer)[0]
            if port == PORT_QUORUM
            else cut_election(whole, dialer)[0]
        )
        frames += [f for f in cut if f.end > len(whole) - len(recent)]
    return frames


def frames_of(recording: Recording) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every frame of the recording in capture order, and a description of each connection."""
    phase_starts = recording.phases
    entries: list[tuple[int, int, dict[str, Any]]] = []
    connections: list[dict[str, Any]] = []
    for connection in recording.connections:
        described: dict[str, Any] = {
            "id": connection.connection_id,
            "port": connection.port,
            "acceptor_sid": connection.acceptor_sid,
            "incomplete_tail_bytes": {},
        }
        for from_dialer in (True, False):
            # Where each chunk of this direction ends in its stream, to date the frames.
            ends: list[tuple[int, int]] = []
            stream = b""
            for index, (c, d, data) in enumerate(recording.chunks):
                if c == connection.connection_id and d == from_dialer:
                    stream += data
                    ends.append((len(stream), index))
            if connection.port == PORT_QUORUM:
                direction = LEARNER_TO_LEADER if from_dialer else LEADER_TO_LEARNER
                frames, left = cut_quorum(stream, from_leader=not from_dialer)
            else:
                direction = DIALER_TO_ACCEPTOR if from_dialer else ACCEPTOR_TO_DIALER
                frames, left = cut_election(stream, from_dialer)
            described["incomplete_tail_bytes"][direction] = left
            for order, frame in enumerate(frames):
                chunk = next(index for end, index in ends if end >= frame.end)
                phase = [name for name, start in phase_starts if start <= chunk][-1]
                entry = {
                    "connection": connection.connection_id,
                    "port": connection.port,
                    "direction": direction,
                    "phase": phase,
                    "kind": frame.kind,
                    "type": frame.type_name,
                    "hex": frame.data.hex(),
                }
                entries.append((chunk, order, entry))
            if connection.port == PORT_QUORUM and from_dialer and frames:
                info = Cursor(frames[0].data, 12).read_blob() or b""
                described["learner_sid"] = LONG.unpack_from(info)[0] if len(info) >= 8 else None
            if connection.port == PORT_ELECTION and from_dialer and frames:
                first = frames[0].data
                described["dialer_sid"] = LONG.unpack_from(first, 8 if len(first) > 8 else 0)[0]
        connections.append(described)
    entries.sort(key=lambda item: (item[0], item[2]["connection"], item[1]))
    return [entry for _, _, entry in entries], connections


REQUIRED = [
    (PORT_QUORUM, LEARNER_TO_LEADER, "FOLLOWERINFO"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "LEADERINFO"),
    (PORT_QUORUM, LEARNER_TO_LEADER, "ACKEPOCH"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "DIFF"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "SNAP"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "SNAPSHOT"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "TRUNC"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "NEWLEADER"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "UPTODATE"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "PROPOSAL"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "COMMIT"),
    (PORT_QUORUM, LEARNER_TO_LEADER, "ACK"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "PING"),
    (PORT_QUORUM, LEARNER_TO_LEADER, "PING"),
    (PORT_QUORUM, LEARNER_TO_LEADER, "REQUEST"),
    (PORT_QUORUM, LEARNER_TO_LEADER, "REVALIDATE"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "REVALIDATE"),
    (PORT_QUORUM, LEADER_TO_LEARNER, "SYNC"),
    (PORT_ELECTION, DIALER_TO_ACCEPTOR, "V1"),
    (PORT_ELECTION, DIALER_TO_ACCEPTOR, "V2"),
    (PORT_ELECTION, DIALER_TO_ACCEPTOR, "LOOKING"),
    (PORT_ELECTION, ACCEPTOR_TO_DIALER, "LOOKING"),
    (PORT_ELECTION, ACCEPTOR_TO_DIALER, "LEADING"),
    (PORT_ELECTION, ACCEPTOR_TO_DIALER, "FOLLOWING"),
]


def capture(workdir: Path) -> dict[str, Any]:
    recording = Recording()
    recording.phase("election")
    ensemble = Ensemble(workdir, recording)
    try:
        for sid in ensemble.sids:
            ensemble.start(sid)
        leader = ensemble.wait_serving(ensemble.sids)
        version = ensemble.version(leader)
        first, second = [sid for sid in ensemble.sids if sid != leader]

        recording.phase("follower-writes")
        follower_writes(ensemble, first)
        recording.phase("leader-writes")
        leader_writes(ensemble, leader)
        recording.phase("session-expiry")
        expire_a_session(ensemble, second, first)
        recording.phase("session-move")
        move_a_session(ensemble, first, second)

        recording.phase("diff")
        ensemble.stop(second)
        writes(ensemble, first, "diff", 3)
        ensemble.start(second)
        ensemble.wait_follower(second)
        writes(ensemble, second, "after-diff", 1)

        recording.phase("snap")
        ensemble.stop(second)
        ensemble.wipe(second)
        writes(ensemble, first, "snap", 2)
        ensemble.start(second)
        ensemble.wait_follower(second)
        writes(ensemble, leader, "after-snap", 2)

        recording.phase("trunc")
        new_leader = force_trunc(ensemble, leader, [first, second])
        recording.phase("after-trunc")
        writes(ensemble, leader, "after-trunc", 2)
        recording.phase("shutdown")
        log(f"new leader: {new_leader}")
    finally:
        ensemble.close()
    frames, connections = frames_of(recording)
    seen = {(f["port"], f["direction"], f["type"]) for f in frames}
    missing = [need for need in REQUIRED if need not in seen]
    if missing:
        raise RuntimeError(f"the capture lacks {missing}; see {workdir}")
    return {
        "about": (
            "Frames recorded between the three servers of an Apache ZooKeeper ensemble by "
            "tests/quorum/capture_quorum_golden.py; see tests/quorum/golden.py"
        ),
        "apache_zookeeper": version,
        "tick_time_ms": TICK_TIME_MS,
        "phases": [name for name, _ in recording.phases],
        "connections": connections,
        "frames": frames,
    }


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="zkref-quorum-capture-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_QUORUM_FRAMES_PATH)
    parser.add_argument("--keep", action="store_true", help="keep the servers' directories")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like an exception, so the servers are still stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    with workdir(args.keep) as path:
        document = capture(path)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    counts = Counter((f["port"], f["direction"], f["type"]) for f in document["frames"])
    for (port, direction, type_), count in sorted(counts.items()):
        log(f"{count:6d}  {port:8s} {direction:17s} {type_}")
    log(f"wrote {len(document['frames'])} frames to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
