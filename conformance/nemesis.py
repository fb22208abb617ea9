"""Servers the suite starts itself, and a nemesis to hurt them: kill -9, pause, restart.

A ``ServerNode`` is a server process the suite started: a start command, a data directory and
(while it runs) a PID. Two kinds: ``ZkrefNode`` (``python -m server serve`` with a zoo.cfg of
its own) and ``ApacheZooKeeperNode`` (a standalone Apache ZooKeeper from a Debian-style
install, ``QuorumPeerMain`` with a zoo.cfg of its own). Both listen on 127.0.0.1 and a port
chosen once, so a restarted server is found where clients left it; both keep their data
directory across restarts, so a restart recovers the tree (and the sessions) from disk.

``Nemesis`` is the interface fault tests use; ``ProcessNemesis`` implements it with signals
to the PID (SIGKILL, SIGSTOP, SIGCONT) and a fresh start of the same command. Every wait is
bounded (``START_TIMEOUT_S``, ``STOP_TIMEOUT_S``); processes are only ever signalled by the
PID this module started, never by name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol, Self

from conformance.client import Client, ClientError

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
ZOOKEEPER_HOME = Path("/usr/share/zookeeper")
REPO_ROOT = Path(__file__).resolve().parents[1]


class NodeError(RuntimeError):
    """A server did not start (the message points at its log)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def srvr(port: int, timeout_s: float = 0.5) -> bool:
    """The server answers ``srvr``: the one four-letter word every server has enabled
    (``FourLetterCommands``: it is in the whitelist whatever the whitelist says)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            conn.sendall(b"srvr")
            return conn.recv(32).startswith(b"Zookeeper version:")
    except OSError:
        return False


def serves_sessions(port: int, timeout_s: float = 2.0) -> bool:
    """``srvr`` answers before a server takes sessions: open one and close it (bounded)."""

    async def attempt() -> bool:
        client = Client(
            [f"{HOST}:{port}"],
            name="probe",
            connect_timeout_s=timeout_s,
            request_timeout_s=timeout_s,
            reconnect=False,
        )
        try:
            await client.start()
        except ClientError:
            return False
        await client.close()
        return True

    return asyncio.run(asyncio.wait_for(attempt(), timeout_s * 3))


class ServerNode:
    """One server process the suite started (see the module docstring)."""

    kind = "server"

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home = home
        self.data_dir = home / "data"
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "server.out"
        self._log: IO[bytes] | None = None
        self.starts = 0
        # Told the PID of every process started (a guard that kills it should the suite die).
        self.on_spawn: Callable[[int], None] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def command(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write the configuration (called before every start)."""

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, open_session: bool = True) -> None:
        """Start the process and wait (bounded) until it takes sessions. With
        ``open_session`` False, until ``srvr`` says it serves, without opening a session (a
        session is a transaction, which some tests of an ensemble's sync must not have)."""
        self.spawn()
        self.wait_started(open_session=open_session)

    def launch(self) -> None:
        """Start the process; return at once (``spawn``)."""
        self.spawn()

    def spawn(self) -> None:
        """Start the process without waiting for it to serve (a member of an ensemble only
        serves once a quorum has formed). It runs in a session of its own, so a Ctrl-C at
        the terminal reaches the suite, which stops it, and not the server directly."""
        if self.running():
            raise NodeError(f"{self.kind} on {self.address} is already running")
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        self._close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            env=env,
            start_new_session=True,
        )
        self.starts += 1
        if self.on_spawn is not None:
            self.on_spawn(self.process.pid)

    def wait_started(self, *, open_session: bool = True) -> None:
        """Wait (bounded) until the spawned process takes sessions (``start``); kill it
        and raise ``NodeError`` if it exits or does not in time."""
        process = self.process
        assert process is not None, "spawn first"
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (srvr(self.port) and (not open_session or serves_sessions(self.port))):
            if process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"{self.kind} did not start on {self.address}: see {self.log_path}")
            time.sleep(0.1)

    def signal(self, number: int) -> None:
        """Send a signal by PID. SIGSTOP returns once every thread of the process is
        stopped (bounded): the kernel stops each thread at its next entry into it, and a
        busy JVM answered a request sent right after ``kill`` returned."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, number)
            if number == signal.SIGSTOP:
                _wait_stopped(self.process.pid)

    def kill(self) -> None:
        """SIGKILL by PID and reap (bounded)."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused process still dies, but be sure
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)
        self._close_log()

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it has not exited within ``STOP_TIMEOUT_S``."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ZkrefNode(ServerNode):
    """``python -m server serve`` with a zoo.cfg of its own.

    By default set up for tests: 200 ms ticks, TTL nodes on, containers reaped every second,
    every four-letter word. ``stock=True``: nothing but the address and the data directory,
    so every other setting is the default (Apache ZooKeeper's).
    """

    kind = "zkref"

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        *,
        tick_time_ms: int = 200,
        container_check_interval_ms: int = 1000,
        extended_types: bool = True,
        stock: bool = False,
    ) -> None:
        super().__init__(home, port)
        self.tick_time_ms = tick_time_ms
        self.container_check_interval_ms = container_check_interval_ms
        self.extended_types = extended_types
        self.stock = stock

    def prepare(self) -> None:
        settings = [
            f"tickTime={self.tick_time_ms}",
            f"znode.container.checkIntervalMs={self.container_check_interval_ms}",
            f"extendedTypesEnabled={str(self.extended_types).lower()}",
            "4lw.commands.whitelist=*",
        ]
        (self.home / "zoo.cfg").write_text("" if self.stock else "\n".join([*settings, ""]))

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--config",
            str(self.home / "zoo.cfg"),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]


