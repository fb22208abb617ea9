"""Fixtures for the interop tests (``tests.support.fixtures``)."""

import pytest

from tests.support.fixtures import zkref_fast_sessions, zkref_process

__all__ = ["zkref_fast_sessions", "zkref_process"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (real JVM or C clients, timing)")
