"""The whole conformance suite (default size), in-process, against Apache ZooKeeper 3.8 and zkref.

Both must pass. The counts (scenarios, model-checker steps) and the time are printed (run
pytest with ``-s`` to see them). Apache ZooKeeper is skipped with its reason when
``/usr/share/zookeeper`` or java is absent.
"""

from __future__ import annotations

from pathlib import Path

from conformance.suite import SuiteOptions, SuiteReport, run_suite
from tests.conformance.servers import apache_zookeeper, zkref

EXAMPLES = 100
DURATION_S = 45.0


def _run(address: str, expected_profile: str) -> SuiteReport:
    lines: list[str] = []
    report = run_suite(
        SuiteOptions(hosts=(address,), examples=EXAMPLES, duration_s=DURATION_S), lines.append
    )
    print()
    print(report.render())
    assert report.profile == expected_profile, report.render()
    assert report.passed, report.render()
    counts = report.counts()
    assert counts["scenarios"] >= 30 and counts["model_steps"] > 0, counts
    return report


def test_the_suite_passes_against_apache_zookeeper(tmp_path: Path) -> None:
    with apache_zookeeper(tmp_path / "zookeeper") as node:
        _run(node.address, "3.8")


def test_the_suite_passes_against_zkref(tmp_path: Path) -> None:
    with zkref(tmp_path / "zkref") as node:
        _run(node.address, "3.9")
