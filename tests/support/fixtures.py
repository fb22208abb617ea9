"""pytest fixtures for tests that need a running zkref server.

Import them into a ``conftest.py`` (``from tests.support.fixtures import zkref_process``).

* ``zkref_process`` — ``python -m server serve`` on 127.0.0.1 and a free port, with a temp
  data directory, every four-letter word and TTL nodes enabled (the interop tests create
  TTL nodes with zkCli.sh and cli_mt; Apache ZooKeeper's default is off); yields the
  ``ServerProcess`` (``.address`` is ``"127.0.0.1:PORT"``), killed by PID at teardown. One
  per test module.
* ``zkref_fast_sessions`` — the same with tickTime 200 ms and session timeouts of 400–1000
  ms, for tests of expiry.
* ``zkref_in_process`` — an ``InProcessServer`` (the server object is ``.zk``). One per
  test module.

Each fails at teardown if the server hit an internal error (an exception in the core),
which the server survives but a test must not.
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


def _assert_no_internal_error(server: ServerProcess) -> None:
    log = server.log_text()
    assert "internal error" not in log, f"zkref hit an internal error:\n{log}"


@pytest.fixture(scope="module")
def zkref_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("zkref"), ("--extended-types-enabled",)) as server:
        yield server
    _assert_no_internal_error(server)


@pytest.fixture(scope="module")
def zkref_fast_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("zkref-fast"), FAST_SESSION_ARGS) as server:
        yield server
    _assert_no_internal_error(server)


@pytest.fixture(scope="module")
def zkref_in_process() -> Iterator[InProcessServer]:
    with InProcessServer() as server:
        yield server
        assert server.zk.internal_errors == 0, "zkref hit an internal error (see the log)"
