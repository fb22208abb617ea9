"""Ensembles the suite starts itself, wired through proxies it controls: zkref or Apache.

``LocalEnsemble(kind, size, home)`` starts ``size`` servers of one kind on 127.0.0.1:

* ``zkref``: ``python -m server serve --config zoo.cfg`` (this repository's server, found
  through ``PYTHONPATH``; started as a process, never imported), with ``--plant NAME`` for
  each planted bug asked for (a hidden, test-only flag of ``zkref serve`` that switches on one
  of the bugs of ``reference.quorum.plants``, to prove that a run catches it);
* ``apache``: ``java -cp /usr/share/java/*:/usr/share/zookeeper/* ... QuorumPeerMain zoo.cfg``
  from Debian's packages, with its log on (``APACHE_LOGGING``: slf4j-simple first on the
  class path, since Debian's class path has several bindings and would otherwise pick the
  silent one; INFO, and DEBUG for ``LearnerHandler``, which logs how it syncs a follower —
  DIFF, TRUNC or SNAP — only there), so that a run that finds a violation has the servers'
  account of it in ``server.out``.
* ``mixed``: both kinds in one ensemble (docs/MIXED.md), zkref at the ids of ``MIXED_ZKREF``
  (three servers: Apache 1 and 2, zkref 3; five: Apache 1, 2 and 4, zkref 3 and 5), every
  zoo.cfg with ``zkref.profile=3.8`` (zkref behaves as the 3.8 servers beside it; Apache
  ignores the key). The highest id is started first and answers ``srvr`` before the others
  start, so that on a fresh start its vote is out first (``totalOrderPredicate``: equal
  epochs and zxids, the higher id wins) and it usually leads: a zkref leader with Apache
  followers. Not always: through the proxies, the Apache servers' votes for server 2 may
  settle (``finalizeWait``) before server 3's reaches them; the faults soon change the
  leader anyway.

Each server has a directory of its own under ``home`` (``server-N``: zoo.cfg, ``data/`` with
``myid``, the process's output in ``server.out``), kept across restarts so that a restarted
server recovers from its own disk. Both kinds get the same zoo.cfg settings
(``EnsembleSettings``: tickTime, initLimit, syncLimit, every four-letter word, no per-IP
connection limit, Apache's AdminServer off) and free ports of 127.0.0.1 chosen once: a client
port, and a quorum and an election port that only the proxies dial. Every ``server.N`` line of
server ``i``'s zoo.cfg names, for ``N == i``, its own real ports (where it listens), and for
every other ``N`` the ports of the proxy ``i→N`` (``conformance.proxy``), so every byte
between servers passes a proxy that can hold it: that is how partitions are made.

Faults by PID only: ``kill`` (SIGKILL), ``restart`` (the same command on the same ports and
data directory; it does not wait, since a server cut off from a quorum does not serve),
``pause`` (SIGSTOP) and ``resume`` (SIGCONT); ``partition``/``cut``/``heal`` act on the
proxies. ``stop`` ends every process (SIGTERM, then SIGKILL after a bound) and the proxies,
whatever state they are in; a ``Reaper`` (``conformance.reaper``) kills the servers should the
suite itself be killed first. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

from conformance.nemesis import HOST, ZOOKEEPER_HOME, NodeError, ServerNode, serves_sessions
from conformance.proxy import PeerProxies
from conformance.reaper import Reaper

KINDS: Final = ("zkref", "apache", "mixed")
MEMBER_KINDS: Final = ("zkref", "apache")
SIZES: Final = (3, 5)
# A mixed ensemble's zkref servers, by size; the others are Apache ZooKeeper 3.8 servers.
MIXED_ZKREF: Final[dict[int, tuple[int, ...]]] = {3: (3,), 5: (3, 5)}
MIXED_SETTINGS: Final = ("zkref.profile=3.8",)
# Apache's log through slf4j-simple (first on the class path: Debian's has several bindings
# and would otherwise pick the silent one), at INFO with the time of day, and DEBUG for
# LearnerHandler, which logs how it syncs a follower (DIFF, TRUNC or SNAP) only there.
APACHE_LOGGING: Final = (
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.quorum.LearnerHandler=debug",
)
# What a server logs when its tree differs from its leader's (each kind checks the digest in
# every proposal: Apache's DataTree.compareDigest/reportDigestMismatch, zkref's
# reference.quorum.peer), or, for zkref, a failure of its own code.
DIVERGENCE_MARKERS: Final[dict[str, tuple[str, ...]]] = {
    "zkref": ("digest mismatch", "internal error"),
    "apache": ("Digests are not matching", "First digest mismatch"),
}
FORM_TIMEOUT_S: Final = 120.0  # JVMs on a loaded machine take their time
SRVR_TIMEOUT_S: Final = 1.0
SRVR_BYTES_MAX: Final = 64 * 1024
POLL_INTERVAL_S: Final = 0.1
JAVA_LIBRARIES: Final = Path("/usr/share/java")
APACHE_CLASS_PATH: Final = (
    f"{JAVA_LIBRARIES}/slf4j-simple.jar:{JAVA_LIBRARIES}/*:{ZOOKEEPER_HOME}/*"
)


@dataclass(frozen=True, slots=True)
class EnsembleSettings:
    """The zoo.cfg settings both kinds run with. The limits are Apache's sample values
    (conf/zoo_sample.cfg: initLimit=10, syncLimit=5); the tick is shorter than its 2000 ms
    so that a run sees many faults and recoveries in a few minutes."""

    tick_time_ms: int = 1000
    init_limit: int = 10
    sync_limit: int = 5

    def lines(self) -> list[str]:
        return [
            f"tickTime={self.tick_time_ms}",
            f"initLimit={self.init_limit}",
            f"syncLimit={self.sync_limit}",
            "4lw.commands.whitelist=*",
            "maxClientCnxns=0",
            "admin.enableServer=false",
        ]

    @property
    def max_session_timeout_ms(self) -> int:
        """maxSessionTimeout's default: 20 ticks."""
        return 20 * self.tick_time_ms


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports of 127.0.0.1 free now (each held until all are chosen)."""
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
    ``not serving`` (Apache's "not currently serving requests", zkref's ``Mode: looking``);
    None if it does not answer."""
    answer = b""
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as conn:
            conn.sendall(b"srvr")
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


