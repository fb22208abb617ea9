"""``zkref ensemble``: N servers on loopback, printed, formed, reported, and stopped by Ctrl-C
without a process left behind (``server/ensemble.py``).

The command runs as a user runs it (``python -m server ensemble``, its stdout read line by
line). "No process left" is checked by the data directory each test gives it: no process on
the machine has it in its command line afterwards (Linux's /proc).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from server.ensemble import srvr_mode
from tests.ensemble.conftest import KAZOO_START_TIMEOUT_S
from tests.support.servers import REPO_ROOT, wait_until

READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0
SERVER_LINE = re.compile(r"^  server (\d+): client (\S+)  pid (\d+)$")

needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


@dataclass
class Run:
    """A running ``python -m server ensemble`` and what it printed."""

    process: subprocess.Popen[str]
    data_dir: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def read_until(self, pattern: str, timeout_s: float = READY_TIMEOUT_S) -> re.Match[str]:
        """The first line (from the next unread one) matching ``pattern``; bounded."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r}; printed:\n" + self.text())
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def text(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "\n".join(self.seen)

    def servers(self) -> dict[int, tuple[str, int]]:
        """Server id -> (client address, PID), from the lines printed so far."""
        found = {}
        for line in self.seen:
            match = SERVER_LINE.match(line)
            if match:
                found[int(match[1])] = (match[2], int(match[3]))
        return found


def processes_naming(text: str) -> list[int]:
    """PIDs of the live processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@contextmanager
def ensemble_command(data_dir: Path, *args: str) -> Iterator[Run]:
    """``python -m server ensemble --data-dir DATA_DIR ARGS``; killed (and its servers, by
    their printed PIDs) if still running at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "ensemble", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
    )
    run = Run(process, data_dir)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(EXIT_TIMEOUT_S)
        for pid in processes_naming(str(data_dir)):
            os.kill(pid, signal.SIGKILL)  # a server the command left behind: the test fails
        reader.join(EXIT_TIMEOUT_S)
        if process.stdout is not None:
            process.stdout.close()


@needs_proc
def test_three_servers_form_are_printed_reported_and_stopped_by_ctrl_c(tmp_path: Path) -> None:
    """The default ensemble: three servers, each printed with its client address, data
    directory, log and PID, the connect string, "ready" once one leads and two follow (as
    ``srvr`` says); a server killed is reported and the leadership change too; Ctrl-C stops
    the others and the command exits 0 leaving no process."""
    with ensemble_command(tmp_path) as run:
        ready = run.read_until(r"^ready in ([\d.]+) s: server (\d) is the leader")
        connect = re.search(r"^connect string: (\S+)$", run.text(), re.M)
        assert connect is not None
        servers = run.servers()
        assert sorted(servers) == [1, 2, 3]
        assert connect[1] == ",".join(address for address, _ in servers.values())
        for sid in servers:
            home = tmp_path / f"server-{sid}"
            assert (
                f"data {home / 'data'}" in run.text() and f"log  {home / 'zkref.log'}" in run.text()
            )
            assert (home / "data" / "myid").read_text() == f"{sid}\n"
            config = (home / "zoo.cfg").read_text()
            for line in (
                "tickTime=3000",
                "initLimit=10",
                "syncLimit=5",
                "clientPortAddress=127.0.0.1",
            ):
                assert line in config.splitlines()
            assert config.count("server.") == 3
        modes = {
            sid: srvr_mode(int(address.rsplit(":", 1)[1])) for sid, (address, _) in servers.items()
        }
        leader = int(ready[2])
        assert modes[leader] == "leader" and sorted(str(m) for m in modes.values()) == [
            "follower",
            "follower",
            "leader",
        ]
        client = KazooClient(hosts=connect[1])
        client.start(timeout=KAZOO_START_TIMEOUT_S)
        try:
            client.create("/through-the-ensemble", b"hello")
            assert client.get("/through-the-ensemble")[0] == b"hello"
        finally:
            client.stop()
            client.close()
        os.kill(servers[leader][1], signal.SIGKILL)
        run.read_until(
            rf"^server {leader} \(pid {servers[leader][1]}\) has exited \(killed by signal 9\)"
        )
        run.read_until(r"server \d is the leader; server \d follows$")
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(EXIT_TIMEOUT_S) == 0, run.text()
        run.read_until(r"^stopped; ")
        assert processes_naming(str(tmp_path)) == []
        print(f"\nready in {ready[1]} s; printed:\n{run.text()}")


