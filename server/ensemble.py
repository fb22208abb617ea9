"""``zkref ensemble``: a local ensemble of N ``zkref serve`` processes on loopback.

Theory of operation
-------------------
The command writes, for each server ``N`` of ``--size`` (odd, 3 or more), a directory
``DIR/server-N`` holding an Apache-style ``zoo.cfg`` (tickTime, initLimit=10, syncLimit=5,
dataDir, clientPort and clientPortAddress=127.0.0.1, and the ``server.N`` lines of every
member) and ``data/myid``; then starts ``python -m server serve --config DIR/server-N/zoo.cfg``
for each, its output in ``DIR/server-N/zkref.log``. It prints every server's client address,
data directory, log and PID, and the connect string, then polls ``srvr`` on each until exactly
one answers ``Mode: leader`` and the others ``Mode: follower``, and says so. While it runs it
reports a server that exits and every change of leader. SIGINT (Ctrl-C), SIGTERM or SIGHUP
stop every server by its PID (SIGTERM, then SIGKILL after ``STOP_TIMEOUT_S``) and the command
exits 0; nothing else ever ends it while a server lives.

Ports are chosen free on 127.0.0.1 at each start (all 3N sockets held open together, so no two
are equal); the data directories are kept, so ``--data-dir DIR`` with the same size starts the
same ensemble again with its data. Without ``--data-dir`` a new directory is made and printed.

No process is left behind: the servers run in a session of their own (the terminal's Ctrl-C
reaches only this command, which stops them in order), every exit path of this command stops
them, a signal during the start is handled where it cannot interrupt ``Popen`` half-way (the
handlers only set a flag), and on Linux each server is told to receive SIGTERM should this
command die without stopping it (``prctl(PR_SET_PDEATHSIG)``, e.g. after a kill -9 of it).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

HOST = "127.0.0.1"
INIT_LIMIT = 10  # ticks a follower has to connect and sync (the value of Apache's samples)
SYNC_LIMIT = 5  # ticks a follower may fall behind the leader
TICK_TIME_MS_DEFAULT = 3000  # Apache ZooKeeper's (ZooKeeperServer.DEFAULT_TICK_TIME)
SIZE_DEFAULT = 3
SIZE_MAX = 255  # server ids are 1..255
# How long the servers have to elect a leader that every other server follows; past it the
# command gives up (and stops them). Two initLimits at the default tick, at least a minute.
START_TIMEOUT_S_MIN = 60.0
STOP_TIMEOUT_S = 10.0  # per server, after SIGTERM, before SIGKILL
POLL_INTERVAL_S = 0.1  # how often the children's exits and a stop request are checked
STATUS_INTERVAL_S = 1.0  # how often ``srvr`` is asked while running
SRVR_TIMEOUT_S = 1.0
SRVR_BYTES_MAX = 64 * 1024
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOG_TAIL_LINES = 20  # of a server that exited during the start, shown with the error

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class EnsembleError(Exception):
    """The ensemble could not be set up or did not form; the message says why."""


@dataclass
class Member:
    """One server of the ensemble: its id, ports, files and (while it runs) process."""

    sid: int
    home: Path
    client_port: int
    quorum_port: int
    election_port: int
    process: subprocess.Popen[bytes] | None = None
    exit_reported: bool = False
    log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_path(self) -> Path:
        return self.home / "zoo.cfg"

    @property
    def log_path(self) -> Path:
        return self.home / "zkref.log"

    @property
    def client_address(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def server_line(self) -> str:
        return f"server.{self.sid}={HOST}:{self.quorum_port}:{self.election_port}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def zoo_cfg_text(member: Member, members: Sequence[Member], tick_time_ms: int) -> str:
    """An ensemble member's zoo.cfg, in the form Apache ZooKeeper reads too."""
    lines = [
        f"# zkref ensemble: server {member.sid} of {len(members)}",
        f"tickTime={tick_time_ms}",
        f"initLimit={INIT_LIMIT}",
        f"syncLimit={SYNC_LIMIT}",
        f"dataDir={member.data_dir}",
        f"clientPort={member.client_port}",
        f"clientPortAddress={HOST}",
        *(m.server_line for m in members),
    ]
    return "\n".join(lines) + "\n"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (each socket held until all are bound)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket())
            probe.bind((HOST, 0))
            ports.append(probe.getsockname()[1])
    assert len(set(ports)) == count
    return ports


