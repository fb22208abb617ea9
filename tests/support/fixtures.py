"""pytest fixtures for tests that need a running zkref server.

Import them into a ``conftest.py`` (``from tests.support.fixtures import zkref_process``).

* ``zkref_process`` — ``python -m server serve`` on 127.0.0.1 and a free port, with a temp
  data directory and every four-letter word enabled; yields the ``ServerProcess``
  (``.address`` is ``"127.0.0.1:PORT"``), killed by PID at teardown. One per test module.
* ``zkref_fast_sessions`` — the same with tickTime 200 ms and session timeouts of 400–1000
  ms, for tests of expiry.
* ``zkref_in_process`` — an ``InProcessServer`` (the server object is ``.server``). One per
  test module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import InProcessServer, ServerProcess

FAST_SESSION_ARGS = (
    "--tick-time",
    "200",
    "--min-session-timeout",
    "400",
    "--max-session-timeout",
    "1000",
)


@pytest.fixture(scope="module")
def zkref_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("zkref")) as server:
        yield server


@pytest.fixture(scope="module")
def zkref_fast_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("zkref-fast"), FAST_SESSION_ARGS) as server:
        yield server


@pytest.fixture(scope="module")
def zkref_in_process() -> Iterator[InProcessServer]:
    with InProcessServer() as server:
        yield server
