"""Capture golden frames from a real Apache ZooKeeper and real clients. NOT run in CI.

What it does, all on 127.0.0.1:

1. starts a standalone Apache ZooKeeper (the Debian ``zookeeper`` package) from a zoo.cfg of
   its own in a temporary directory, with ``-Dzookeeper.extendedTypesEnabled=true`` (TTL
   nodes), and waits until ``ruok`` answers ``imok``;
2. starts a recording TCP proxy in front of it;
3. drives kazoo (two sessions), the Java client (``ZooKeeperMain``, what zkCli.sh runs) and a
   few raw requests built with our encoder through the proxy;
4. cuts the recorded streams into frames with plain ``struct`` (not our codec), attributes each
   frame to the operation that produced it, and writes them to ``data/golden_frames.json`` with
   expectations taken from the operation's arguments and from what the client decoded itself;
5. checks that our decoder agrees (a sanity check only: the tests are the real check), and
   stops the server and every process it started, by PID.

Usage: ``python -m tests.reference.capture_golden [--out PATH]`` from the repository root.
Needs Java and ``apt-get install zookeeper zookeeper-bin``, and ``pip install kazoo``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_digest_acl

from reference import jute
from spec.acl import ACL, OPEN_ACL_UNSAFE, Id
from spec.opcodes import OpCode
from spec.stat import Stat
from tests.reference.golden import (
    GOLDEN_FRAMES_PATH,
    KIND_CONNECT_REQUEST,
    KIND_CONNECT_RESPONSE,
    KIND_REPLY,
    KIND_REQUEST,
    lookup,
    normal,
)

LOOPBACK = "127.0.0.1"
JAVA_CLASSPATH = "/usr/share/java/*:/usr/share/zookeeper/*"
SERVER_START_SECONDS_MAX = 60.0
SESSION_TIMEOUT_MS = 4000  # 2 * tickTime: the smallest the server allows, so pings come soon
CLIENT_TO_SERVER = "client->server"
SERVER_TO_CLIENT = "server->client"
LENGTH = struct.Struct(">i")
XID = struct.Struct(">i")
PING_XID = -2
NOTIFICATION_XID = -1


def log(message: str) -> None:
    print(f"[capture] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def four_letter_word(port: int, word: bytes) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=2) as connection:
        connection.sendall(word)
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
        return answer


@contextlib.contextmanager
def zookeeper_server(workdir: Path) -> Iterator[int]:
    """A standalone Apache ZooKeeper on a free loopback port; stopped by PID on exit."""
    port = free_port()
    (workdir / "data").mkdir()
    (workdir / "logs").mkdir()
    config = workdir / "zoo.cfg"
    config.write_text(
        "\n".join(
            [
                "tickTime=2000",
                f"dataDir={workdir / 'data'}",
                f"clientPort={port}",
                f"clientPortAddress={LOOPBACK}",
                "4lw.commands.whitelist=*",
                "admin.enableServer=false",
                "",
            ]
        )
    )
    command = [
        "java",
        "-Xmx512m",
        "-Dzookeeper.extendedTypesEnabled=true",
        f"-Dzookeeper.log.dir={workdir / 'logs'}",
        "-cp",
        JAVA_CLASSPATH,
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(config),
    ]
    with open(workdir / "logs" / "server.out", "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    log(f"started Apache ZooKeeper pid {server.pid} on {LOOPBACK}:{port}")
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while True:
            with contextlib.suppress(OSError):
                if four_letter_word(port, b"ruok") == b"imok":
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ZooKeeper did not start; see {workdir / 'logs'}")
            time.sleep(0.2)
        version = four_letter_word(port, b"srvr").decode().splitlines()[0]
        log(f"ready: {version}")
        yield port
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
        log(f"stopped Apache ZooKeeper pid {server.pid}")


@dataclass
class Frame:
    """One frame as recorded: its bytes (length prefix included) and when it completed."""

    connection: int
    direction: str
    data: bytes
    completed_at: int  # index of the recorded chunk that completed it

    @property
    def xid(self) -> int:
        (xid,) = XID.unpack_from(self.data, 4)
        return int(xid)


class RecordingProxy:
    """A loopback TCP proxy that records every chunk in both directions, in order.

    A chunk is recorded before it is forwarded, so once a client has its reply the reply is
    in the record.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self.listener.getsockname()[1]
        self.chunks: list[tuple[int, str, bytes]] = []
        self.lock = threading.Lock()
        self.connection_count = 0
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, self.upstream_port))
            with self.lock:
                connection = self.connection_count
                self.connection_count += 1
                self.sockets += [downstream, upstream]
            for direction, source, target in (
                (CLIENT_TO_SERVER, downstream, upstream),
                (SERVER_TO_CLIENT, upstream, downstream),
            ):
                threading.Thread(
                    target=self._pump, args=(connection, direction, source, target), daemon=True
                ).start()

    def _pump(
        self, connection: int, direction: str, source: socket.socket, target: socket.socket
    ) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    target.shutdown(socket.SHUT_WR)
                return
            with self.lock:
                self.chunks.append((connection, direction, data))
            with contextlib.suppress(OSError):
                target.sendall(data)

    def checkpoint(self) -> int:
        with self.lock:
            return len(self.chunks)

    def frames(self, connection: int, direction: str) -> list[Frame]:
        """The complete frames of one direction of one connection, cut with plain struct."""
        with self.lock:
            chunks = [
                (i, data)
                for i, (c, d, data) in enumerate(self.chunks)
                if c == connection and d == direction
            ]
        frames: list[Frame] = []
        stream = b""
        for index, data in chunks:
            stream += data
            while len(stream) >= 4:
                (length,) = LENGTH.unpack_from(stream, 0)
                if len(stream) < 4 + length:
                    break
                frames.append(Frame(connection, direction, stream[: 4 + length], index))
                stream = stream[4 + length :]
        return frames

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()


