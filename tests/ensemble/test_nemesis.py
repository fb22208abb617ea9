"""Real ensembles under fire: ``zkref conformance --ensemble KIND --nemesis ...`` end to end.

* Two minutes against three zkref servers and against three Apache ZooKeeper 3.8 servers,
  with kill -9, pause and partition faults (seed ``CI_SEED``: ten faults of all three kinds,
  the leader among the victims): the verdict is valid, no acknowledged write is lost, and the
  figures are shown in pytest's summary.
* Teeth: five zkref servers with a planted bug (``--plant half-is-quorum``: two of five
  counted as a quorum) under partitions (seed ``TEETH_SEED``: a minority cut off from the
  majority for 14 s first) — the run reports acknowledged writes lost and servers that
  disagree, and the checker finds the history impossible.
* The model checker with the nemesis as rules, against zkref and Apache ensembles.
* Stopping: SIGTERM to the command stops every server before it exits; a kill -9 of the
  command leaves none running either (its reaper kills them).

Each run is one command as a user types it, bounded by ``RUN_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.ensemble import LocalEnsemble, apache_missing
from conformance.model import run_model
from conformance.scenarios.base import Target
from spec.profiles import V3_8, V3_9
from tests.conformance.test_suite import SUMMARY
from tests.support.servers import REPO_ROOT

CI_SEED = 10
CI_DURATION_S = 120
TEETH_SEED = 43
TEETH_DURATION_S = 40
RUN_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60


def _skip_without_apache(kind: str) -> None:
    if kind == "apache" and (missing := apache_missing()) is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")


def _conformance(*args: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "server", "conformance", *args, "--json", str(report_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=RUN_TIMEOUT_S,
    )
    print(result.stderr[-3000:])
    print(result.stdout)
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return result, report


def _two_minute_run(kind: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CI run against ``kind``: the report and its figures, once the harness is seen to
    have done its part (every kind of fault, the leader hit, the clients working)."""
    result, report = _conformance(
        "--ensemble",
        kind,
        "--size",
        "3",
        "--nemesis",
        "kill,pause,partition",
        "--duration",
        str(CI_DURATION_S),
        "--seed",
        str(CI_SEED),
        "--keep",
        str(tmp_path / "run"),
        tmp_path=tmp_path,
    )
    assert report is not None, result.stderr[-5000:]
    # 0 valid, 1 a violation, 3 undecided; 2 is the harness failing.
    assert (result.returncode, report["status"]) in {
        (0, "VALID"),
        (1, "INVALID"),
        (3, "UNDECIDED"),
    }, result.stdout
    figures = report["figures"]
    assert set(figures["faults by kind"]) == {"kill", "pause", "partition"}, figures
    assert figures["faults"] == len(report["schedule"]) >= 8
    assert {event["victims"][0] for event in report["events"]} & {
        event["leader"] for event in report["events"]
    }, "the leader was hit at least once"
    assert figures["writes answered"] > 500, figures  # the clients worked throughout
    failover = figures["failover"]
    SUMMARY.append(
        f"nemesis run, three {kind} servers, kill,pause,partition, {CI_DURATION_S} s, seed "
        f"{CI_SEED}: {report['status']}; {figures['operations']} operations "
        f"({figures['writes answered']} writes answered, {figures['unknown outcomes']} "
        f"unknown), {figures['faults']} faults {figures['faults by kind']}, lost "
        f"{figures['acknowledged writes lost']}, failover median {failover.get('median')} s "
        f"max {failover.get('max')} s"
    )
    return report, figures


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_two_minute_run_against_zkref_loses_nothing_and_breaks_no_rule(
    tmp_path: Path,
) -> None:
    """Nothing acknowledged lost, no server disagreeing or logging a divergence, no read
    back in time, no ephemeral outliving its session, and no violation in the history.
    The checker may not decide a whole history (UNDECIDED: its bounded search for where
    writes with lost replies took effect gave up; docs/NEMESIS.md): that is not a pass of
    the history, and this test does not claim one."""
    report, figures = _two_minute_run("zkref", tmp_path)
    assert report["status"] in ("VALID", "UNDECIDED"), report["status"]
    assert report["checker"]["status"] in ("allowed", "undecided")
    assert figures["acknowledged writes lost"] == 0
    assert figures["reads back in time"] == figures["ephemerals outliving their session"] == 0
    assert not report["disagreements"]
    assert figures.get("divergences logged", 0) == 0


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_two_minute_run_against_apache_zookeeper_gets_a_verdict_with_its_evidence(
    tmp_path: Path,
) -> None:
    """The same run against Apache ZooKeeper 3.8.0. Its verdict is reported, not required:
    under these faults Apache 3.8.0 has lost acknowledged writes (67 in one CI run, 30 in a
    ten-minute run, with its own servers logging "Digests are not matching";
    docs/NEMESIS.md). A violation must come with its evidence: writes missing on every
    server, servers that disagree, a read back in time, a divergence in Apache's own log,
    or the history's explanation."""
    _skip_without_apache("apache")
    report, figures = _two_minute_run("apache", tmp_path)
    if report["status"] == "INVALID":
        assert (
            report["lost"]
            or report["disagreements"]
            or report["back_in_time"]
            or figures.get("divergences logged", 0)
            or report["checker"]["status"] == "violation"
        ), report


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_planted_bug_in_zkref_servers_is_reported_as_a_violation(tmp_path: Path) -> None:
    result, report = _conformance(
        "--ensemble",
        "zkref",
        "--size",
        "5",
        "--nemesis",
        "partition",
        "--duration",
        str(TEETH_DURATION_S),
        "--seed",
        str(TEETH_SEED),
        "--plant",
        "half-is-quorum",
        "--liveness-timeout",
        "30",
        tmp_path=tmp_path,
    )
    assert report is not None, result.stderr[-5000:]
    assert result.returncode == 1 and report["status"] == "INVALID", result.stdout
    assert report["plants"] == ["half-is-quorum"]
    assert report["figures"]["acknowledged writes lost"] > 0, result.stdout
    assert report["disagreements"], result.stdout
    assert "LOST acknowledged writes" in result.stdout
    SUMMARY.append(
        f"nemesis run with a planted bug (five zkref servers, half-is-quorum, partitions, "
        f"seed {TEETH_SEED}): {report['status']}, "
        f"{report['figures']['acknowledged writes lost']} acknowledged writes lost, "
        f"{len(report['disagreements'])} disagreements, checker {report['checker']['status']}"
    )


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT_S)
@pytest.mark.parametrize("kind", ["zkref", "apache"])
def test_the_model_checker_interleaves_the_nemesis_with_sessions(kind: str, tmp_path: Path) -> None:
    _skip_without_apache(kind)
    with LocalEnsemble(kind, 3, tmp_path) as ensemble:
        ensemble.start()
        target = Target(
            tuple(ensemble.hosts),
            V3_9 if kind == "zkref" else V3_8,
            session_timeout_ms=8000,
            request_timeout_s=4.0,
        )
        result = run_model(target, 8, 240.0, seed=5, nemesis=ensemble)
    assert result.passed, result.evidence
    done = [
        step
        for step in result.trace
        if step.startswith(("nemesis: kill", "nemesis: pause", "nemesis: partition"))
    ]
    assert result.examples >= 3 and done, result.trace
    assert len(result.trace) - len(done) > result.examples * 10  # the sessions worked too


