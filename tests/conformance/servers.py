"""Fixtures' helpers: Apache ZooKeeper and zkref servers started for the suite's tests.

Two configurations of each: for tests (200 ms ticks, TTL nodes on, containers reaped every
second, every four-letter word), and ``stock`` (every setting left at its default, Apache
ZooKeeper's: 3 s ticks, TTL nodes off, containers reaped every minute, only ``srvr``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from conformance.nemesis import HOST, ApacheZooKeeperNode, NodeError, ZkrefNode, free_port


@contextmanager
def apache_zookeeper(home: Path, *, stock: bool = False) -> Iterator[ApacheZooKeeperNode]:
    """A standalone Apache ZooKeeper 3.8 (skips the test if it is not installed)."""
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    node = ApacheZooKeeperNode(home, stock=stock)
    try:
        node.start()
    except NodeError as error:
        pytest.skip(f"Apache ZooKeeper did not start: {error}")
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def zkref(home: Path, *, stock: bool = False) -> Iterator[ZkrefNode]:
    """``python -m server serve``, set up for tests or ``stock``."""
    node = ZkrefNode(home, stock=stock)
    node.start()
    try:
        yield node
    finally:
        node.stop()


class EnsembleMember(ApacheZooKeeperNode):
    """One server of an Apache ZooKeeper ensemble: the standalone zoo.cfg plus the
    ``server.N`` lines of every member and this one's ``myid``."""

    def __init__(self, home: Path, server_id: int, members: dict[int, tuple[int, int]]) -> None:
        super().__init__(home)
        self.server_id = server_id
        self.members = members  # server id -> (quorum port, election port)

    def prepare(self) -> None:
        super().prepare()
        lines = ["initLimit=10", "syncLimit=5"] + [
            f"server.{sid}={HOST}:{quorum}:{election}"
            for sid, (quorum, election) in sorted(self.members.items())
        ]
        with (self.home / "zoo.cfg").open("a") as config:
            config.write("\n".join(lines) + "\n")
        (self.data_dir / "myid").write_text(f"{self.server_id}\n")


@contextmanager
def apache_ensemble(home: Path, size: int = 3) -> Iterator[list[EnsembleMember]]:
    """``size`` separate Apache ZooKeeper 3.8 servers in one ensemble, each on free ports,
    all taking sessions (a quorum formed); stopped by PID at the end. Skips the test if
    Apache ZooKeeper cannot run here or the ensemble does not form."""
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    members = {sid: (free_port(), free_port()) for sid in range(1, size + 1)}
    nodes = [EnsembleMember(home / f"server-{sid}", sid, members) for sid in members]
    with ExitStack() as stack:
        for node in nodes:
            stack.callback(node.stop)
        # Each start waits until its server takes sessions, which needs a quorum: start
        # them together.
        with ThreadPoolExecutor(len(nodes)) as pool:
            failures = [f.exception() for f in [pool.submit(node.start) for node in nodes]]
        if any(failures):
            pytest.skip(f"the Apache ZooKeeper ensemble did not form: {failures}")
        yield nodes
