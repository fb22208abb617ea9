"""Fixtures for the ensemble tests: a three-server zkref ensemble per module, kazoo clients
through its connect string."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.support.ensemble import Ensemble, zkref_ensemble

KAZOO_START_TIMEOUT_S = 15.0
# What the three-server zkref ensemble's zoo.cfg holds besides the standard lines: TTL nodes
# (zkCli.sh and Curator create them) and every four-letter word.
TEST_SETTINGS = {"extendedTypesEnabled": "true", "4lw.commands.whitelist": "*"}


@pytest.fixture(scope="module")
def zkref_three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ensemble]:
    """Three ``zkref serve --config zoo.cfg`` in one ensemble (tickTime 2000, initLimit 10,
    syncLimit 5), formed."""
    with zkref_ensemble(tmp_path_factory.mktemp("zkref-three"), 3, TEST_SETTINGS) as ensemble:
        yield ensemble


@pytest.fixture
def kazoo_factory(zkref_three: Ensemble) -> Iterator[Any]:
    """Started kazoo clients, by default through the ensemble's whole connect string; all are
    stopped at teardown. (The fixture tests/interop's recipe tests take.)"""
    clients: list[Any] = []

    def make(hosts: str | None = None, **kwargs: Any) -> Any:
        client = KazooClient(hosts=hosts or zkref_three.connect_string, **kwargs)
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
