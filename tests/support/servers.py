"""zkref servers for tests: a real ``python -m server serve`` process, or one in this process.

``ServerProcess`` starts the command line on a free port (``--port 0``; the port is read
from the ``zkref serving on HOST:PORT`` line), waits until ``ruok`` answers ``imok``, and
stops by PID: SIGTERM, then SIGKILL if it has not exited within a bound. Its log goes to a
file in the data directory so a failing test can show it.

``InProcessServer`` runs ``ZooKeeperServer`` on an event loop in a background thread, so a
test can read the server's own counters (``internal_errors``, connections, the core) while
clients talk to it over real sockets. Reading those from the test thread is racy but fine
for integers a test waits on.

``InProcessServer(..., virtual_time=True)`` runs it on a ``VirtualTimeLoop``, whose clock
stands still until the test moves it (``advance``), and gives the server a ``VirtualClock``
that reads that loop's time: sessions expire, and containers and TTL nodes are reaped, exactly
when the test says, by the server's own timer, however loaded the machine is.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Self, TypeVar

from server.clients import ClientConnection
from server.clock import Clock
from server.config import FOUR_LETTER_WORDS, ServerConfig
from server.server import ZooKeeperServer
from server.storage import Storage
from tests.support.rawclient import four_letter_word

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


class ServerStartError(RuntimeError):
    """The server did not come up; the message carries its log."""


def wait_until(
    condition: Callable[[], object], timeout_s: float = 5.0, interval_s: float = 0.01
) -> None:
    """Poll ``condition`` until it is true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


class ServerProcess:
    """``python -m server serve`` as a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, data_dir: Path, extra_args: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.log_path = data_dir / "zkref.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.host = HOST
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--host",
            self.host,
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir / "data"),
            "--4lw-whitelist",
            "*",
            *self.extra_args,
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log_file,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                env=env,
            )
        try:
            self.port = self._read_port()
            wait_until(self._answers_ruok, START_TIMEOUT_S, 0.05)
        except BaseException:
            self.stop()
            raise

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise ServerStartError(f"zkref did not start:\n{self.log_text()}")
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.1))
            if ready:
                # os.read, not stdout.read: a buffered read would hide bytes from select.
                line += os.read(stdout.fileno(), 4096)
        text = line.decode().splitlines()[0].strip()
        prefix = "zkref serving on "
        if not text.startswith(prefix):
            raise ServerStartError(f"unexpected first line {text!r}:\n{self.log_text()}")
        return int(text.rsplit(":", 1)[1])

    def _answers_ruok(self) -> bool:
        try:
            return four_letter_word(self.host, self.port, "ruok", 1.0) == "imok"
        except OSError:
            return False

    def stop(self) -> int | None:
        """Stop the process by its PID; its exit status (None if it was never started)."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock (``time``) moves only by ``advance``: timers fire when the
    test has moved time past them, never because real time passed. I/O is real."""

    def __init__(self) -> None:
        super().__init__()
        self.now_ms = 0

    def time(self) -> float:
        return self.now_ms / 1000

    def advance(self, ms: int) -> None:
        """Call on the loop."""
        assert ms >= 0
        self.now_ms += ms


class VirtualClock(Clock):
    """The server's clock read from a ``VirtualTimeLoop``: ``start_ms`` plus its time."""

    def __init__(self, loop: VirtualTimeLoop, start_ms: int) -> None:
        super().__init__()
        self.loop = loop
        self.start_ms = start_ms

    def now_ms(self) -> int:
        return self.start_ms + self.loop.now_ms

    def loop_time(self, instant_ms: int) -> float:
        return (instant_ms - self.start_ms) / 1000


class InProcessServer:
    """A ``ZooKeeperServer`` on its own event loop in a daemon thread."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        storage: Storage | None = None,
        *,
        virtual_time: bool = False,
    ) -> None:
        base = config or ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS)
        self.config = base.with_overrides(host=HOST, port=0)
        self.storage = storage
        self.virtual_time = virtual_time
        self.server: ZooKeeperServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="zkref-in-process", daemon=True)

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def zk(self) -> ZooKeeperServer:
        """The running server object (read its counters; change it only through ``call``)."""
        assert self.server is not None, "not started"
        return self.server

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ServerStartError("in-process zkref did not start")
        if self._error is not None:
            raise ServerStartError(f"in-process zkref failed: {self._error!r}")

    def _run(self) -> None:
        try:
            if self.virtual_time:
                with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
                    runner.run(self._main())
            else:
                asyncio.run(self._main())
        except BaseException as error:
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = ZooKeeperServer(self.config, self.storage)
        if isinstance(self.loop, VirtualTimeLoop):
            self.server.clock = VirtualClock(self.loop, self.server.started_ms)
        await self.server.start()
        self._ready.set()
        await self._stop.wait()
        await self.server.close()

    def call(self, function: Callable[[], T], timeout_s: float = 5.0) -> T:
        """Run ``function`` on the server's loop and return its result."""
        assert self.loop is not None
        result: Future[T] = Future()

        def run() -> None:
            try:
                result.set_result(function())
            except BaseException as error:
                result.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout_s)

    def advance(self, ms: int) -> int:
        """Move virtual time on by ``ms`` and return once the server's timer has done all
        that is due (no deadline of the core's is passed any more); the new time (ms)."""
        loop = self.loop
        assert isinstance(loop, VirtualTimeLoop), "not started with virtual_time=True"
        self.call(lambda: loop.advance(ms))
        core = self.zk.core
        now = self.call(self.zk.clock.now_ms)
        # The server's timer fires one millisecond after a deadline (server.server._arm_timer).
        wait_until(lambda: self.call(core.next_deadline) >= now)
        return now

    def connection_of(self, sock: socket.socket) -> ClientConnection | None:
        """The server's side of the client socket ``sock`` (None once the server forgot it)."""
        host, port = sock.getsockname()[:2]
        address = f"/{host}:{port}"
        connections = self.zk.connections
        found = self.call(lambda: [c for c in connections.values() if c.address == address])
        assert len(found) <= 1
        return found[0] if found else None

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT_S)
        assert not self._thread.is_alive(), "in-process zkref did not stop"
