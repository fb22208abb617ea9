"""Show the conformance suite's counts per server in every run's summary (CI logs)."""

from __future__ import annotations

from _pytest.terminal import TerminalReporter

from tests.conformance.test_suite import SUMMARY


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    for line in SUMMARY:
        terminalreporter.write_line(line)
