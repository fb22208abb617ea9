"""The whole conformance suite (default size), in-process, against Apache ZooKeeper 3.8 and zkref.

Both must pass. The counts (scenarios, model-checker steps) are shown in pytest's summary
(the full reports with ``-s``). Apache ZooKeeper is skipped with its reason when
``/usr/share/zookeeper`` or java is absent.
"""

from __future__ import annotations

from pathlib import Path

from conformance.suite import SuiteOptions, SuiteReport, run_suite
from tests.conformance.servers import apache_zookeeper, zkref

EXAMPLES = 100
DURATION_S = 45.0
SEED = 20261125  # the model checker's: every CI run checks the same steps
# One line per server, shown in the session summary (tests/conformance/conftest.py).
SUMMARY: list[str] = []


def _run(address: str, expected_profile: str, server: str) -> SuiteReport:
    lines: list[str] = []
    report = run_suite(
        SuiteOptions(hosts=(address,), examples=EXAMPLES, duration_s=DURATION_S, seed=SEED),
        lines.append,
    )
    print()
    print(report.render())
    assert report.profile == expected_profile, report.render()
    assert report.passed, report.render()
    counts = report.counts()
    model = report.model
    assert model is not None
    # Examples and seconds say whether the model checker ran its course or its duration
    # ran out (a slow server); its notes say if Hypothesis stopped it early.
    notes = f"; notes: {' | '.join(model.log)}" if model.log else ""
    SUMMARY.append(
        f"conformance suite against {server} at {address} (profile {report.profile}): "
        f"{counts['scenarios']} scenarios ({counts['skipped']} skipped), "
        f"{counts['model_steps']} model-checker steps in {model.examples} examples, "
        f"{model.seconds:.1f} s, passed={report.passed}{notes}"
    )
    assert counts["scenarios"] >= 30 and counts["model_steps"] > 0, counts
    return report


def test_the_suite_passes_against_apache_zookeeper(tmp_path: Path) -> None:
    with apache_zookeeper(tmp_path / "zookeeper") as node:
        _run(node.address, "3.8", "Apache ZooKeeper")


def test_the_suite_passes_against_zkref(tmp_path: Path) -> None:
    with zkref(tmp_path / "zkref") as node:
        _run(node.address, "3.9", "zkref")
