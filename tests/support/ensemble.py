"""Ensembles of real server processes for tests: zkref's or Apache ZooKeeper's.

``Ensemble`` holds N members, each a ``conformance.nemesis.ServerNode`` (a process the test
started, with a data directory of its own, listening on 127.0.0.1 and free ports chosen once,
so a restarted member comes back where clients left it): ``zkref_ensemble`` makes
``ZkrefMember``s (``python -m server serve --config zoo.cfg``), ``apache_ensemble`` makes
``ApacheMember``s (Apache ZooKeeper 3.8's ``QuorumPeerMain`` with its own zoo.cfg). Each
member's zoo.cfg is the one an operator writes for a three- or five-server ensemble:
``tickTime``, ``initLimit``, ``syncLimit``, ``dataDir``, ``clientPort``, ``clientPortAddress``
and every ``server.N=host:quorumPort:electionPort`` line, with ``myid`` in the dataDir.

``start`` starts every member at once (a member takes sessions only once a quorum has formed)
and returns when each takes sessions; ``wait_formed`` waits until exactly one member reports
``Mode: leader`` and every other running one ``Mode: follower`` (``srvr``). ``kill`` (kill
-9), ``restart`` and ``stop`` act by PID only; leaving the ``with`` block stops every member
(SIGTERM, then SIGKILL after a bound), so a test never leaves a process running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import pytest

from conformance.nemesis import HOST, ApacheZooKeeperNode, NodeError, ServerNode
from server.ensemble import free_ports, srvr_mode

# The zoo.cfg lines of Apache ZooKeeper's own three-server example (zoo_sample.cfg and the
# Administrator's Guide): 2 s ticks, 10 ticks to connect and sync, 5 to fall behind.
STANDARD_SETTINGS: Mapping[str, str] = {"tickTime": "2000", "initLimit": "10", "syncLimit": "5"}
FORM_TIMEOUT_S = 30.0


def server_lines(members: Mapping[int, tuple[int, int]]) -> list[str]:
    """``server.N=127.0.0.1:quorumPort:electionPort`` for every member."""
    return [
        f"server.{sid}={HOST}:{quorum}:{election}"
        for sid, (quorum, election) in sorted(members.items())
    ]


class ZkrefMember(ServerNode):
    """``python -m server serve --config zoo.cfg``: nothing on the command line but the
    zoo.cfg, which holds the standard ensemble lines, ``settings`` and ``myid``."""

    kind = "zkref"

    def __init__(
        self,
        home: Path,
        sid: int,
        members: Mapping[int, tuple[int, int]],
        settings: Mapping[str, str],
        port: int | None = None,
    ) -> None:
        super().__init__(home, port)
        self.sid = sid
        self.members = dict(members)  # server id -> (quorum port, election port)
        self.settings = dict(settings)

    def prepare(self) -> None:
        lines = [f"{key}={value}" for key, value in self.settings.items()]
        lines += [
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            f"clientPortAddress={HOST}",
            *server_lines(self.members),
        ]
        (self.home / "zoo.cfg").write_text("\n".join([*lines, ""]))
        (self.data_dir / "myid").write_text(f"{self.sid}\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "server", "serve", "--config", str(self.home / "zoo.cfg")]


class ApacheMember(ApacheZooKeeperNode):
    """One server of an Apache ZooKeeper ensemble: the standalone zoo.cfg of
    ``ApacheZooKeeperNode`` (set up for tests, or ``stock``) plus initLimit=10, syncLimit=5,
    ``settings`` (later lines win in Java properties), the ``server.N`` lines of every member
    and this one's ``myid``."""

    def __init__(
        self,
        home: Path,
        sid: int,
        members: Mapping[int, tuple[int, int]],
        port: int | None = None,
        *,
        stock: bool = False,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(home, port, stock=stock)
        self.sid = sid
        self.members = dict(members)
        self.settings = dict(settings or {})

    def prepare(self) -> None:
        super().prepare()
        lines = ["initLimit=10", "syncLimit=5"]
        lines += [f"{key}={value}" for key, value in self.settings.items()]
        lines += server_lines(self.members)
        with (self.home / "zoo.cfg").open("a") as config:
            config.write("\n".join(lines) + "\n")
        (self.data_dir / "myid").write_text(f"{self.sid}\n")


class Ensemble:
    """Server processes forming one ensemble, by server id (see the module docstring)."""

    def __init__(self, members: Mapping[int, ServerNode]) -> None:
        assert members, "an ensemble has members"
        self.members = dict(members)
        self.formed_in_s = 0.0  # from the start of every member to one leader followed

    @property
    def kind(self) -> str:
        return next(iter(self.members.values())).kind

    @property
    def addresses(self) -> list[str]:
        return [member.address for _, member in sorted(self.members.items())]

    @property
    def connect_string(self) -> str:
        return ",".join(self.addresses)

    def __getitem__(self, sid: int) -> ServerNode:
        return self.members[sid]

    def __iter__(self) -> Iterator[ServerNode]:
        """The members in server id order."""
        return iter(member for _, member in sorted(self.members.items()))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start every member together; return once each takes sessions (bounded), or raise
        ``NodeError`` (every member stopped) naming those that did not start."""
        with ThreadPoolExecutor(len(self.members)) as pool:
            futures = {sid: pool.submit(m.start) for sid, m in self.members.items()}
            failures = {sid: f.exception() for sid, f in futures.items()}
        failed = {sid: error for sid, error in failures.items() if error is not None}
        if failed:
            self.stop()
            raise NodeError(f"{self.kind} ensemble did not form: {failed}")

    def stop(self) -> None:
        for member in self.members.values():
            member.stop()

    def kill(self, sid: int) -> None:
        """kill -9 of one member, by its PID."""
        self.members[sid].kill()

    def restart(self, sid: int, *, open_session: bool = True) -> None:
        """Start a killed member again (same ports and data); returns once it takes sessions
        (``ServerNode.start``: with ``open_session`` False, once it serves)."""
        member = self.members[sid]
        if member.running():
            member.kill()
        member.start(open_session=open_session)

    def running(self) -> list[int]:
        return sorted(sid for sid, m in self.members.items() if m.running())

    def mode(self, sid: int) -> str | None:
        """What ``srvr`` says of the member: leader, follower, not serving; None: no answer."""
        return srvr_mode(self.members[sid].port)

    def modes(self) -> dict[int, str | None]:
        """``srvr``'s mode of every running member."""
        return {sid: self.mode(sid) for sid in self.running()}

    def wait_formed(self, timeout_s: float = FORM_TIMEOUT_S) -> int:
        """Wait until exactly one running member leads and every other running one follows;
        the leader's id. AssertionError with the last modes after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            modes = self.modes()
            leaders = [sid for sid, mode in modes.items() if mode == "leader"]
            followers = [sid for sid, mode in modes.items() if mode == "follower"]
            if len(leaders) == 1 and len(followers) == len(modes) - 1:
                return leaders[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no single leader within {timeout_s} s: {modes}")
            time.sleep(0.05)

    def leader(self) -> int:
        """The leader's id (waits, bounded, until the running members agree)."""
        return self.wait_formed()

    def followers(self) -> list[int]:
        leader = self.leader()
        return [sid for sid in self.running() if sid != leader]

    def log_text(self) -> str:
        return "\n".join(
            f"--- {member.kind} server {sid} ({member.log_path})\n{member.log_text()}"
            for sid, member in sorted(self.members.items())
        )


def _ports(size: int) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """Distinct free ports: each member's client port, and its quorum and election ports."""
    ports = free_ports(3 * size)
    sids = range(1, size + 1)
    client = {sid: ports[3 * (sid - 1)] for sid in sids}
    peer = {sid: (ports[3 * (sid - 1) + 1], ports[3 * (sid - 1) + 2]) for sid in sids}
    return client, peer


@contextmanager
def zkref_ensemble(
    home: Path,
    size: int = 3,
    settings: Mapping[str, str] | None = None,
    *,
    base: Mapping[str, str] = STANDARD_SETTINGS,
) -> Iterator[Ensemble]:
    """``size`` zkref servers in one ensemble (zoo.cfg: ``base``, by default
    ``STANDARD_SETTINGS``, updated with ``settings``), formed; every member stopped by PID
    at the end."""
    client, members = _ports(size)
    chosen = {**base, **(settings or {})}
    ensemble = Ensemble(
        {
            sid: ZkrefMember(home / f"server-{sid}", sid, members, chosen, client[sid])
            for sid in members
        }
    )
    with ensemble:
        started = time.monotonic()
        ensemble.start()
        ensemble.wait_formed()
        ensemble.formed_in_s = time.monotonic() - started
        yield ensemble
    internal = [sid for sid, m in ensemble.members.items() if "internal error" in m.log_text()]
    assert not internal, f"internal error in zkref servers {internal}:\n{ensemble.log_text()}"


@contextmanager
def apache_ensemble(
    home: Path,
    size: int = 3,
    *,
    stock: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Ensemble]:
    """``size`` Apache ZooKeeper 3.8 servers in one ensemble, each set up for tests (200 ms
    ticks, every four-letter word, TTL nodes) or ``stock``, with ``settings`` on top, formed;
    stopped by PID at the end. Skips the test if Apache ZooKeeper cannot run here or the
    ensemble does not form."""
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    client, members = _ports(size)
    ensemble = Ensemble(
        {
            sid: ApacheMember(
                home / f"server-{sid}", sid, members, client[sid], stock=stock, settings=settings
            )
            for sid in members
        }
    )
    with ensemble:
        started = time.monotonic()
        try:
            ensemble.start()
        except NodeError as error:
            pytest.skip(f"the Apache ZooKeeper ensemble did not form: {error}")
        ensemble.wait_formed()
        ensemble.formed_in_s = time.monotonic() - started
        yield ensemble
