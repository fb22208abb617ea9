"""Fixtures for the interop tests: zkref processes (``tests.support.fixtures``) and kazoo."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.support.fixtures import zkref_fast_sessions, zkref_process
from tests.support.servers import ServerProcess

__all__ = ["kazoo_factory", "root_path", "zk", "zkref_fast_sessions", "zkref_process"]

KAZOO_START_TIMEOUT_S = 10.0

KazooFactory = Callable[..., Any]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (real JVM or C clients, timing)")


@pytest.fixture
def kazoo_factory(zkref_process: ServerProcess) -> Iterator[KazooFactory]:
    """Make started kazoo clients of the module's zkref; all are stopped at teardown."""
    clients: list[Any] = []

    def make(hosts: str | None = None, **kwargs: Any) -> Any:
        client = KazooClient(hosts=hosts or zkref_process.address, **kwargs)
        clients.append(client)
        client.start(timeout=KAZOO_START_TIMEOUT_S)
        return client

    yield make
    for client in clients:
        try:
            client.stop()
        finally:
            client.close()


@pytest.fixture
def zk(kazoo_factory: KazooFactory) -> Any:
    """One started kazoo client."""
    return kazoo_factory()


@pytest.fixture
def root_path(request: pytest.FixtureRequest) -> str:
    """A znode path of this test's own, so tests sharing a server do not collide."""
    return "/" + re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)
