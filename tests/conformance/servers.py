"""Fixtures' helpers: Apache ZooKeeper and zkref servers started for the suite's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.nemesis import ApacheZooKeeperNode, NodeError, ZkrefNode


@contextmanager
def apache_zookeeper(home: Path) -> Iterator[ApacheZooKeeperNode]:
    """A standalone Apache ZooKeeper 3.8 (skips the test if it is not installed)."""
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    node = ApacheZooKeeperNode(home)
    try:
        node.start()
    except NodeError as error:
        pytest.skip(f"Apache ZooKeeper did not start: {error}")
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def zkref(home: Path) -> Iterator[ZkrefNode]:
    """``python -m server serve`` with a 1 s container check interval and 200 ms ticks."""
    node = ZkrefNode(home)
    node.start()
    try:
        yield node
    finally:
        node.stop()