@dataclass
class Golden:
    """The frames kept, with what each must decode to."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        description: str,
        client: str,
        frame: Frame,
        kind: str,
        expect: dict[str, Any],
        request_type: int | None = None,
        canonical: bool = True,
    ) -> None:
        self.entries.append(
            {
                "description": description,
                "client": client,
                "direction": frame.direction,
                "kind": kind,
                "request_type": request_type,
                "frame_hex": frame.data.hex(),
                "expect": {key: normal(value) for key, value in expect.items()},
                "canonical": canonical,
            }
        )


@dataclass
class Operation:
    """The frames one synchronous operation produced on one connection (pings set apart)."""

    requests: list[Frame]
    replies: list[Frame]
    result: Any


class Recorder:
    def __init__(self, proxy: RecordingProxy, golden: Golden) -> None:
        self.proxy = proxy
        self.golden = golden

    def run(self, connection: int, action: Callable[[], Any]) -> Operation:
        start = self.proxy.checkpoint()
        try:
            result: Any = action()
        except KazooException as error:
            result = error
        end = self.proxy.checkpoint()

        def window(direction: str) -> list[Frame]:
            return [
                f
                for f in self.proxy.frames(connection, direction)
                if start <= f.completed_at < end and f.xid != PING_XID
            ]

        return Operation(window(CLIENT_TO_SERVER), window(SERVER_TO_CLIENT), result)

    def exchange(
        self,
        client: str,
        connection: int,
        what: str,
        opcode: int,
        action: Callable[[], Any],
        request: jute.RequestRecord | None,
        reply: Callable[[Any], dict[str, Any]],
    ) -> Any:
        """Run one request/reply operation and keep both frames."""
        operation = self.run(connection, action)
        if len(operation.requests) != 1 or len(operation.replies) != 1:
            raise RuntimeError(
                f"{what}: expected one request and one reply, got "
                f"{len(operation.requests)} and {len(operation.replies)}"
            )
        request_frame, reply_frame = operation.requests[0], operation.replies[0]
        request_expect: dict[str, Any] = {"header.type": opcode, "record": request}
        self.golden.add(
            f"{client}: {what} (request)", client, request_frame, KIND_REQUEST, request_expect
        )
        reply_expect = {"header.xid": request_frame.xid, **reply(operation.result)}
        self.golden.add(
            f"{client}: {what} (reply)",
            client,
            reply_frame,
            KIND_REPLY,
            reply_expect,
            request_type=opcode,
        )
        return operation.result


def stat_of(kazoo_stat: Any) -> Stat:
    """kazoo's ``ZnodeStat`` (decoded by kazoo) as a spec ``Stat``."""
    return Stat(
        kazoo_stat.czxid,
        kazoo_stat.mzxid,
        kazoo_stat.ctime,
        kazoo_stat.mtime,
        kazoo_stat.version,
        kazoo_stat.cversion,
        kazoo_stat.aversion,
        kazoo_stat.ephemeralOwner,
        kazoo_stat.dataLength,
        kazoo_stat.numChildren,
        kazoo_stat.pzxid,
    )


