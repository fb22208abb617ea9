"""The server takes its snapshots a slice at a time, exactly, and survives one that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference.persistence import SnapshotWriter
from server.config import ServerConfig
from server.server import ZooKeeperServer
from tests.support.rawclient import connected
from tests.support.servers import InProcessServer, wait_until

SNAP_COUNT = 40
WAIT_S = 10.0


def _config(data_dir: Path) -> ServerConfig:
    return ServerConfig(data_dir=data_dir, snap_count=SNAP_COUNT)


def _write(server: InProcessServer, count: int, prefix: str) -> None:
    with connected(server.host, server.port) as client:
        for i in range(count):
            assert client.create(f"/{prefix}{i}", b"v").header.err == 0


def test_snapshots_taken_in_slices_recover_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One znode per loop iteration: writes land between the slices of every snapshot.
    monkeypatch.setattr("server.snapshots.SNAPSHOT_NODES_PER_STEP", 1)
    with InProcessServer(_config(tmp_path)) as server:
        _write(server, 3 * SNAP_COUNT, "n")
        snapshots = server.zk.snapshots
        assert snapshots is not None
        wait_until(lambda: snapshots.saved >= 2, WAIT_S, 0.05)
        expected = server.call(lambda: {p: n.stat() for p, n in server.zk.core.tree.nodes.items()})
        assert server.zk.internal_errors == 0
    with InProcessServer(_config(tmp_path)) as again:
        nodes = again.call(lambda: {p: n.stat() for p, n in again.zk.core.tree.nodes.items()})
        assert nodes == expected


def test_a_snapshot_that_fails_is_given_up_and_the_server_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: SnapshotWriter, budget: int) -> bool:
        raise RuntimeError("injected")

    monkeypatch.setattr(SnapshotWriter, "step", broken)
    with InProcessServer(_config(tmp_path)) as server:
        _write(server, SNAP_COUNT + 5, "n")
        zk: ZooKeeperServer = server.zk
        wait_until(lambda: zk.internal_errors >= 1, WAIT_S, 0.05)
        assert server.call(lambda: zk.core.tree.before_change) is None
        _write(server, 5, "after")  # still serving, and writes still durable
        assert zk.snapshots is not None
        assert zk.snapshots.saved == 0
