"""Servers a benchmark starts itself: zkref or Apache ZooKeeper, one server or an ensemble.

``Ensemble(kind, size, home)`` writes one zoo.cfg per server (the same settings for both
kinds: ``tickTime=2000``, ``initLimit=10``, ``syncLimit=5``, the ``server.N`` lines of every
member and its ``dataDir/myid`` when ``size > 1``; a standalone zoo.cfg when ``size == 1``)
and starts each server as a process of its own:

* ``zkref``: ``python -m server serve --config zoo.cfg`` (this repository's server, found
  through ``PYTHONPATH`` as the tests find it; never imported);
* ``apache``: ``java ... org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg`` from a
  Debian-style install (``/usr/share/zookeeper``, ``/usr/share/java``).

Every port (client, quorum, election) is a free port of 127.0.0.1 chosen once, so a server
killed and started again is found where its clients and peers left it; every data directory
is under ``home`` and kept across restarts, so a restart recovers from disk. A server is
*serving* once ``srvr`` reports ``Mode: leader``, ``follower`` or ``standalone`` and it grants
a session. Processes are only ever signalled by the PID this module started (``kill`` is
SIGKILL, ``stop`` SIGTERM then SIGKILL), and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, Self

from bench.wire import BenchProtocolError, close_call_session, open_call_session

HOST: Final = "127.0.0.1"
KINDS: Final = ("zkref", "apache")
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
ZOOKEEPER_HOME: Final = Path("/usr/share/zookeeper")
JAVA_LIBRARIES: Final = Path("/usr/share/java")
REPO_ROOT: Final = Path(__file__).resolve().parents[1]
SERVING_MODES: Final = ("leader", "follower", "standalone")

# The zoo.cfg settings both kinds run with: Apache's sample zoo.cfg for an ensemble
# (conf/zoo_sample.cfg: tickTime=2000, initLimit=10, syncLimit=5), every four-letter word,
# no per-IP connection limit (benchmarks open many sessions from 127.0.0.1), and Apache's
# AdminServer off (it would take the fixed port 8080; zkref accepts and ignores the key).
COMMON_SETTINGS: Final = (
    ("tickTime", "2000"),
    ("initLimit", "10"),
    ("syncLimit", "5"),
    ("4lw.commands.whitelist", "*"),
    ("maxClientCnxns", "0"),
    ("admin.enableServer", "false"),
)


class LaunchError(RuntimeError):
    """A server did not start or stop; the message says which and where its log is."""


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def four_letter_word(port: int, word: str, timeout_s: float = 1.0) -> str:
    """The server's answer to ``word``; empty if it does not answer."""
    chunks: list[bytes] = []
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            conn.sendall(word.encode("ascii"))
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks).decode("utf-8", "replace")


def mode_of(port: int, timeout_s: float = 1.0) -> str | None:
    """``Mode:`` as ``srvr`` reports it (``leader``, ``follower``, ...), or None."""
    for line in four_letter_word(port, "srvr", timeout_s).splitlines():
        if line.startswith("Mode:"):
            return line.partition(":")[2].strip()
    return None


def grants_session(port: int, timeout_s: float = 2.0) -> bool:
    """A session can be opened (and is closed again) within ``timeout_s``."""

    async def attempt() -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                session = await open_call_session(HOST, port)
                await close_call_session(session, timeout_s)
        except (OSError, BenchProtocolError, TimeoutError):
            return False
        return True

    return asyncio.run(attempt())