def acl_of(kazoo_acl: Any) -> ACL:
    return ACL(kazoo_acl.perms, Id(kazoo_acl.id.scheme, kazoo_acl.id.id))


def ok(extra: dict[str, Any] | None = None) -> Callable[[Any], dict[str, Any]]:
    return lambda _result: {"header.err": 0, **(extra or {})}


def failed(code: int) -> Callable[[Any], dict[str, Any]]:
    def expect(result: Any) -> dict[str, Any]:
        if getattr(result, "code", None) != code:
            raise RuntimeError(f"expected error {code}, kazoo got {result!r}")
        return {"header.err": code, "record": None}

    return expect


def capture_kazoo(proxy: RecordingProxy, recorder: Recorder, golden: Golden) -> None:
    """kazoo 2.11: handshake, auth, creates, reads, writes, multi, a notification, ping, close."""
    client = "kazoo"
    hosts = f"{LOOPBACK}:{proxy.port}"
    a_connection = proxy.connection_count
    a = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_MS / 1000)
    a.start()
    session_id, passwd = a.client_id
    connect_request = proxy.frames(a_connection, CLIENT_TO_SERVER)[0]
    connect_response = proxy.frames(a_connection, SERVER_TO_CLIENT)[0]
    golden.add(
        "kazoo: ConnectRequest for a new session (readOnly byte present)",
        client,
        connect_request,
        KIND_CONNECT_REQUEST,
        {"": jute.ConnectRequest(0, 0, SESSION_TIMEOUT_MS, 0, bytes(16), False)},
    )
    golden.add(
        "kazoo: ConnectResponse (readOnly byte present because the request had it)",
        client,
        connect_response,
        KIND_CONNECT_RESPONSE,
        {"": jute.ConnectResponse(0, SESSION_TIMEOUT_MS, session_id, passwd, False)},
    )

    recorder.exchange(
        client,
        a_connection,
        "addAuth digest user:secret",
        OpCode.auth,
        lambda: a.add_auth("digest", "user:secret"),
        jute.AuthPacket(0, "digest", b"user:secret"),
        ok({"header.xid": -4, "record": None}),
    )
    open_acl = OPEN_ACL_UNSAFE
    recorder.exchange(
        client,
        a_connection,
        "create /golden PERSISTENT",
        OpCode.create,
        lambda: a.create("/golden", b""),
        jute.CreateRequest("/golden", b"", open_acl, 0),
        lambda path: {"header.err": 0, "record": jute.CreateResponse(path)},
    )
    recorder.exchange(
        client,
        a_connection,
        "create /golden/eph-seq- EPHEMERAL_SEQUENTIAL",
        OpCode.create,
        lambda: a.create("/golden/eph-seq-", b"e", ephemeral=True, sequence=True),
        jute.CreateRequest("/golden/eph-seq-", b"e", open_acl, 3),
        lambda path: {"header.err": 0, "record": jute.CreateResponse(path)},
    )
    recorder.exchange(
        client,
        a_connection,
        "create2 /golden/node PERSISTENT with stat",
        OpCode.create2,
        lambda: a.create("/golden/node", b"hello", include_data=True),
        jute.CreateRequest("/golden/node", b"hello", open_acl, 0),
        lambda result: {
            "header.err": 0,
            "record": jute.Create2Response(result[0], stat_of(result[1])),
        },
    )
    digest_acl = acl_of(make_digest_acl("user", "secret", all=True))
    recorder.exchange(
        client,
        a_connection,
        "create /golden/secret PERSISTENT_SEQUENTIAL with a digest ACL",
        OpCode.create,
        lambda: a.create(
            "/golden/secret", b"s", acl=[make_digest_acl("user", "secret", all=True)], sequence=True
        ),
        jute.CreateRequest("/golden/secret", b"s", (digest_acl,), 2),
        lambda path: {"header.err": 0, "record": jute.CreateResponse(path)},
    )
    fired = threading.Event()
    events: list[Any] = []

    def watcher(event: Any) -> None:
        events.append(event)
        fired.set()

    recorder.exchange(
        client,
        a_connection,
        "getData /golden/node with a watch",
        OpCode.getData,
        lambda: a.get("/golden/node", watch=watcher),
        jute.GetDataRequest("/golden/node", True),
        lambda result: {
            "header.err": 0,
            "record": jute.GetDataResponse(result[0], stat_of(result[1])),
        },
    )

    b_connection = proxy.connection_count
    b = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_MS / 1000)
    b.start()
    notifications_before = proxy.checkpoint()
    recorder.exchange(
        client,
        b_connection,
        "setData /golden/node from a second session",
        OpCode.setData,
        lambda: b.set("/golden/node", b"changed"),
        jute.SetDataRequest("/golden/node", b"changed", -1),
        lambda stat: {"header.err": 0, "record": jute.SetDataResponse(stat_of(stat))},
    )
    if not fired.wait(10) or events[0].type != "CHANGED":
        raise RuntimeError(f"the data watch did not fire as expected: {events!r}")
    notifications = [
        f
        for f in proxy.frames(a_connection, SERVER_TO_CLIENT)
        if f.completed_at >= notifications_before and f.xid == NOTIFICATION_XID
    ]
    golden.add(
        "kazoo: notification NodeDataChanged /golden/node (3.8 sends zxid -1)",
        client,
        notifications[0],
        KIND_REPLY,
        {
            "header.xid": -1,
            "header.err": 0,
            "record": jute.WatcherEvent(3, 3, events[0].path),
        },
        request_type=OpCode.notification,
    )
    b.stop()
    b.close()

    recorder.exchange(
        client,
        a_connection,
        "exists /golden/missing (NONODE: header only)",
        OpCode.exists,
        lambda: a.exists("/golden/missing"),
        jute.ExistsRequest("/golden/missing", False),
        lambda result: {"header.err": -101, "record": None},
    )
    recorder.exchange(
        client,
        a_connection,
        "exists /golden/node",
        OpCode.exists,
        lambda: a.exists("/golden/node"),
        jute.ExistsRequest("/golden/node", False),
        lambda stat: {"header.err": 0, "record": jute.ExistsResponse(stat_of(stat))},
    )
    recorder.exchange(
        client,
        a_connection,
        "getChildren2 /golden",
        OpCode.getChildren2,
        lambda: a.get_children("/golden", include_data=True),
        jute.GetChildren2Request("/golden", False),
        lambda result: {
            "header.err": 0,
            "record": jute.GetChildren2Response(tuple(result[0]), stat_of(result[1])),
        },
    )
    recorder.exchange(
        client,
        a_connection,
        "getChildren /golden",
        OpCode.getChildren,
        lambda: a.get_children("/golden"),
        jute.GetChildrenRequest("/golden", False),
        lambda children: {"header.err": 0, "record": jute.GetChildrenResponse(tuple(children))},
    )
    secret_path = next(p for p in a.get_children("/golden") if p.startswith("secret"))
    recorder.exchange(
        client,
        a_connection,
        "getACL of a node with a digest ACL",
        OpCode.getACL,
        lambda: a.get_acls(f"/golden/{secret_path}"),
        jute.GetACLRequest(f"/golden/{secret_path}"),
        lambda result: {
            "header.err": 0,
            "record": jute.GetACLResponse(tuple(acl_of(x) for x in result[0]), stat_of(result[1])),
        },
    )
    recorder.exchange(
        client,
        a_connection,
        "setACL /golden/node world:anyone READ|WRITE|ADMIN",
        OpCode.setACL,
        lambda: a.set_acls("/golden/node", [make_acl_rwa()]),
        jute.SetACLRequest("/golden/node", (ACL(19, Id("world", "anyone")),), -1),
        lambda stat: {"header.err": 0, "record": jute.SetACLResponse(stat_of(stat))},
    )
    recorder.exchange(
        client,
        a_connection,
        "sync /golden",
        OpCode.sync,
        lambda: a.sync("/golden"),
        jute.SyncRequest("/golden"),
        lambda path: {"header.err": 0, "record": jute.SyncResponse(path)},
    )

    def transaction() -> Any:
        t = a.transaction()
        t.create("/golden/txn", b"t")
        t.set_data("/golden/node", b"txn")
        t.check("/golden/node", 2)
        t.delete("/golden/txn")
        return t.commit()

    def multi_reply(results: Any) -> dict[str, Any]:
        return {
            "header.err": 0,
            "record": jute.MultiResponse(
                (
                    jute.MultiResult(OpCode.create, jute.CreateResponse(results[0])),
                    jute.MultiResult(OpCode.setData, jute.SetDataResponse(stat_of(results[1]))),
                    jute.MultiResult(OpCode.check, None),
                    jute.MultiResult(OpCode.delete, None),
                )
            ),
        }

    recorder.exchange(
        client,
        a_connection,
        "multi: create, setData, check, delete (succeeds)",
        OpCode.multi,
        transaction,
        jute.MultiRequest(
            (
                jute.MultiOp(OpCode.create, jute.CreateRequest("/golden/txn", b"t", open_acl, 0)),
                jute.MultiOp(OpCode.setData, jute.SetDataRequest("/golden/node", b"txn", -1)),
                jute.MultiOp(OpCode.check, jute.CheckVersionRequest("/golden/node", 2)),
                jute.MultiOp(OpCode.delete, jute.DeleteRequest("/golden/txn", -1)),
            )
        ),
        multi_reply,
    )

    def failing_transaction() -> Any:
        t = a.transaction()
        t.create("/golden/never", b"")
        t.check("/golden/node", 99)
        t.set_data("/golden/node", b"never")
        return t.commit()

    def failed_multi_reply(results: Any) -> dict[str, Any]:
        codes = [r.code for r in results]  # kazoo's RolledBackError has code 0
        if codes != [0, -103, -2]:
            raise RuntimeError(f"unexpected failed-multi results {results!r}")
        return {
            "header.err": 0,
            "record": jute.MultiResponse(tuple(jute.MultiResult.error(code) for code in codes)),
        }

    recorder.exchange(
        client,
        a_connection,
        "multi that fails: create, check with a wrong version, setData",
        OpCode.multi,
        failing_transaction,
        jute.MultiRequest(
            (
                jute.MultiOp(OpCode.create, jute.CreateRequest("/golden/never", b"", open_acl, 0)),
                jute.MultiOp(OpCode.check, jute.CheckVersionRequest("/golden/node", 99)),
                jute.MultiOp(OpCode.setData, jute.SetDataRequest("/golden/node", b"never", -1)),
            )
        ),
        failed_multi_reply,
    )
    recorder.exchange(
        client,
        a_connection,
        "delete /golden/node",
        OpCode.delete,
        lambda: a.delete("/golden/node"),
        jute.DeleteRequest("/golden/node", -1),
        ok({"record": None}),
    )
    recorder.exchange(
        client,
        a_connection,
        "reconfig while reconfig is disabled (RECONFIGDISABLED)",
        OpCode.reconfig,
        lambda: a.reconfig(joining=None, leaving="3", new_members=None),
        jute.ReconfigRequest(None, "3", None, -1),
        failed(-123),
    )

    log("waiting for kazoo to ping")
    deadline = time.monotonic() + 10
    while True:
        requests = [f for f in proxy.frames(a_connection, CLIENT_TO_SERVER) if f.xid == PING_XID]
        replies = [f for f in proxy.frames(a_connection, SERVER_TO_CLIENT) if f.xid == PING_XID]
        if requests and replies:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("kazoo did not ping")
        time.sleep(0.2)
    golden.add(
        "kazoo: ping (xid -2, empty body)",
        client,
        requests[0],
        KIND_REQUEST,
        {"header": jute.RequestHeader(-2, OpCode.ping), "record": None},
    )
    golden.add(
        "kazoo: ping reply (zxid = last processed)",
        client,
        replies[0],
        KIND_REPLY,
        {"header.xid": -2, "header.err": 0, "record": None},
        request_type=OpCode.ping,
    )

    close = recorder.run(a_connection, lambda: (a.stop(), a.close()))
    golden.add(
        "kazoo: closeSession (empty body)",
        client,
        close.requests[0],
        KIND_REQUEST,
        {"header.type": OpCode.closeSession, "record": None},
    )
    golden.add(
        "kazoo: closeSession reply",
        client,
        close.replies[0],
        KIND_REPLY,
        {"header.xid": close.requests[0].xid, "header.err": 0, "record": None},
        request_type=OpCode.closeSession,
    )


