"""``zkref conformance --hosts a,b,c`` passes against a three-server zkref ensemble, as it
does against a three-server Apache ZooKeeper 3.8 ensemble, both with stock settings.

Each server of both ensembles has its own dataDir and myid, clientPortAddress=127.0.0.1,
initLimit=10, syncLimit=5 (an ensemble must set them) and every other setting at its default
(tickTime 3000, TTL nodes off, containers reaped every minute, only ``srvr``); Apache's also
has admin.enableServer=false (its AdminServer would take port 8080). The command runs as a
user runs it, with the stock configuration's seed, examples and duration of
tests/conformance/test_suite.py; its JSON report is checked as that test checks the stock
standalone runs, and the counts are shown in pytest's summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conformance.test_suite import (
    CONTAINER_REAPING,
    NO_TTL_SCENARIO,
    SEED,
    STOCK_DURATION_S,
    STOCK_EXAMPLES,
    SUMMARY,
    TTL_SCENARIOS,
)
from tests.support.ensemble import Ensemble, apache_ensemble, zkref_ensemble
from tests.support.servers import REPO_ROOT

# What an ensemble's zoo.cfg must set (Apache ZooKeeper has no default for either).
ENSEMBLE_LIMITS = {"initLimit": "10", "syncLimit": "5"}
SUITE_TIMEOUT_S = 300


def _conformance(ensemble: Ensemble, profile: str, server: str, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "conformance",
            "--hosts",
            ensemble.connect_string,
            "--seed",
            str(SEED),
            "--examples",
            str(STOCK_EXAMPLES),
            "--duration",
            str(STOCK_DURATION_S),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=SUITE_TIMEOUT_S,
    )
    seconds = time.monotonic() - started
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] and report["profile"] == profile, result.stdout
    assert report["hosts"] == ensemble.addresses
    counts = report["counts"]
    assert counts["passed"] >= 30 and counts["model_steps"] > 0, counts
    status = {f"{s['chapter']}/{s['name']}": s["status"] for s in report["scenarios"]}
    assert {status[name] for name in TTL_SCENARIOS} == {"not_enabled"}, status
    assert status[CONTAINER_REAPING] == "not_checked", status
    assert status[NO_TTL_SCENARIO] == "passed", status
    model = report["model"]
    SUMMARY.append(
        f"zkref conformance --hosts against a three-server {server} ensemble (stock) "
        f"(profile {profile}): {counts['scenarios']} scenarios ({counts['passed']} passed, "
        f"{counts['skipped']} skipped, {counts['not_enabled']} not enabled, "
        f"{counts['not_checked']} not checked), {counts['model_steps']} model-checker steps "
        f"in {model['examples']} examples, {seconds:.1f} s, passed={report['passed']}"
    )


def test_zkref_conformance_passes_against_a_three_server_zkref_ensemble(tmp_path: Path) -> None:
    with zkref_ensemble(tmp_path / "zkref", 3, ENSEMBLE_LIMITS, base={}) as ensemble:
        _conformance(ensemble, "3.9", "zkref", tmp_path)


def test_zkref_conformance_passes_against_a_three_server_apache_zookeeper_ensemble(
    tmp_path: Path,
) -> None:
    with apache_ensemble(tmp_path / "apache", 3, stock=True) as ensemble:
        _conformance(ensemble, "3.8", "Apache ZooKeeper", tmp_path)