class ApacheZooKeeperNode(ServerNode):
    """A standalone Apache ZooKeeper (``QuorumPeerMain``) from ``zookeeper_home``.

    By default set up for tests: 200 ms ticks, every four-letter word,
    ``-Dzookeeper.extendedTypesEnabled=true`` (TTL nodes) and
    ``-Dznode.container.checkIntervalMs`` (container/TTL reaping within a test's patience).
    ``stock=True``: a zoo.cfg with nothing but ``dataDir``, ``clientPort``,
    ``clientPortAddress`` and ``admin.enableServer=false`` (the AdminServer would take the
    fixed port 8080), and no system properties: every other setting is Apache ZooKeeper's
    default.
    """

    kind = "apache-zookeeper"

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        *,
        tick_time_ms: int = 200,
        container_check_interval_ms: int = 1000,
        extended_types: bool = True,
        stock: bool = False,
        zookeeper_home: Path = ZOOKEEPER_HOME,
    ) -> None:
        super().__init__(home, port)
        self.tick_time_ms = tick_time_ms
        self.container_check_interval_ms = container_check_interval_ms
        self.extended_types = extended_types
        self.stock = stock
        self.zookeeper_home = zookeeper_home

    @staticmethod
    def available(zookeeper_home: Path = ZOOKEEPER_HOME) -> str | None:
        """None if Apache ZooKeeper can be started here, else why not."""
        if not zookeeper_home.exists():
            return f"{zookeeper_home} is absent (install the Debian zookeeper package)"
        if not any(Path(p, "java").exists() for p in os.environ.get("PATH", "").split(":")):
            return "java is not installed"
        return None

    def prepare(self) -> None:
        lines = [
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            f"clientPortAddress={HOST}",
            "admin.enableServer=false",
        ]
        if not self.stock:
            lines += [f"tickTime={self.tick_time_ms}", "4lw.commands.whitelist=*"]
        (self.home / "zoo.cfg").write_text("\n".join([*lines, ""]))

    def command(self) -> list[str]:
        properties = [
            f"-Dzookeeper.extendedTypesEnabled={str(self.extended_types).lower()}",
            f"-Dznode.container.checkIntervalMs={self.container_check_interval_ms}",
        ]
        return [
            "java",
            "-Xmx256m",
            "-cp",
            f"/usr/share/java/*:{self.zookeeper_home}/*",
            f"-Dzookeeper.log.dir={self.home}",
            *([] if self.stock else properties),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(self.home / "zoo.cfg"),
        ]


class Nemesis(Protocol):
    """Faults a test can inject into servers the suite started."""

    def kill(self, server: ServerNode) -> None:
        """kill -9: the process dies at once, without flushing anything."""

    def pause(self, server: ServerNode) -> None:
        """SIGSTOP: the process stops answering, its connections stay open."""

    def resume(self, server: ServerNode) -> None:
        """SIGCONT: a paused process goes on."""

    def restart(self, server: ServerNode) -> None:
        """Start the same command on the same port and data directory (killed first if
        still running); returns when it takes sessions again."""


def _wait_stopped(pid: int, timeout_s: float = 2.0) -> None:
    """Until every thread of ``pid`` is in state T (stopped), at most ``timeout_s``; where
    ``/proc`` cannot tell, return at once."""
    tasks = Path(f"/proc/{pid}/task")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            states = [
                (task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()
            ]
        except (OSError, IndexError):
            return
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)


class ProcessNemesis:
    """``Nemesis`` by signals to the PIDs of ``ServerNode``s (any kind)."""

    def __init__(self) -> None:
        self.log: list[tuple[float, str, str]] = []

    def _note(self, what: str, server: ServerNode) -> None:
        self.log.append((time.monotonic(), what, f"{server.kind}@{server.address}"))

    def kill(self, server: ServerNode) -> None:
        self._note("kill", server)
        server.kill()

    def pause(self, server: ServerNode) -> None:
        self._note("pause", server)
        server.signal(signal.SIGSTOP)

    def resume(self, server: ServerNode) -> None:
        self._note("resume", server)
        server.signal(signal.SIGCONT)

    def restart(self, server: ServerNode) -> None:
        self._note("restart", server)
        if server.running():
            server.kill()
        server.start()


__all__ = [
    "ApacheZooKeeperNode",
    "Nemesis",
    "NodeError",
    "ProcessNemesis",
    "ServerNode",
    "ZkrefNode",
]
