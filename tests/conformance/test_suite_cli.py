"""``python -m conformance run``: exit status, report, JSON, teeth, and bounded waits.

Against zkref (``ZkrefNode``): a small run passes and writes its JSON report; the same server
held to the wrong profile (3.8) fails with evidence; a server that accepts connections and
never answers makes a scenario fail within its bounds instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import EXIT_ALLOWED, EXIT_BAD_INPUT, EXIT_VIOLATION, main
from conformance.nemesis import ZkrefNode
from conformance.scenarios import REGISTRY, Target, run_one
from spec.profiles import V3_9
from tests.conformance.servers import zkref


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