def make_acl_rwa() -> Any:
    from kazoo.security import make_acl

    return make_acl("world", "anyone", read=True, write=True, admin=True)


def capture_java(proxy: RecordingProxy, golden: Golden) -> None:
    """The Java client of Apache ZooKeeper 3.8 (``ZooKeeperMain``, i.e. zkCli.sh), one command
    per connection: the opcodes kazoo does not send."""
    client = "java"
    commands: list[tuple[str, list[str], int, jute.RequestRecord | None, dict[str, Any]]] = [
        (
            "create -c (createContainer)",
            ["create", "-c", "/golden/container", "c"],
            OpCode.createContainer,
            jute.CreateRequest("/golden/container", b"c", OPEN_ACL_UNSAFE, 4),
            {"header.err": 0, "record.path": "/golden/container"},
        ),
        (
            "create -t 10000 (createTTL)",
            ["create", "-t", "10000", "/golden/ttl", "t"],
            OpCode.createTTL,
            jute.CreateTTLRequest("/golden/ttl", b"t", OPEN_ACL_UNSAFE, 5, 10000),
            {"header.err": 0, "record.path": "/golden/ttl"},
        ),
        (
            "addWatch -m PERSISTENT_RECURSIVE",
            ["addWatch", "-m", "PERSISTENT_RECURSIVE", "/golden"],
            OpCode.addWatch,
            jute.AddWatchRequest("/golden", 1),
            {"header.err": 0, "record": jute.ErrorResponse(0)},
        ),
        (
            "whoami",
            ["whoami"],
            OpCode.whoAmI,
            None,
            {"header.err": 0, "record": jute.WhoAmIResponse((jute.ClientInfo("ip", LOOPBACK),))},
        ),
        (
            "getEphemerals",
            ["getEphemerals", "/golden"],
            OpCode.getEphemerals,
            jute.GetEphemeralsRequest("/golden"),
            {"header.err": 0, "record": jute.GetEphemeralsResponse(())},
        ),
        (
            "getAllChildrenNumber",
            ["getAllChildrenNumber", "/golden"],
            OpCode.getAllChildrenNumber,
            jute.GetAllChildrenNumberRequest("/golden"),
            {"header.err": 0},
        ),
        (
            "removewatches with no watch (NOWATCHER)",
            ["removewatches", "/golden"],
            OpCode.removeWatches,
            jute.RemoveWatchesRequest("/golden", 3),
            {"header.err": -121, "record": None},
        ),
    ]
    for what, arguments, opcode, request, reply_expect in commands:
        connection = proxy.connection_count
        command = [
            "java",
            "-cp",
            JAVA_CLASSPATH,
            "org.apache.zookeeper.ZooKeeperMain",
            "-server",
            f"{LOOPBACK}:{proxy.port}",
            *arguments,
        ]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as java:
            try:
                output, _ = java.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(java.pid, signal.SIGKILL)
                raise
        log(f"java {' '.join(arguments)}: exit {java.returncode}")
        time.sleep(0.3)  # let the proxy record the last bytes
        requests = proxy.frames(connection, CLIENT_TO_SERVER)
        replies = proxy.frames(connection, SERVER_TO_CLIENT)
        if what == commands[0][0]:
            golden.add(
                "java: ConnectRequest (readOnly byte present)",
                client,
                requests[0],
                KIND_CONNECT_REQUEST,
                {"protocolVersion": 0, "lastZxidSeen": 0, "sessionId": 0, "readOnly": False},
            )
            golden.add(
                "java: ConnectResponse",
                client,
                replies[0],
                KIND_CONNECT_RESPONSE,
                {"protocolVersion": 0, "readOnly": False},
            )
        matching = [f for f in requests[1:] if struct.unpack_from(">i", f.data, 8)[0] == opcode]
        if len(matching) != 1:
            raise RuntimeError(f"java {what}: no single request of opcode {opcode}: {output!r}")
        request_frame = matching[0]
        reply_frame = next(f for f in replies[1:] if f.xid == request_frame.xid)
        golden.add(
            f"java: {what} (request)",
            client,
            request_frame,
            KIND_REQUEST,
            {"header.type": opcode, "record": request},
        )
        golden.add(
            f"java: {what} (reply)",
            client,
            reply_frame,
            KIND_REPLY,
            {"header.xid": request_frame.xid, **reply_expect},
            request_type=opcode,
        )


