"""``python -m conformance check``: exit status, readable verdict, JSON verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conformance import replay as replay_module
from conformance.cli import EXIT_ALLOWED, EXIT_BAD_INPUT, EXIT_UNDECIDED, EXIT_VIOLATION, main
from conformance.history import History, HistoryRecorder
from spec import requests as rq
from spec.errors import Code
from tests.conformance.inprocess import InProcessEnsemble
from tests.conformance.scenarios import (
    clients,
    create,
    find_op,
    record,
    stale_sync_then_read,
    with_reply,
    write_then_sync_then_read,
)


async def small(hosts: list[str], recorder: HistoryRecorder, _: InProcessEnsemble) -> None:
    a, b = await clients(hosts, recorder, "a", "b")
    await a.call(create("/x", b"1"))
    await b.call(rq.GetData("/x"))
    await a.close()
    await b.close()


@pytest.fixture(scope="module")
def history() -> History:
    return record(small)


def test_an_allowed_history_exits_0(
    tmp_path: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.jsonl"
    history.dump(path)
    assert main(["check", str(path)]) == EXIT_ALLOWED
    assert "ALLOWED" in capsys.readouterr().out


def test_a_violation_exits_1_and_writes_its_evidence_as_json(
    tmp_path: Path, history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    read = find_op(history, "b", rq.GetData)
    assert read.reply is not None
    forged = with_reply(history, read, rq.Reply(read.reply.zxid, Code.NONODE))
    path, out = tmp_path / "h.jsonl", tmp_path / "verdict.json"
    forged.dump(path)
    assert main(["check", str(path), "--json", str(out)]) == EXIT_VIOLATION
    assert "VIOLATION" in capsys.readouterr().out
    verdict = json.loads(out.read_text())
    assert verdict["status"] == "violation"
    (violation,) = verdict["violations"]
    assert violation["kind"] == "lost-write"
    assert [op["id"] for op in violation["ops"]] == [find_op(history, "a", rq.Create).id, read.id]
    assert all(op["text"].startswith("#") for op in violation["ops"])


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "header", "format": 1}\n{"event": "op", "id": "x"}\n')
    assert main(["check", str(bad)]) == EXIT_BAD_INPUT
    assert "line 2" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.jsonl")]) == EXIT_BAD_INPUT
    with pytest.raises(SystemExit) as exited:
        main(["check", str(bad), "--profile", "2.0"])
    assert exited.value.code == EXIT_BAD_INPUT


def test_an_undecided_history_exits_3(
    tmp_path: Path, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = find_op(history, "a", rq.Create)
    lost = replace(created, reply=None, outcome="unknown", complete_ns=None, recv=None)
    path = tmp_path / "h.jsonl"
    replace(history, ops=[lost if o is created else o for o in history.ops]).dump(path)
    # No search at all (the budget counts only the trials that search): the lost create's
    # effect, seen by a later read, cannot be placed.
    monkeypatch.setattr(replay_module, "TRIALS_MAX", 0)
    monkeypatch.setattr(replay_module, "RUNS_MAX", 1)
    assert main(["check", str(path)]) == EXIT_UNDECIDED


def test_the_module_runs_as_a_command(tmp_path: Path, history: History) -> None:
    path = tmp_path / "h.jsonl"
    history.dump(path)
    done = subprocess.run(
        [sys.executable, "-m", "conformance", "check", str(path), "--mode", "linearizable"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_ALLOWED, done.stdout + done.stderr
    assert "mode linearizable" in done.stdout


def test_the_mode_decides_whether_sync_then_read_may_miss_an_acknowledged_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history, _ = stale_sync_then_read(record(write_then_sync_then_read))
    path = tmp_path / "h.jsonl"
    history.dump(path)
    assert main(["check", str(path)]) == EXIT_ALLOWED  # mode zookeeper: ZOOKEEPER-1675
    assert main(["check", str(path), "--mode", "sync-linearizable"]) == EXIT_VIOLATION
    out = capsys.readouterr().out
    assert "mode sync-linearizable" in out and "violation 1: sync" in out
