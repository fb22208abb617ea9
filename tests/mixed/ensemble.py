"""Mixed ensembles: zkref servers and Apache ZooKeeper 3.8 servers in one ensemble.

Every member, whatever its kind, gets the same zoo.cfg (``zoo_cfg``): ``MIXED_SETTINGS``
(tickTime, initLimit, syncLimit, every four-letter word, no AdminServer, and
``zkref.profile=3.8`` so that zkref behaves as the 3.8 servers beside it; Apache stores the
key as a system property it never reads) and a test's own settings, then its own
``dataDir``, ``clientPort`` and ``clientPortAddress``, then every ``server.N`` line; ``myid``
is in the dataDir. zkref runs ``python -m server serve --config zoo.cfg``; Apache runs
``QuorumPeerMain zoo.cfg`` with its log on (slf4j-simple first on the class path: the Debian
class path has several bindings and would otherwise pick the silent one) at INFO, and at
DEBUG for ``LearnerHandler``, which logs some of its sync decisions ("Sending TRUNC to
follower") only there.

``mixed_ensemble(home, "AAZ")`` makes servers 1 and 2 Apache and 3 zkref (a letter per
server id), starts them with the highest id first (``MixedEnsemble.start``: so that it leads
on a fresh start, whatever its kind), waits until they have formed, and at the end, before
stopping them by PID, fails the test if a serving member's ``mntr`` counts a tree digest
mismatch (each kind compares its tree's digest with the one in every proposal from its
leader, whatever the leader's kind); after, if a zkref server logged an internal error or an
Apache server logged a divergence (``APACHE_DIVERGENCE``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.nemesis import (
    HOST,
    START_TIMEOUT_S,
    ApacheZooKeeperNode,
    NodeError,
    ServerNode,
)
from server.ensemble import srvr_mode
from tests.support.ensemble import (
    ApacheMember,
    Ensemble,
    ZkrefMember,
    _ports,
    server_lines,
)
from tests.support.rawclient import four_letter_word

MIXED_SETTINGS: Mapping[str, str] = {
    "tickTime": "2000",
    "initLimit": "10",
    "syncLimit": "5",
    "4lw.commands.whitelist": "*",
    "admin.enableServer": "false",
    "zkref.profile": "3.8",
}

APACHE_CLASS_PATH = "/usr/share/java/slf4j-simple.jar:/usr/share/java/*:/usr/share/zookeeper/*"
APACHE_LOGGING = (
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
    "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.quorum.LearnerHandler=debug",
)

# What an Apache server logs when what its leader sent does not match its own tree
# (DataTree.compareDigest, reportDigestMismatch) or is a multi it cannot read
# (DataTree.processTxn; logged at DEBUG only, so the digest is what shows it at INFO).
APACHE_DIVERGENCE = ("Digests are not matching", "First digest mismatch", "Invalid type of op")

ZKREF = "zkref"
APACHE = ApacheZooKeeperNode.kind
KINDS = {"A": APACHE, "Z": ZKREF}


def zoo_cfg(
    member: ServerNode, members: Mapping[int, tuple[int, int]], settings: Mapping[str, str]
) -> str:
    """The zoo.cfg every member of a mixed ensemble gets (``MIXED_SETTINGS`` updated with
    ``settings``), with its own data dir and port."""
    chosen = {**MIXED_SETTINGS, **settings}
    lines = [f"{key}={value}" for key, value in chosen.items()]
    lines += [
        f"dataDir={member.data_dir}",
        f"clientPort={member.port}",
        f"clientPortAddress={HOST}",
        *server_lines(members),
    ]
    return "\n".join([*lines, ""])


class MixedZkref(ZkrefMember):
    """A zkref server of a mixed ensemble (``python -m server serve --config zoo.cfg``)."""

    def prepare(self) -> None:
        (self.home / "zoo.cfg").write_text(zoo_cfg(self, self.members, self.settings))
        (self.data_dir / "myid").write_text(f"{self.sid}\n")


class MixedApache(ApacheMember):
    """An Apache ZooKeeper 3.8 server of a mixed ensemble (``QuorumPeerMain zoo.cfg``) with
    its log on, and ``properties`` as ``-D`` system properties."""

    def __init__(
        self,
        home: Path,
        sid: int,
        members: Mapping[int, tuple[int, int]],
        port: int,
        settings: Mapping[str, str],
        properties: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(home, sid, members, port, stock=True, settings=settings)
        self.properties = dict(properties or {})

    def prepare(self) -> None:
        (self.home / "zoo.cfg").write_text(zoo_cfg(self, self.members, self.settings))
        (self.data_dir / "myid").write_text(f"{self.sid}\n")

    def command(self) -> list[str]:
        return [
            "java",
            "-Xmx256m",
            "-cp",
            APACHE_CLASS_PATH,
            *APACHE_LOGGING,
            *(f"-D{key}={value}" for key, value in self.properties.items()),
            f"-Dzookeeper.log.dir={self.home}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(self.home / "zoo.cfg"),
        ]


class MixedEnsemble(Ensemble):
    """An ensemble whose members are of both kinds; ``kinds`` maps server id to kind."""

    @property
    def kind(self) -> str:
        return "mixed"

    def kind_of(self, sid: int) -> str:
        return self.members[sid].kind

    def sids_of(self, kind: str) -> list[int]:
        return sorted(sid for sid, m in self.members.items() if m.kind == kind)

    def start(self) -> None:
        """A fresh start in which the highest id leads, whatever its kind: it is started
        first and is up (its client port answers ``srvr``) before the others start, so the
        first quorum of votes includes its own, which every other server adopts
        (``totalOrderPredicate``: equal epochs and zxids, the higher id). Started all at
        once, two servers up before the third would elect one of themselves. Returns once
        every member takes sessions; ``NodeError`` (every member stopped) otherwise."""
        highest = max(self.members)
        first = self.members[highest]
        first.launch()
        deadline = time.monotonic() + START_TIMEOUT_S
        while srvr_mode(first.port) is None:
            if not first.running() or time.monotonic() > deadline:
                self.stop()
                raise NodeError(f"server {highest} did not start: see {first.log_path}")
            time.sleep(0.05)
        others = {sid: m for sid, m in self.members.items() if sid != highest}
        with ThreadPoolExecutor(len(others) + 1) as pool:
            futures = {sid: pool.submit(m.start) for sid, m in others.items()}
            futures[highest] = pool.submit(first.wait_started)
            failures = {sid: f.exception() for sid, f in futures.items()}
        failed = {sid: error for sid, error in failures.items() if error is not None}
        if failed:
            self.stop()
            raise NodeError(f"mixed ensemble did not form: {failed}")

    def log_size(self, sid: int) -> int:
        """How many bytes the member's log has now (``log_since`` reads what follows)."""
        try:
            return self.members[sid].log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, sid: int, offset: int) -> str:
        """What the member logged after ``offset`` bytes."""
        with self.members[sid].log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def wipe(self, sid: int) -> None:
        """Empty a stopped member's data directory but for its ``myid`` (it has lost its
        disk and comes back with nothing)."""
        member = self.members[sid]
        assert not member.running(), f"server {sid} is running"
        for path in sorted(member.data_dir.rglob("*"), reverse=True):
            if path.name == "myid" and path.parent == member.data_dir:
                continue
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()

    def mntr(self, sid: int) -> dict[str, str]:
        """``mntr`` of one member as a dict."""
        text = four_letter_word(HOST, self.members[sid].port, "mntr", 2.0)
        pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
        return {key: value for key, value in pairs}

    def divergences(self) -> dict[int, list[str]]:
        """Lines of the members' logs that say an Apache server found its tree differs from
        its leader's, or a zkref server had an internal error."""
        found: dict[int, list[str]] = {}
        for sid, member in self.members.items():
            markers = ("internal error",) if member.kind == ZKREF else APACHE_DIVERGENCE
            lines = [
                line for line in member.log_text().splitlines() if any(m in line for m in markers)
            ]
            if lines:
                found[sid] = lines
        return found

    def apache_own_divergences(self) -> set[int]:
        """Apache members whose every logged digest mismatch is on a txn of an epoch that
        an Apache member led.

        Apache ZooKeeper 3.8.0 diverges on its own after restarts: a follower restarted on
        its data directory and synchronized by an Apache leader logs "Digests are not
        matching" (seen in CI in a mixed ensemble, an Apache follower of an Apache leader
        in epoch 4, zkref following; and in the all-Apache nemesis runs, docs/NEMESIS.md).
        That says nothing about zkref; a mismatch in an epoch a zkref server led, or one
        whose epoch is not known, still fails. An Apache leader logs the epoch it starts
        ("setting last processed zxid: 0x<epoch>00000000")."""
        led = {
            int(match.group(1), 16) >> 32
            for member in self.members.values()
            if member.kind == APACHE
            for match in re.finditer(
                r"setting last processed zxid: 0x([0-9a-f]+)", member.log_text()
            )
        }
        own: set[int] = set()
        for sid, member in self.members.items():
            if member.kind != APACHE:
                continue
            zxids = [
                int(match.group(1) or match.group(2))
                for line in member.log_text().splitlines()
                if any(marker in line for marker in APACHE_DIVERGENCE)
                for match in re.finditer(r"Value:(\d+)|txn: -?\d+,-?\d+,(\d+),", line)
            ]
            if zxids and all(zxid >> 32 in led for zxid in zxids):
                own.add(sid)
        return own

    def digest_mismatches(self) -> dict[int, str | None]:
        """Running members whose ``mntr`` counts digest mismatches (each kind compares its
        tree's digest with the one in every proposal from its leader, whatever its kind),
        and what it says."""
        found = {}
        for sid in self.running():
            if self.mode(sid) not in ("leader", "follower"):
                continue  # mntr answers only a server that serves
            count = self.mntr(sid).get("zk_digest_mismatches_count")
            if count != "0":
                found[sid] = count
        return found