def srvr_mode(port: int, timeout_s: float = SRVR_TIMEOUT_S) -> str | None:
    """What ``srvr`` says of a server's role: ``leader``, ``follower``, ``standalone``,
    ``not serving`` (Apache's "not currently serving requests", or zkref's ``Mode: looking``),
    or None if it does not answer."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            conn.sendall(b"srvr")
            answer = b""
            while len(answer) < SRVR_BYTES_MAX:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return None
    text = answer.decode("utf-8", "replace")
    if "not currently serving" in text:
        return "not serving"
    for line in text.splitlines():
        if line.startswith("Mode: "):
            mode = line[len("Mode: ") :].strip()
            return "not serving" if mode == "looking" else mode
    return None


def _names(sids: Sequence[int]) -> str:
    text = ", ".join(map(str, sids[:-1]))
    return f"{text} and {sids[-1]}" if text else str(sids[-1]) if sids else ""


def describe_roles(modes: dict[int, str | None]) -> str:
    """One line saying who leads and who follows, e.g. ``server 2 is the leader; servers 1
    and 3 are followers``."""
    leaders = sorted(sid for sid, mode in modes.items() if mode == "leader")
    followers = sorted(sid for sid, mode in modes.items() if mode == "follower")
    others = sorted(sid for sid in modes if sid not in leaders and sid not in followers)
    parts = []
    if len(leaders) == 1:
        parts.append(f"server {leaders[0]} is the leader")
    elif leaders:
        parts.append(f"servers {_names(leaders)} say they lead")
    else:
        parts.append("no leader")
    if followers:
        if len(followers) > 1:
            parts.append(f"servers {_names(followers)} follow")
        else:
            parts.append(f"server {followers[0]} follows")
    for sid in others:
        parts.append(f"server {sid}: {modes[sid] or 'no answer'}")
    return "; ".join(parts)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(unreadable: {error})"
    return "\n".join(text.splitlines()[-lines:])


def formed(modes: dict[int, str | None]) -> bool:
    """Exactly one leader, every other server a follower."""
    values = list(modes.values())
    return values.count("leader") == 1 and values.count("follower") == len(values) - 1


def _child_setup(parent_pid: int) -> Callable[[], None] | None:
    """What a server's process runs before exec: on Linux, receive SIGTERM when this command
    dies (and exit at once if it is already gone). None elsewhere."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


