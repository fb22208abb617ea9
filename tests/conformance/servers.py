"""Fixtures' helpers: Apache ZooKeeper and zkref servers started for the suite's tests.

Two configurations of each: for tests (200 ms ticks, TTL nodes on, containers reaped every
second, every four-letter word), and ``stock`` (every setting left at its default, Apache
ZooKeeper's: 3 s ticks, TTL nodes off, containers reaped every minute, only ``srvr``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.nemesis import ApacheZooKeeperNode, NodeError, ZkrefNode
from tests.support.ensemble import apache_ensemble

__all__ = ["apache_ensemble", "apache_zookeeper", "zkref"]


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
