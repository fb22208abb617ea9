"""Report how many differential steps and fuzzer cases ran, so CI logs show the depth of the
check."""

from __future__ import annotations

from _pytest.terminal import TerminalReporter

from tests.differential.test_frames_against_apache import SUMMARY as FUZZER_SUMMARY
from tests.differential.test_reference_vs_spec import STEPS


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if STEPS:
        ran = ", ".join(f"{steps} steps on profile {name}" for name, steps in sorted(STEPS.items()))
        terminalreporter.write_line(f"reference vs spec: {ran}")
    for line in FUZZER_SUMMARY:
        terminalreporter.write_line(line)