class LocalEnsemble:
    """The servers of ``zkref ensemble`` and what the command does with them."""

    def __init__(
        self,
        size: int,
        root: Path,
        tick_time_ms: int = TICK_TIME_MS_DEFAULT,
        out: Callable[[str], None] = print,
    ) -> None:
        self.size = size
        self.root = root
        self.tick_time_ms = tick_time_ms
        self.out = out
        self.members: list[Member] = []
        self.stop_signal: int | None = None
        self.signals = 0
        self.leader: int | None = None
        self.roles = ""

    # --- signals -------------------------------------------------------------------------

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        """Signal handler: only note the request (never interrupt a start half-way)."""
        self.stop_signal = signum
        self.signals += 1

    @property
    def stopping(self) -> bool:
        return self.stop_signal is not None

    def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, in steps, returning early once a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, POLL_INTERVAL_S))

    # --- set up --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Choose ports and write every member's zoo.cfg and myid."""
        wanted = {f"server-{sid}" for sid in range(1, self.size + 1)}
        if self.root.exists():
            present = {p.name for p in self.root.iterdir() if p.name.startswith("server-")}
            if present - wanted:
                raise EnsembleError(
                    f"{self.root} holds {', '.join(sorted(present - wanted))} from an ensemble "
                    f"larger than {self.size}: use --size to match it, or another --data-dir"
                )
        ports = free_ports(3 * self.size)
        for sid in range(1, self.size + 1):
            client, quorum, election = ports[3 * (sid - 1) : 3 * sid]
            self.members.append(Member(sid, self.root / f"server-{sid}", client, quorum, election))
        for member in self.members:
            member.data_dir.mkdir(parents=True, exist_ok=True)
            member.config_path.write_text(zoo_cfg_text(member, self.members, self.tick_time_ms))
            (member.data_dir / "myid").write_text(f"{member.sid}\n")

    def start(self) -> None:
        """Start every member's process (without waiting for it)."""
        package_root = Path(__file__).resolve().parents[1]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(package_root), env.get("PYTHONPATH")])
        )
        setup = _child_setup(os.getpid())
        for member in self.members:
            if self.stopping:
                return
            command = [sys.executable, "-m", "server", "serve", "--config", str(member.config_path)]
            member.log_file = member.log_path.open("ab")
            member.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=member.log_file,
                stderr=subprocess.STDOUT,
                cwd=member.home,
                env=env,
                start_new_session=True,
                preexec_fn=setup,  # one thread here, so fork+preexec is safe
            )
            self.out(
                f"  server {member.sid}: client {member.client_address}  pid "
                f"{member.process.pid}\n"
                f"            data {member.data_dir}\n"
                f"            log  {member.log_path}"
            )

    @property
    def connect_string(self) -> str:
        return ",".join(m.client_address for m in self.members)

    def modes(self) -> dict[int, str | None]:
        """``srvr``'s mode of every running member."""
        return {m.sid: srvr_mode(m.client_port) for m in self.members if m.running()}

    def wait_formed(self, timeout_s: float) -> dict[int, str | None] | None:
        """Poll until exactly one member leads and the others follow; the modes, or None if a
        stop was requested. ``EnsembleError`` if a member exits or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        modes: dict[int, str | None] = {}
        while not self.stopping:
            self.report_exits()
            dead = [m for m in self.members if not m.running()]
            if dead:
                raise EnsembleError(
                    f"server {dead[0].sid} exited during the start; the end of "
                    f"{dead[0].log_path}:\n{_tail(dead[0].log_path)}"
                )
            modes = self.modes()
            if len(modes) == self.size and formed(modes):
                return modes
            if time.monotonic() > deadline:
                raise EnsembleError(
                    f"no leader followed by every server within {timeout_s:g} s "
                    f"({describe_roles(modes)})"
                )
            self._sleep(POLL_INTERVAL_S)
        return None

    # --- running -------------------------------------------------------------------------

    def report_exits(self) -> None:
        for member in self.members:
            process = member.process
            if process is None or member.exit_reported or process.poll() is None:
                continue
            member.exit_reported = True
            status = process.returncode
            how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
            self.out(
                f"server {member.sid} (pid {process.pid}) has exited ({how}); see {member.log_path}"
            )

    def report_roles(self) -> None:
        """Say so when the leader changes (or the ensemble has none)."""
        modes = self.modes()
        leaders = [sid for sid, mode in modes.items() if mode == "leader"]
        leader = leaders[0] if len(leaders) == 1 else None
        roles = describe_roles(modes)
        if leader != self.leader or (leader is None and roles != self.roles):
            self.out(f"{time.strftime('%H:%M:%S')} {roles}")
        self.leader, self.roles = leader, roles

    def watch(self) -> int:
        """Report exits and leader changes until a stop is requested or no server is left."""
        next_status = time.monotonic() + STATUS_INTERVAL_S
        while not self.stopping:
            self.report_exits()
            if not any(m.running() for m in self.members):
                self.out("every server has exited")
                return EXIT_FAILED
            if time.monotonic() >= next_status:
                self.report_roles()
                next_status = time.monotonic() + STATUS_INTERVAL_S
            self._sleep(POLL_INTERVAL_S)
        return EXIT_OK

    # --- stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every member by its PID: SIGTERM to all, then wait; SIGKILL to one that has
        not exited within ``STOP_TIMEOUT_S`` (at once after a second stop signal)."""
        signalled_before = self.signals
        running = [m for m in self.members if m.running()]
        for member in running:
            assert member.process is not None
            os.kill(member.process.pid, signal.SIGTERM)
            os.kill(member.process.pid, signal.SIGCONT)  # a server someone paused, too
        for member in running:
            process = member.process
            assert process is not None
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while process.poll() is None:
                if time.monotonic() > deadline or self.signals > signalled_before:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(STOP_TIMEOUT_S)
                    break
                time.sleep(0.02)
        for member in self.members:
            if member.process is not None:
                assert member.process.poll() is not None, f"server {member.sid} still runs"
            if member.log_file is not None:
                member.log_file.close()
                member.log_file = None


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start a local ensemble of zkref servers on 127.0.0.1 (free ports), wait "
        "until one leads and the others follow, and run until Ctrl-C, which stops them all.",
    )
    parser.add_argument(
        "--size", type=int, default=SIZE_DEFAULT, help="servers: an odd number, 3 or more (3)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="directory for the servers' zoo.cfg, data and logs (default: a new one in the "
        "temporary directory); reused as it is found",
    )
    parser.add_argument(
        "--tick-time",
        type=int,
        default=TICK_TIME_MS_DEFAULT,
        metavar="MS",
        help=f"tickTime in ms ({TICK_TIME_MS_DEFAULT}, Apache ZooKeeper's)",
    )
    return parser


