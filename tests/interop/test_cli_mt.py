"""Apache ZooKeeper's C client shell, ``cli_mt``, unchanged, against a zkref process.

``cli_mt`` reads commands from stdin and runs them as soon as they arrive, connected or not,
so the driver sends one command at a time and waits for the output that answers it.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess

CANDIDATES = (Path("/usr/lib/zookeeper/bin/cli_mt"), Path("/usr/bin/cli_mt"))
CLI_MT = next((p for p in CANDIDATES if p.exists()), None) or (
    Path(found) if (found := shutil.which("cli_mt")) else None
)
ANSWER_TIMEOUT_S = 10.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CLI_MT is None,
        reason="cli_mt needs Debian's zookeeper-bin package (apt-get install zookeeper-bin)",
    ),
]


class CliMt:
    """A running ``cli_mt`` session: ``run`` a command, wait for its answer.

    Its output goes to a pseudo-terminal: on a pipe, C stdio would hold it back until exit.
    """

    def __init__(self, address: str) -> None:
        assert CLI_MT is not None
        self._terminal, terminal_side = pty.openpty()
        try:
            self.process = subprocess.Popen(
                [str(CLI_MT), address],
                stdin=subprocess.PIPE,
                stdout=terminal_side,
                stderr=terminal_side,
            )
        finally:
            os.close(terminal_side)
        self.output = ""
        self._seen = 0
        self.expect(r"state = CONNECTED_STATE")

    def _read(self, timeout_s: float) -> None:
        ready, _, _ = select.select([self._terminal], [], [], timeout_s)
        if ready:
            try:
                chunk = os.read(self._terminal, 65536)
            except OSError:  # EIO: the process has gone
                return
            self.output += chunk.decode("utf-8", "replace").replace("\r\n", "\n")

    def expect(self, pattern: str) -> re.Match[str]:
        """Wait for ``pattern`` in the output after what was already matched."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        regex = re.compile(pattern, re.M)
        while True:
            match = regex.search(self.output, self._seen)
            if match is not None:
                self._seen = match.end()
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise AssertionError(f"no {pattern!r} in cli_mt output:\n{self.output}")
            self._read(min(remaining, 0.1))

    def send(self, command: str) -> None:
        """Send a command without waiting (for commands that print nothing on success)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def run(self, command: str, answer: str) -> re.Match[str]:
        self.send(command)
        return self.expect(answer)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.flush()
                self.process.wait(5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)
        if self.process.stdin is not None:
            self.process.stdin.close()
        os.close(self._terminal)


@pytest.fixture
def cli(zkref_process: ServerProcess) -> Iterator[CliMt]:
    session = CliMt(zkref_process.address)
    try:
        yield session
    finally:
        session.close()


def test_create_get_set_ls_delete(cli: CliMt) -> None:
    cli.run("create /cmt", r"\[/cmt\]: rc = 0\n\tname = /cmt")
    cli.run("get /cmt", r"/cmt: rc = 0\n value_len = 3\nnew\n")  # cli_mt's create writes "new"
    cli.run("set /cmt newdata", r"/cmt: rc = 0")
    cli.run("get /cmt", r"value_len = 7\nnewdata\n")
    cli.run("create /cmt/child", r"name = /cmt/child")
    cli.run("ls /cmt", r"/cmt: rc = 0\n\tchild\n")
    cli.run("delete /cmt/child", r"/cmt/child: rc = 0")
    cli.run("exists /cmt/child", r"Error -101 for /cmt/child")  # exists prints only errors
    cli.run("delete /cmt", r"/cmt: rc = 0")
    cli.run("get /cmt", r"/cmt: rc = -101")


def test_create_modes(cli: CliMt) -> None:
    cli.run("create /cmt-modes", r"name = /cmt-modes")
    cli.run("create +e /cmt-modes/e", r"name = /cmt-modes/e\n")
    match = cli.run("create +s /cmt-modes/s", r"name = /cmt-modes/s(\d{10})\n")
    assert match.group(1) == "0000000001"
    cli.run("create +c /cmt-container", r"name = /cmt-container\n")
    cli.run("create +t=60000 /cmt-ttl", r"\[/cmt-ttl\]: rc = 0")
    cli.run("ls /cmt-modes", r"/cmt-modes: rc = 0\n(\t\S+\n){2}")


def test_errors_come_back_as_codes(cli: CliMt) -> None:
    cli.run("create /cmt-errors", r"name = /cmt-errors")
    cli.run("create /cmt-errors", r"\[/cmt-errors\]: rc = -110")  # NODEEXISTS
    cli.run("create /cmt-missing/child", r"\[/cmt-missing/child\]: rc = -101")  # NONODE
    cli.run("create /cmt-errors/kid", r"name = /cmt-errors/kid")
    cli.run("delete /cmt-errors", r"/cmt-errors: rc = -111")  # NOTEMPTY


def test_watches_fire(zkref_process: ServerProcess, cli: CliMt) -> None:
    cli.run("create /cmt-watched", r"name = /cmt-watched")
    cli.send("wexists /cmt-watched")
    cli.run("get /cmt-watched", r"/cmt-watched: rc = 0")  # answered after wexists: FIFO
    other = CliMt(zkref_process.address)
    try:
        other.run("set /cmt-watched changed", r"/cmt-watched: rc = 0")
    finally:
        other.close()
    cli.expect(r"Watcher CHANGED_EVENT state = CONNECTED_STATE for path /cmt-watched")


def test_async_commands_and_sync(cli: CliMt) -> None:
    cli.run("acreate /cmt-async", r"\[/cmt-async\]: rc = 0")
    cli.run("sync /cmt-async", r"\[/cmt-async\]: rc = 0")
    cli.run("aget /cmt-async", r"/cmt-async: rc = 0")
