"""``python -m conformance run``: exit status, report, JSON, teeth, and bounded waits.

Against zkref (``ZkrefNode``): a small run passes and writes its JSON report; the same server
held to the wrong profile (3.8) fails with evidence; a server that accepts connections and
never answers makes a scenario fail within its bounds instead of hanging; a server that
swaps every pair of replies (``ReplySwappingProxy`` in front of zkref) fails the whole suite
at once. The summary line counts every scenario, whatever its status.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import model as model_module
from conformance.checker import check
from conformance.cli import EXIT_ALLOWED, EXIT_BAD_INPUT, EXIT_VIOLATION, main
from conformance.history import History
from conformance.nemesis import ZkrefNode
from conformance.scenarios import REGISTRY, ScenarioResult, Target, run_one
from conformance.scenarios import base as scenarios_module
from conformance.scenarios.base import SCENARIO_TIMEOUT_S, STATUSES, scenario_timeout_s
from conformance.suite import SuiteReport
from conformance.verdict import Verdict
from spec.profiles import V3_9, Profile
from tests.conformance.servers import zkref
from tests.conformance.swapping import ReplySwappingProxy

# The bound on a verdict against a broken server; it comes in seconds.
BROKEN_SERVER_VERDICT_S = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkrefNode]:
    with zkref(tmp_path_factory.mktemp("zkref")) as node:
        yield node


def test_a_run_passes_and_writes_its_report(
    server: ZkrefNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    argv = ["run", "--hosts", server.address, "--examples", "3", "--json", str(report)]
    assert main(argv) == EXIT_ALLOWED
    out = capsys.readouterr()
    assert "PASSED" in out.out and "profile 3.9" in out.out
    assert "passed  tree/" in out.err  # progress while it runs
    data = json.loads(report.read_text())
    assert data["passed"] and data["profile"] == "3.9"
    assert data["counts"]["scenarios"] >= 30 and data["counts"]["model_steps"] > 0
    assert set(data["chapters"]) >= {"paths", "stat", "modes", "acl", "tree", "multi"}


def test_the_mode_is_the_one_every_history_is_checked_in(
    server: ZkrefNode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    modes: list[str] = []

    def spy(history: History, profile: Profile | str | None = None, mode: str = "") -> Verdict:
        modes.append(mode)
        return check(history, profile, mode)

    monkeypatch.setattr(scenarios_module, "check", spy)
    monkeypatch.setattr(model_module, "check", spy)
    report = tmp_path / "report.json"
    argv = ["run", "--hosts", server.address, "--mode", "sync-linearizable", "--chapter", "tree"]
    assert main([*argv, "--examples", "2", "--json", str(report)]) == EXIT_ALLOWED
    assert len(modes) > 5 and set(modes) == {"sync-linearizable"}
    assert "under profile 3.9, mode sync-linearizable" in capsys.readouterr().out
    assert json.loads(report.read_text())["mode"] == "sync-linearizable"


def test_the_wrong_profile_fails_with_evidence(
    server: ZkrefNode, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--hosts", server.address, "--profile", "3.8", "--chapter", "watches"]
    assert main([*argv, "--no-model"]) == EXIT_VIOLATION
    out = capsys.readouterr().out
    assert "FAILED watches/data_watch_fires_once" in out
    assert "-1 expected under profile 3.8" in out


def test_no_server_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["run", "--hosts", f"127.0.0.1:{port}"]) == EXIT_BAD_INPUT
    assert "cannot read the server version" in capsys.readouterr().err


def test_a_silent_server_fails_a_scenario_within_bounds() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts connections (the kernel does), never answers
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        target = Target((host,), V3_9, session_timeout_ms=1000, request_timeout_s=0.5)
        started = time.monotonic()
        result = asyncio.run(run_one(REGISTRY[0], target, 0))
        assert result.status == "failed", result
        assert time.monotonic() - started < 15


@pytest.mark.parametrize("ttl", [None, "on"], ids=["settings-probed", "settings-told"])
def test_a_server_that_swaps_replies_fails_the_suite_within_two_minutes(
    server: ZkrefNode, ttl: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Out-of-order replies are a protocol violation the moment they arrive: the probe of
    the server's settings sees it (settings probed), or the first scenario does (told)."""
    report = tmp_path / "report.json"
    with ReplySwappingProxy("127.0.0.1", server.port) as proxy:
        argv = ["run", "--hosts", proxy.address, "--json", str(report)]
        started = time.monotonic()
        assert main([*argv, *(["--extended-types", ttl] if ttl else [])]) == EXIT_VIOLATION
        seconds = time.monotonic() - started
        assert proxy.swapped > 0
    out = capsys.readouterr().out
    assert seconds < BROKEN_SERVER_VERDICT_S, out
    assert re.search(r"STOPPED: the server broke the wire protocol .*xid out of order", out)
    assert out.rstrip().endswith("FAILED")
    data = json.loads(report.read_text())
    assert not data["passed"] and "xid out of order" in data["stopped"]
    assert data["model"] is None  # the model checker never started
    statuses = {s["status"] for s in data["scenarios"]}
    assert statuses <= {"failed", "not_run"} and "not_run" in statuses


def test_the_summary_counts_every_scenario_whatever_its_status() -> None:
    results = [
        ScenarioResult("c", f"s{i}", "doc", status, 0.0)
        for i, status in enumerate([*STATUSES, "passed", "passed"])
    ]
    report = SuiteReport(("h:1",), "3.8", "3.8.0", results)
    summary = report.render().splitlines()[-1]
    total = len(results)
    assert summary.startswith(f"{total} scenarios (3 passed, 1 failed, 1 skipped, ")
    inside = summary[summary.index("(") + 1 : summary.index(")")]
    assert sum(int(part.split()[0]) for part in inside.split(", ")) == total
    assert report.counts()["scenarios"] == total == report.to_json()["counts"]["scenarios"]


def test_a_reaping_scenario_may_run_as_long_as_the_reaping_it_waits_for() -> None:
    reaping = next(s for s in REGISTRY if s.name == "an_emptied_container_is_reaped")
    other = next(s for s in REGISTRY if s.chapter == "tree")
    stock = Target(("h:1",), V3_9, reap_wait_max_s=65)  # told to wait for a 60 s interval
    assert stock.unmet(reaping.needs) is None
    assert scenario_timeout_s(reaping, stock) > stock.reap_wait_s >= 60
    assert scenario_timeout_s(other, stock) == SCENARIO_TIMEOUT_S
    unmet = Target(("h:1",), V3_9).unmet(reaping.needs)
    assert unmet is not None and unmet[0] == "not_checked" and "--reap-wait 65" in unmet[1]
