"""Fixtures for the server tests (``tests.support.fixtures``)."""

import pytest

from tests.support.fixtures import zkref_in_process, zkref_process

__all__ = ["zkref_in_process", "zkref_process"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds (real JVM or C clients, timing)")