def members_of(
    home: Path,
    kinds: str,
    settings: Mapping[str, str] | None = None,
    apache_properties: Mapping[str, str] | None = None,
) -> MixedEnsemble:
    """The (not started) members of a mixed ensemble: ``kinds[i]`` is server i+1's kind,
    ``A`` for Apache ZooKeeper, ``Z`` for zkref; ``settings`` over ``MIXED_SETTINGS`` in
    every zoo.cfg."""
    assert set(kinds) <= set(KINDS), kinds
    client, peers = _ports(len(kinds))
    members: dict[int, ServerNode] = {}
    for sid in peers:
        member_home = home / f"server-{sid}"
        chosen = dict(settings or {})
        if kinds[sid - 1] == "Z":
            members[sid] = MixedZkref(member_home, sid, peers, chosen, client[sid])
        else:
            members[sid] = MixedApache(
                member_home, sid, peers, client[sid], chosen, apache_properties
            )
    return MixedEnsemble(members)


@contextmanager
def mixed_ensemble(
    home: Path,
    kinds: str,
    settings: Mapping[str, str] | None = None,
    apache_properties: Mapping[str, str] | None = None,
) -> Iterator[MixedEnsemble]:
    """A formed mixed ensemble (see the module docstring); skips the test if Apache
    ZooKeeper cannot run here."""
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    ensemble = members_of(home, kinds, settings, apache_properties)
    with ensemble:
        started = time.monotonic()
        try:
            ensemble.start()
        except NodeError as error:
            raise AssertionError(f"{error}\n{ensemble.log_text()}") from None
        ensemble.wait_formed()
        ensemble.formed_in_s = time.monotonic() - started
        yield ensemble
        apache_own = ensemble.apache_own_divergences()
        mismatches = {
            sid: count
            for sid, count in ensemble.digest_mismatches().items()
            if sid not in apache_own
        }
        assert not mismatches, f"digest mismatches (mntr) {mismatches}:\n{ensemble.log_text()}"
    divergences = {sid: v for sid, v in ensemble.divergences().items() if sid not in apache_own}
    assert not divergences, f"divergence in {divergences}:\n{ensemble.log_text()}"