class Member(ServerNode):
    """One server of a ``LocalEnsemble`` (see the module docstring)."""

    def __init__(
        self,
        kind: str,
        sid: int,
        home: Path,
        client_port: int,
        own_ports: tuple[int, int],
        peer_ports: dict[int, tuple[int, int]],
        settings: EnsembleSettings,
        plants: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(home, client_port)
        assert kind in MEMBER_KINDS, kind
        self.kind = kind
        self.sid = sid
        self.own_ports = own_ports  # (quorum, election): where this server listens
        self.peer_ports = dict(peer_ports)  # other sid -> (quorum, election) of its proxies
        self.settings = settings
        self.plants = tuple(plants)
        self.extra = tuple(extra)  # zoo.cfg lines besides the settings (a mixed ensemble's)
        self.log_path = home / "server.out"

    def prepare(self) -> None:
        servers = {self.sid: self.own_ports, **self.peer_ports}
        lines = [
            *self.settings.lines(),
            *self.extra,
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            f"clientPortAddress={HOST}",
            *(
                f"server.{sid}={HOST}:{quorum}:{election}"
                for sid, (quorum, election) in sorted(servers.items())
            ),
        ]
        (self.home / "zoo.cfg").write_text("\n".join([*lines, ""]))
        (self.data_dir / "myid").write_text(f"{self.sid}\n")

    def command(self) -> list[str]:
        config = str(self.home / "zoo.cfg")
        if self.kind == "zkref":
            plants = [word for name in self.plants for word in ("--plant", name)]
            return [sys.executable, "-m", "server", "serve", "--config", config, *plants]
        return [
            "java",
            "-Xmx256m",
            "-cp",
            APACHE_CLASS_PATH,
            *APACHE_LOGGING,
            f"-Dzookeeper.log.dir={self.home}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            config,
        ]

    def mode(self) -> str | None:
        return srvr_mode(self.port) if self.running() else None

    def divergences(self) -> list[str]:
        """The lines of its log that say its tree differed from its leader's, or (zkref) that
        its code failed (``DIVERGENCE_MARKERS``)."""
        markers = DIVERGENCE_MARKERS[self.kind]
        return [line for line in self.log_text().splitlines() if any(m in line for m in markers)]


def member_kinds(kind: str, size: int) -> dict[int, str]:
    """Each server id's kind in an ensemble of ``kind`` (``mixed``: ``MIXED_ZKREF``)."""
    if kind != "mixed":
        return {sid: kind for sid in range(1, size + 1)}
    return {sid: "zkref" if sid in MIXED_ZKREF[size] else "apache" for sid in range(1, size + 1)}


def apache_missing() -> str | None:
    """None if Apache ZooKeeper can be started here, else why not."""
    if not ZOOKEEPER_HOME.exists():
        return f"{ZOOKEEPER_HOME} is absent (install Debian's zookeeper package)"
    if shutil.which("java") is None:
        return "java is not installed"
    return None


class LocalEnsemble:
    """``size`` servers of ``kind`` in one ensemble, every peer connection proxied (see the
    module docstring). Use it as a context manager: leaving it stops everything."""

    def __init__(
        self,
        kind: str,
        size: int,
        home: Path,
        settings: EnsembleSettings | None = None,
        plants: Sequence[str] = (),
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"the ensemble kind is one of {KINDS}, not {kind!r}")
        if size < 3 or size % 2 == 0:
            raise ValueError(f"an ensemble here has an odd size of 3 or more, not {size}")
        if plants and kind == "apache":
            raise ValueError("planted bugs exist only in zkref servers")
        self.kind = kind
        self.size = size
        self.home = home
        self.settings = settings or EnsembleSettings()
        self.plants = tuple(plants)
        self.sids = list(range(1, size + 1))
        self.kinds = member_kinds(kind, size)
        self.proxies = PeerProxies(self.sids)
        self.reaper = Reaper()
        self.members: dict[int, Member] = {}
        self.paused: set[int] = set()
        self.formed_in_s = 0.0
        self._started = False

    # --- life ----------------------------------------------------------------------------

    def start(self, timeout_s: float = FORM_TIMEOUT_S) -> int:
        """Start the proxies and every server; return the leader's id once one leads, every
        other follows and each grants a session (bounded: ``NodeError`` after ``timeout_s``,
        everything stopped)."""
        assert not self._started, "an ensemble starts once"
        self._started = True
        started = time.monotonic()
        try:
            self.reaper.start()
            self.proxies.start()  # bound first: the servers' free ports cannot collide with them
            ports = free_ports(3 * self.size)
            real = {
                sid: (ports[3 * i], ports[3 * i + 1], ports[3 * i + 2])
                for i, sid in enumerate(self.sids)
            }
            self.proxies.set_targets({sid: (q, e) for sid, (_, q, e) in real.items()})
            for sid in self.sids:
                client, quorum, election = real[sid]
                peers = {
                    other: (
                        self.proxies.port(sid, other, "quorum"),
                        self.proxies.port(sid, other, "election"),
                    )
                    for other in self.sids
                    if other != sid
                }
                member = Member(
                    self.kinds[sid],
                    sid,
                    self.home / f"server-{sid}",
                    client,
                    (quorum, election),
                    peers,
                    self.settings,
                    self.plants if self.kinds[sid] == "zkref" else (),
                    MIXED_SETTINGS if self.kind == "mixed" else (),
                )
                member.on_spawn = self.reaper.add
                self.members[sid] = member
            deadline = started + timeout_s
            if self.kind == "mixed":
                self._start_highest_first(deadline)
            else:
                for member in self.members.values():
                    member.spawn()
            leader = self.wait_formed(timeout_s)
            for member in self.members.values():
                while not serves_sessions(member.port):
                    if time.monotonic() > deadline:
                        raise NodeError(
                            f"{self.kind} server {member.sid} grants no session: "
                            f"see {member.log_path}"
                        )
                    time.sleep(POLL_INTERVAL_S)
        except BaseException:
            self.stop()
            raise
        self.formed_in_s = time.monotonic() - started
        return leader

    def _start_highest_first(self, deadline: float) -> None:
        """A mixed ensemble's start: the highest id first, the others once it answers
        ``srvr`` (see the module docstring), so that its vote is in the first quorum."""
        first = self.members[max(self.sids)]
        first.spawn()
        while srvr_mode(first.port) is None:
            if not first.running() or time.monotonic() > deadline:
                raise NodeError(
                    f"{first.kind} server {first.sid} did not start: see {first.log_path}"
                )
            time.sleep(POLL_INTERVAL_S)
        for sid in self.sids:
            if sid != first.sid:
                self.members[sid].spawn()

    def stop(self) -> None:
        """Stop every server (SIGCONT, SIGTERM, SIGKILL after a bound) and the proxies."""
        for member in self.members.values():
            pid = member.pid
            with contextlib.suppress(OSError, NodeError):
                member.stop()
            if pid is not None:
                self.reaper.remove(pid)
        self.paused.clear()
        self.proxies.close()
        self.reaper.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- who is who ----------------------------------------------------------------------

    @property
    def hosts(self) -> list[str]:
        return [self.members[sid].address for sid in self.sids]

    @property
    def connect_string(self) -> str:
        return ",".join(self.hosts)

    def running(self) -> list[int]:
        return [sid for sid in self.sids if self.members[sid].running()]

    def down(self) -> list[int]:
        return [sid for sid in self.sids if not self.members[sid].running()]

    def modes(self) -> dict[int, str | None]:
        """``srvr``'s mode of every running member that is not paused (a paused one cannot
        answer)."""
        return {sid: self.members[sid].mode() for sid in self.running() if sid not in self.paused}

    def leader(self) -> int | None:
        """The one member that says it leads, if exactly one does."""
        leaders = [sid for sid, mode in self.modes().items() if mode == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def formed(self) -> int | None:
        """The leader's id if every member is running, unpaused, and follows one leader."""
        modes = self.modes()
        if len(modes) != self.size:
            return None
        leaders = [sid for sid, mode in modes.items() if mode == "leader"]
        followers = [sid for sid, mode in modes.items() if mode == "follower"]
        if len(leaders) == 1 and len(followers) == self.size - 1:
            return leaders[0]
        return None

    def wait_formed(self, timeout_s: float = FORM_TIMEOUT_S) -> int:
        """Wait (bounded) until ``formed``; ``NodeError`` with the last modes after it."""
        deadline = time.monotonic() + timeout_s
        while (leader := self.formed()) is None:
            for sid in self.sids:
                member = self.members[sid]
                if member.process is not None and member.process.poll() is not None:
                    raise NodeError(
                        f"{self.kind} server {sid} exited ({member.process.returncode}): "
                        f"see {member.log_path}"
                    )
            if time.monotonic() > deadline:
                raise NodeError(
                    f"no {self.kind} leader followed by all within {timeout_s:.0f} s: "
                    f"{self.modes()}"
                )
            time.sleep(POLL_INTERVAL_S)
        return leader

    # --- faults --------------------------------------------------------------------------

    def kill(self, sid: int) -> None:
        """kill -9 of one server, by its PID."""
        member = self.members[sid]
        pid = member.pid
        member.kill()
        self.paused.discard(sid)
        if pid is not None:
            self.reaper.remove(pid)

    def restart(self, sid: int) -> None:
        """Start a killed server again (same ports and data directory); does not wait."""
        member = self.members[sid]
        if member.running():
            self.kill(sid)
        member.spawn()

    def pause(self, sid: int) -> None:
        """SIGSTOP: the process stops; its sockets stay open and its peers hear nothing."""
        self.members[sid].signal(signal.SIGSTOP)
        self.paused.add(sid)

    def resume(self, sid: int) -> None:
        """SIGCONT."""
        self.members[sid].signal(signal.SIGCONT)
        self.paused.discard(sid)

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between servers of different groups (on top of any cut)."""
        self.proxies.partition(*groups)

    def cut(self, links: Iterable[tuple[int, int]]) -> None:
        """Cut these directed links (source, destination)."""
        self.proxies.cut(links)

    def heal(self) -> None:
        """The network whole again."""
        self.proxies.heal()

    def log_tail(self, sid: int, lines: int = 20) -> str:
        return "\n".join(self.members[sid].log_text().splitlines()[-lines:])

    def divergences(self) -> dict[int, list[str]]:
        """Per server, the lines of its log that say its tree differed from its leader's, or
        (zkref) that its code failed; empty if none did (``Member.divergences``)."""
        return {sid: lines for sid in self.sids if (lines := self.members[sid].divergences())}


__all__ = [
    "DIVERGENCE_MARKERS",
    "KINDS",
    "MIXED_ZKREF",
    "SIZES",
    "EnsembleSettings",
    "LocalEnsemble",
    "Member",
    "apache_missing",
    "free_ports",
    "member_kinds",
    "srvr_mode",
]
