"""``python -m bench`` against real zkref processes: every workload runs, results are
well-formed, nothing is left behind (znodes, worker processes). Timings are never asserted:
only that operations happened and the numbers are consistent with each other."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.wire import close_call_session, open_call_session
from bench.workloads import DEFAULT_WORKLOADS
from reference.jute import GetChildrenRequest, GetChildrenResponse
from spec.opcodes import OpCode
from tests.support.servers import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.timeout(60)

QUICK = ["--warmup", "0.1", "--clients", "2", "--processes", "2", "--in-flight", "2", "--quiet"]


def _bench_roots(server: ServerProcess) -> list[str]:
    """The children of / that a benchmark run would have created."""

    async def children() -> tuple[str, ...]:
        session = await open_call_session(server.host, server.port)
        try:
            reply = await session.call(OpCode.getChildren, GetChildrenRequest("/", False))
        finally:
            await close_call_session(session)
        assert isinstance(reply.record, GetChildrenResponse)
        return reply.record.children or ()

    return [name for name in asyncio.run(children()) if name.startswith("zkref-bench-")]


def _check_result(result: dict[str, Any]) -> None:
    """A workload result that ran: operations, ordered percentiles, no problem reported."""
    assert result["problems"] == [], result["problems"]
    assert result["ops"] > 0
    assert result["ops_per_s"] > 0
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p999"] <= latency["max"]
    assert result["errors"] == {}
    assert result["client_cpu_s"] > 0
    assert result["client_cpu_us_per_op"] > 0
    assert result["histogram"]["count"] > 0
    assert result["teardown"]["left"] == 0
    assert result["teardown"]["deleted"] >= 1  # at least the root


def test_run_drives_every_workload_and_cleans_up(
    zkref_pair: list[ServerProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = zkref_pair[0]
    out = tmp_path / "run.json"
    status = main(
        [
            *("run", "--hosts", server.address, "--duration", "0.8", *QUICK),
            *("--json", str(out), "--server-pid", str(server.process.pid if server.process else 0)),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    document = json.loads(out.read_text())
    assert [r["workload"] for r in document["results"]] == list(DEFAULT_WORKLOADS)
    for result in document["results"]:
        _check_result(result)
        assert result["window_s"] == pytest.approx(0.8)
        assert result["server_cpu_us_per_op"] is not None
        assert result["workload"] in printed
    fanout = next(r for r in document["results"] if r["workload"] == "fanout")
    assert fanout["notifications"] >= 100 * fanout["ops"]
    assert _bench_roots(server) == []
    assert multiprocessing.active_children() == []


def test_count_runs_exactly_that_many_operations(
    zkref_pair: list[ServerProcess], tmp_path: Path
) -> None:
    server = zkref_pair[0]
    document_path = tmp_path / "count.json"
    workloads = "create,setData,getData,ephemeral,connect,fanout"
    status = main(
        [
            *("run", "--hosts", server.address, "--count", "30", "--workloads", workloads),
            *(*QUICK, "--watchers", "5", "--json", str(document_path)),
        ]
    )
    assert status == 0
    for result in json.loads(document_path.read_text())["results"]:
        _check_result(result)
        assert result["ops"] == 30
    assert _bench_roots(server) == []


def test_compare_alternates_targets_and_writes_ratios_and_a_chart(
    zkref_pair: list[ServerProcess], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = zkref_pair
    out, plot = tmp_path / "compare.json", tmp_path / "compare.svg"
    status = main(
        [
            *("compare", f"first={a.address}", f"second={b.address}", "--rounds", "2"),
            *("--duration", "0.4", *QUICK, "--json", str(out), "--plot", str(plot)),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    document = json.loads(out.read_text())
    assert document["ratio"] == "second/first (B/A)"
    order = [(r["workload"], r["target"]) for r in document["runs"]]
    expected = [(w, t) for w in DEFAULT_WORKLOADS for t in ("first", "second")]
    expected += [(w, t) for w in DEFAULT_WORKLOADS for t in ("second", "first")]
    assert order == expected
    for run in document["runs"]:
        _check_result(run)
    for summary in document["summary"]:
        ratio = summary["ratio_ops_per_s"]
        rounds = [
            second / first
            for first, second in zip(
                summary["ops_per_s"]["first"]["rounds"],
                summary["ops_per_s"]["second"]["rounds"],
                strict=True,
            )
        ]
        assert ratio["rounds"] == pytest.approx(rounds, rel=1e-3)
        assert ratio["min"] <= ratio["median"] <= ratio["max"]
        assert summary["workload"] in printed
    svg = ElementTree.parse(plot).getroot()
    bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "bar"]
    assert len(bars) == 2 * len(DEFAULT_WORKLOADS)
    assert _bench_roots(a) == [] and _bench_roots(b) == []
    assert multiprocessing.active_children() == []


def test_run_starts_an_ensemble_spreads_its_clients_over_it_and_stops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ensemble.json"
    status = main(
        [
            *("run", "--hosts", "start:zkref:3", "--duration", "0.4", "--clients", "3"),
            *("--workloads", "create,getData", "--warmup", "0.1", "--processes", "1"),
            *("--quiet", "--json", str(out)),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    document = json.loads(out.read_text())
    hosts = document["target"]["hosts"].split(",")
    pids = document["target"]["server_pids"]
    assert len(set(hosts)) == 3 and len(set(pids)) == 3
    for result in document["results"]:
        # getData reads, on every server, the znodes setup created through the first one.
        _check_result(result)
        assert result["server_cpu_us_per_op"] is not None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_unreachable_server_is_reported_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "refused.json"
    status = main(
        [
            *("run", "--hosts", f"127.0.0.1:{port}", "--duration", "0.2"),
            *("--workloads", "getData", *QUICK, "--json", str(out)),
        ]
    )
    assert status == 1
    (result,) = json.loads(out.read_text())["results"]
    assert result["ops"] == 0
    assert "setup failed" in result["problems"][0]
    assert "setup failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--hosts", "127.0.0.1:x"],
        ["run", "--hosts", "127.0.0.1:2181", "--workloads", "nope"],
        ["run", "--hosts", "127.0.0.1:2181", "--clients", "1", "--processes", "2"],
        ["compare", "127.0.0.1:2181", "b=127.0.0.1:2182"],
        ["compare", "a=127.0.0.1:2181", "a=127.0.0.1:2182"],
        ["run", "--hosts", "start:nope"],
        ["run", "--hosts", "start:zkref:x"],
        ["compare", "a=start:zkref:0", "b=start:apache"],
    ],
)
def test_bad_arguments_exit_with_status_2(arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(arguments)
    assert raised.value.code == 2


def test_python_dash_m_bench_prints_its_usage() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0
    assert "--in-flight" in completed.stdout and "fanout" in completed.stdout