@dataclass(slots=True)
class Member:
    """One server of an ensemble: its id, ports, home directory and (while it runs) process."""

    kind: str
    sid: int
    home: Path
    client_port: int
    quorum_port: int
    election_port: int
    process: subprocess.Popen[bytes] | None = None
    pids_started: list[int] = field(default_factory=list)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def mode(self) -> str | None:
        return mode_of(self.client_port) if self.running() else None

    def serving(self) -> bool:
        return self.mode() in SERVING_MODES and grants_session(self.client_port)

    def command(self) -> list[str]:
        config = str(self.home / "zoo.cfg")
        if self.kind == "zkref":
            return [sys.executable, "-m", "server", "serve", "--config", config]
        return [
            "java",
            "-Xmx512m",
            "-cp",
            f"{JAVA_LIBRARIES}/*:{ZOOKEEPER_HOME}/*",
            f"-Dzookeeper.log.dir={self.home}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            config,
        ]

    def spawn(self) -> None:
        """Start the process (without waiting for it to serve)."""
        if self.running():
            raise LaunchError(f"{self.kind} server {self.sid} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.close_log()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in close_log
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            env=env,
        )
        self.pids_started.append(self.process.pid)

    def kill(self) -> None:
        """SIGKILL by PID (kill -9) and reap, bounded."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT_S)
        self.close_log()

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it has not exited within ``STOP_TIMEOUT_S``."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        self.close_log()

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Ensemble:
    """``size`` servers of one kind on loopback (see the module docstring); a context
    manager that stops every process it started on the way out, however it is left."""

    def __init__(
        self,
        kind: str,
        size: int,
        home: Path,
        settings: Sequence[tuple[str, str]] = (),
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown server kind {kind!r}; known: {', '.join(KINDS)}")
        if size < 1:
            raise ValueError("an ensemble has at least one server")
        self.kind = kind
        self.size = size
        self.home = home
        self.settings = [*COMMON_SETTINGS, *settings]
        self.members = [
            Member(kind, sid, home / f"{kind}-{sid}", free_port(), free_port(), free_port())
            for sid in range(1, size + 1)
        ]

    @property
    def hosts(self) -> tuple[tuple[str, int], ...]:
        """The connect string as (host, port) pairs, in server id order."""
        return tuple((HOST, m.client_port) for m in self.members)

    @property
    def connect_string(self) -> str:
        return ",".join(m.address for m in self.members)

    def pids(self) -> list[int]:
        return [m.pid for m in self.members if m.pid is not None and m.running()]

    def member(self, sid: int) -> Member:
        return self.members[sid - 1]

    def write_config(self, member: Member) -> None:
        member.home.mkdir(parents=True, exist_ok=True)
        member.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"dataDir={member.data_dir}",
            f"clientPort={member.client_port}",
            f"clientPortAddress={HOST}",
            *(f"{key}={value}" for key, value in self.settings),
        ]
        if self.size > 1:
            lines += [
                f"server.{m.sid}={HOST}:{m.quorum_port}:{m.election_port}" for m in self.members
            ]
            (member.data_dir / "myid").write_text(f"{member.sid}\n")
        (member.home / "zoo.cfg").write_text("\n".join([*lines, ""]))

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start every server and wait until all of them serve."""
        for member in self.members:
            self.write_config(member)
            member.spawn()
        self.wait_serving(self.members, timeout_s)

    def restart(self, member: Member, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start ``member`` again (same ports and data) and wait until it serves."""
        member.kill()
        member.spawn()
        self.wait_serving([member], timeout_s)

    def wait_serving(self, members: Sequence[Member], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = list(members)
        while waiting:
            for member in list(waiting):
                if not member.running():
                    raise LaunchError(
                        f"{self.kind} server {member.sid} exited: see {member.log_path}\n"
                        f"{member.log_tail()}"
                    )
                if member.serving():
                    waiting.remove(member)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(str(m.sid) for m in waiting)
                raise LaunchError(
                    f"{self.kind} server(s) {names} not serving within {timeout_s:.0f} s: "
                    f"see {waiting[0].log_path}"
                )
            if waiting:
                time.sleep(0.05)

    def leader(self) -> Member | None:
        """The member that says ``Mode: leader`` (or the only one, standalone)."""
        for member in self.members:
            if member.mode() in ("leader", "standalone"):
                return member
        return None

    def stop(self) -> None:
        """Stop every server this ensemble started (by PID)."""
        for member in self.members:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                member.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` as SIGINT does, so the
    ``finally`` blocks that stop the servers run however the command is interrupted."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def apache_available() -> str | None:
    """None if Apache ZooKeeper can be started here, else why not."""
    if not ZOOKEEPER_HOME.exists():
        return f"{ZOOKEEPER_HOME} is absent (install the Debian zookeeper package)"
    if not any(Path(p, "java").exists() for p in os.environ.get("PATH", "").split(os.pathsep)):
        return "java is not installed"
    return None


__all__ = [
    "KINDS",
    "Ensemble",
    "LaunchError",
    "Member",
    "apache_available",
    "free_port",
    "mode_of",
    "signals_raise",
]