def _lines(stream: Any) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _pids_once_formed(process: subprocess.Popen[str]) -> list[int]:
    """The servers' PIDs, from the line the command prints once they formed (bounded)."""
    assert process.stderr is not None
    lines = _lines(process.stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, "the command exited before the servers formed"
            continue
        if "; PIDs " in line:
            return [int(item.split(":")[1]) for item in line.split("; PIDs ")[1].split(", ")]
    raise AssertionError("the servers did not form in time")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "conformance",
            "--ensemble",
            "zkref",
            "--duration",
            "300",
            "--keep",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        pids = _pids_once_formed(process)
    except BaseException:
        process.kill()
        process.wait(STOP_TIMEOUT_S)
        raise
    assert len(pids) == 3 and all(_alive(pid) for pid in pids)
    return process, pids


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_stops_every_server_before_the_command_exits(tmp_path: Path) -> None:
    process, pids = _start_long_run(tmp_path)
    process.send_signal(signal.SIGTERM)
    assert process.wait(STOP_TIMEOUT_S) == 130
    assert not [pid for pid in pids if _alive(pid)]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_command_leaves_no_server_running(tmp_path: Path) -> None:
    process, pids = _start_long_run(tmp_path)
    process.kill()
    process.wait(STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while [pid for pid in pids if _alive(pid)]:
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if _alive(p)]}"
        time.sleep(0.1)
