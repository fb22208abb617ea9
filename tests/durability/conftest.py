"""Show the crash test's tally in every run's summary (CI logs must carry it)."""

from __future__ import annotations

from _pytest.terminal import TerminalReporter

from tests.durability.test_crash import TALLY


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if TALLY:
        terminalreporter.write_line(TALLY[-1])