def main(argv: Sequence[str], prog: str = "zkref ensemble") -> int:
    """``zkref ensemble``: the exit status (0 after Ctrl-C; 1 if it failed; 2 bad usage)."""
    parser = _parser(prog)
    args = parser.parse_args(argv)
    if args.size < 3 or args.size % 2 == 0 or args.size > SIZE_MAX:
        parser.exit(
            EXIT_USAGE,
            f"{prog}: --size {args.size}: an ensemble needs an odd number of servers, 3 to "
            f"{SIZE_MAX} (a quorum of an even size tolerates no more failures than one "
            "fewer); one server is 'zkref serve'\n",
        )
    if args.tick_time <= 0:
        parser.exit(EXIT_USAGE, f"{prog}: --tick-time {args.tick_time}: must be positive\n")
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="zkref-ensemble-"))

    def out(text: str) -> None:
        print(text, flush=True)

    ensemble = LocalEnsemble(args.size, root.resolve(), args.tick_time, out)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, ensemble.request_stop) for signum in handled}
    try:
        return _run(ensemble, out)
    finally:
        ensemble.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if ensemble.members:
            out(f"stopped; the servers' data and logs are in {ensemble.root}")


def _run(ensemble: LocalEnsemble, out: Callable[[str], None]) -> int:
    try:
        ensemble.root.mkdir(parents=True, exist_ok=True)
        ensemble.prepare()
    except (EnsembleError, OSError) as error:
        print(f"zkref ensemble: {error}", file=sys.stderr)
        return EXIT_FAILED
    out(f"zkref ensemble: {ensemble.size} servers on {HOST}, in {ensemble.root}")
    started = time.monotonic()
    try:
        ensemble.start()
    except OSError as error:
        print(f"zkref ensemble: cannot start a server: {error}", file=sys.stderr)
        return EXIT_FAILED
    if ensemble.stopping:
        return EXIT_OK
    out(f"connect string: {ensemble.connect_string}")
    out("waiting for the servers to elect a leader ...")
    timeout_s = max(START_TIMEOUT_S_MIN, 2 * INIT_LIMIT * ensemble.tick_time_ms / 1000)
    try:
        modes = ensemble.wait_formed(timeout_s)
    except EnsembleError as error:
        print(f"zkref ensemble: {error}; stopping", file=sys.stderr)
        return EXIT_FAILED
    if modes is None:
        return EXIT_OK
    leader = next(sid for sid, mode in modes.items() if mode == "leader")
    ensemble.leader, ensemble.roles = leader, describe_roles(modes)
    out(f"ready in {time.monotonic() - started:.1f} s: {ensemble.roles}")
    out("Ctrl-C stops every server (their data and logs stay where they are).")
    status = ensemble.watch()
    if ensemble.stopping:
        out(f"stopping {sum(m.running() for m in ensemble.members)} servers")
    return status