def capture_raw(proxy: RecordingProxy, golden: Golden) -> None:
    """Requests no client above sends, built with our encoder; the replies are Apache's bytes."""
    client = "raw"
    connection = proxy.connection_count
    with socket.create_connection((LOOPBACK, proxy.port), timeout=10) as sock:
        stream = sock.makefile("rb")

        def read_frame() -> bytes:
            (length,) = LENGTH.unpack(stream.read(4))
            return stream.read(length)

        sock.sendall(
            jute.encode_connect_request(
                jute.ConnectRequest(0, 0, SESSION_TIMEOUT_MS, 0, bytes(16), None)
            )
        )
        read_frame()
        probes: list[tuple[str, int, jute.RequestRecord | None, dict[str, Any]]] = [
            (
                "multiRead: getData, getChildren, getData of a missing node",
                OpCode.multiRead,
                jute.MultiRequest(
                    (
                        jute.MultiOp(
                            OpCode.getData, jute.GetDataRequest("/golden/container", False)
                        ),
                        jute.MultiOp(
                            OpCode.getChildren, jute.GetChildrenRequest("/golden/container", False)
                        ),
                        jute.MultiOp(OpCode.getData, jute.GetDataRequest("/golden/missing", False)),
                    )
                ),
                {
                    "header.err": 0,
                    "record.results.0.type": OpCode.getData,
                    "record.results.0.record.data": b"c",
                    "record.results.1.record": jute.GetChildrenResponse(()),
                    "record.results.2": jute.MultiResult.error(-101),
                },
            ),
            (
                "checkWatches with no watch (NOWATCHER)",
                OpCode.checkWatches,
                jute.CheckWatchesRequest("/golden", 2),
                {"header.err": -121, "record": None},
            ),
            (
                "setWatches2 (xid -8)",
                OpCode.setWatches2,
                jute.SetWatches2(0, ("/golden",), (), (), ("/golden/container",), ()),
                {"header.err": 0, "record": None},
            ),
        ]
        xid = 1
        for what, opcode, request, reply_expect in probes:
            request_xid = -8 if opcode == OpCode.setWatches2 else xid
            xid += 1
            request_bytes = jute.encode_request(jute.RequestHeader(request_xid, opcode), request)
            sock.sendall(request_bytes)
            while True:
                reply_bytes = read_frame()
                if XID.unpack_from(reply_bytes, 0)[0] == request_xid:
                    break
            reply_frame = Frame(
                connection, SERVER_TO_CLIENT, LENGTH.pack(len(reply_bytes)) + reply_bytes, 0
            )
            golden.add(
                f"raw: {what} (request built by our encoder)",
                client,
                Frame(connection, CLIENT_TO_SERVER, request_bytes, 0),
                KIND_REQUEST,
                {"header": jute.RequestHeader(request_xid, opcode), "record": request},
            )
            golden.add(
                f"raw: {what} (Apache's reply)",
                client,
                reply_frame,
                KIND_REPLY,
                {"header.xid": request_xid, **reply_expect},
                request_type=opcode,
            )
        # Last: an unknown opcode; Apache answers UNIMPLEMENTED and closes the connection.
        request_bytes = jute.encode_request(jute.RequestHeader(xid, 10), None)
        sock.sendall(request_bytes)
        reply_bytes = read_frame()
        golden.add(
            "raw: unknown opcode 10 (request)",
            client,
            Frame(connection, CLIENT_TO_SERVER, request_bytes, 0),
            KIND_REQUEST,
            {"header": jute.RequestHeader(xid, 10)},
        )
        golden.add(
            "raw: unknown opcode 10 (reply UNIMPLEMENTED, then the server closes)",
            client,
            Frame(connection, SERVER_TO_CLIENT, LENGTH.pack(len(reply_bytes)) + reply_bytes, 0),
            KIND_REPLY,
            {"header.xid": xid, "header.err": -6, "record": None},
            request_type=10,
        )