@needs_proc
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_start_stops_every_server_started_so_far(
    tmp_path: Path, signum: int
) -> None:
    with ensemble_command(tmp_path) as run:
        run.read_until(r"^  server 1: client ")
        run.process.send_signal(signum)
        assert run.process.wait(EXIT_TIMEOUT_S) == 0, run.text()
        assert processes_naming(str(tmp_path)) == []


@needs_proc
def test_a_killed_ensemble_command_takes_its_servers_with_it(tmp_path: Path) -> None:
    """kill -9 of the command itself (no chance to stop anything): each server was told
    to receive SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG) and stops."""
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signals are Linux's")
    with ensemble_command(tmp_path) as run:
        run.read_until(r"^ready in ")
        assert len(processes_naming(str(tmp_path))) == 4  # the command and three servers
        run.process.kill()
        run.process.wait(EXIT_TIMEOUT_S)
        wait_until(lambda: processes_naming(str(tmp_path)) == [], EXIT_TIMEOUT_S, 0.1)


@needs_proc
@pytest.mark.slow
def test_five_servers_form_and_stop(tmp_path: Path) -> None:
    with ensemble_command(tmp_path, "--size", "5", "--tick-time", "2000") as run:
        ready = run.read_until(
            r"^ready in ([\d.]+) s: server \d is the leader; servers (.*) follow$"
        )
        assert len(run.servers()) == 5 and ready[2].count(",") + ready[2].count(" and ") == 3
        assert "tickTime=2000" in (tmp_path / "server-5" / "zoo.cfg").read_text()
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(EXIT_TIMEOUT_S) == 0, run.text()
        assert processes_naming(str(tmp_path)) == []
        print(f"\nfive servers ready in {ready[1]} s")


@pytest.mark.parametrize("size", ["4", "1", "0"])
def test_a_size_that_is_not_odd_and_at_least_3_is_refused(tmp_path: Path, size: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "ensemble", "--size", size, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=EXIT_TIMEOUT_S,
    )
    assert result.returncode == 2
    assert "an ensemble needs an odd number of servers" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_data_dir_of_a_larger_ensemble_is_refused(tmp_path: Path) -> None:
    (tmp_path / "server-5").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "server", "ensemble", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=EXIT_TIMEOUT_S,
    )
    assert result.returncode == 1
    assert "holds server-5 from an ensemble larger than 3" in result.stderr


@needs_proc
@pytest.mark.slow
def test_the_same_data_dir_starts_the_same_ensemble_again_with_its_data(tmp_path: Path) -> None:
    """Ports are chosen anew at each start; the data directories are kept and recovered."""
    for run_number in (1, 2):
        with ensemble_command(tmp_path) as run:
            run.read_until(r"^ready in ")
            connect = re.search(r"^connect string: (\S+)$", run.text(), re.M)
            assert connect is not None
            client = KazooClient(hosts=connect[1])
            client.start(timeout=KAZOO_START_TIMEOUT_S)
            try:
                if run_number == 1:
                    client.create("/kept", b"across runs")
                else:
                    client.sync("/kept")
                    assert client.get("/kept")[0] == b"across runs"
            finally:
                client.stop()
                client.close()
            run.process.send_signal(signal.SIGINT)
            assert run.process.wait(EXIT_TIMEOUT_S) == 0, run.text()
