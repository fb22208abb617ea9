"""Fixtures for the benchmark tests: zkref servers started as processes, stopped by PID.

The fan-out workload opens 100 watcher sessions from 127.0.0.1, more than the default
``maxClientCnxns`` (60 per client IP), so these servers run with ``--max-client-cnxns 0``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import ServerProcess

UNLIMITED_CONNECTIONS = ("--max-client-cnxns", "0")


@pytest.fixture(scope="session")
def zkref_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two zkref servers (``python -m server serve``) on free ports of 127.0.0.1."""
    first = ServerProcess(tmp_path_factory.mktemp("bench-a"), UNLIMITED_CONNECTIONS)
    second = ServerProcess(tmp_path_factory.mktemp("bench-b"), UNLIMITED_CONNECTIONS)
    with first, second:
        yield [first, second]
