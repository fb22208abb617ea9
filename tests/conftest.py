"""Hypothesis settings profiles: ``ci`` (deterministic, no example database) and ``dev``;
the ``--rewrite`` option of the data-driven transcripts (tests/quorum/test_transcripts.py)."""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="regenerate the expected output of data-driven transcripts (tests/quorum/testdata)",
    )