def check_with_our_decoder(golden: Golden) -> int:
    """Sanity check at capture time; the golden tests do this properly."""
    problems = 0
    for entry in golden.entries:
        payload = bytes.fromhex(entry["frame_hex"])[4:]
        kind = entry["kind"]
        decoded: Any
        if kind == KIND_CONNECT_REQUEST:
            decoded = jute.decode_connect_request(payload)
        elif kind == KIND_CONNECT_RESPONSE:
            decoded = jute.decode_connect_response(payload)
        elif kind == KIND_REQUEST:
            decoded = jute.decode_request(payload)
        else:
            decoded = jute.decode_reply(payload, entry["request_type"])
        for key, expected in entry["expect"].items():
            actual = normal(lookup(decoded, key) if key else decoded)
            if actual != expected:
                problems += 1
                log(
                    f"MISMATCH {entry['description']}: {key}: ours {actual!r} expected {expected!r}"
                )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=GOLDEN_FRAMES_PATH)
    arguments = parser.parse_args()
    if shutil.which("java") is None:
        log("java is not installed")
        return 2
    golden = Golden()
    with (
        tempfile.TemporaryDirectory(prefix="zkref-golden-") as temporary,
        zookeeper_server(Path(temporary)) as port,
    ):
        version = four_letter_word(port, b"srvr").decode().splitlines()[0]
        proxy = RecordingProxy(port)
        try:
            recorder = Recorder(proxy, golden)
            log("capturing kazoo")
            capture_kazoo(proxy, recorder, golden)
            log("capturing the Java client")
            capture_java(proxy, golden)
            log("capturing raw probes")
            capture_raw(proxy, golden)
        finally:
            proxy.close()
    problems = check_with_our_decoder(golden)
    document = {
        "comment": (
            "Frames exchanged between Apache ZooKeeper and real clients over loopback, captured "
            "by tests/reference/capture_golden.py. frame_hex includes the 4-byte length prefix. "
            "expect maps a dotted attribute path of the decoded object ('' = the object) to its "
            "normal form (tests/reference/golden.py); values come from the client's arguments "
            "and from what the client decoded itself, not from our decoder."
        ),
        "server": version,
        "kazoo": importlib.metadata.version("kazoo"),
        "frames": golden.entries,
    }
    arguments.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {len(golden.entries)} frames to {arguments.out}; {problems} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
