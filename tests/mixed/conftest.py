"""Fixtures for the mixed-ensemble tests: the two mixes, and kazoo clients.

``mix`` is a module-scoped ensemble, once per mix: ``AAZ`` (Apache ZooKeeper servers 1 and
2, zkref server 3: on a fresh start zkref, having the highest id, leads) and ``ZAA`` (zkref
server 1, Apache servers 2 and 3: zkref follows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.mixed.ensemble import MixedEnsemble, mixed_ensemble

KAZOO_START_TIMEOUT_S = 15.0
MIXES = {
    "AAZ": "Apache ZooKeeper 1, 2 + zkref 3",
    "ZAA": "zkref 1 + Apache ZooKeeper 2, 3",
}


@pytest.fixture(scope="module", params=sorted(MIXES))
def mix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MixedEnsemble]:
    kinds: str = request.param
    with mixed_ensemble(tmp_path_factory.mktemp(f"mixed-{kinds}"), kinds) as ensemble:
        yield ensemble


KazooFactory = Callable[..., Any]


@pytest.fixture
def kazoo_factory() -> Iterator[KazooFactory]:
    """Started kazoo clients (``make(hosts, **kwargs)``); all stopped at teardown."""
    clients: list[Any] = []

    def make(hosts: str, **kwargs: Any) -> Any:
        client = KazooClient(hosts=hosts, **kwargs)
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
def root_path(request: pytest.FixtureRequest) -> str:
    """A znode path of this test's own, so tests sharing an ensemble do not collide."""
    return "/" + re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)
