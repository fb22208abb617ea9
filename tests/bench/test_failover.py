"""``python -m bench failover`` against a real three-server zkref ensemble, one round: the
harness starts the ensemble, kills its leader, sees writes resume, restarts the server,
finds every acknowledged write on every server, and leaves no process behind. A smoke test:
how long the failover took is printed, never asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.failover import RoundResult, summarise

pytestmark = pytest.mark.timeout(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_failover_round_against_zkref_resumes_writes_and_keeps_every_acknowledged_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "failover.json"
    status = main(["failover", "--ensemble", "zkref", "--rounds", "1", "--json", str(out)])
    printed = capsys.readouterr()
    assert status == 0, printed.out + printed.err
    document = json.loads(out.read_text())
    (only,) = document["rounds"]
    assert only["ensemble"] == "zkref" and only["problem"] is None
    assert only["failover_s"] is not None and only["failover_s"] > 0
    assert only["new_leader_sid"] not in (None, only["killed_sid"])
    (verification,) = document["verifications"]
    assert verification["acknowledged"] > 0
    assert verification["agree"] is True
    assert set(verification["missing"].values()) == {0}
    assert all(count >= verification["acknowledged"] for count in verification["servers"].values())
    # Three servers, one of them started twice; every one of them stopped.
    pids = document["pids"]["zkref"]
    assert len(pids) == 4
    assert not [pid for pid in pids if _alive(pid)]
    assert "zkref failover s" in printed.out


def _round(ensemble: str, number: int, seconds: float | None) -> RoundResult:
    return RoundResult(ensemble, number, 3, 2, seconds, seconds, 1, 0.5)


def test_the_target_is_zkrefs_worst_round_against_max_of_2_s_and_1_5_apaches_worst() -> None:
    apache = [_round("apache", 1, 1.0), _round("apache", 2, 2.0)]
    met = summarise([_round("zkref", 1, 0.4), _round("zkref", 2, 2.9), *apache], [])
    assert met.worst_s == {"zkref": 2.9, "apache": 2.0}
    assert met.target_s == pytest.approx(3.0) and met.met is True
    missed = summarise([_round("zkref", 1, 3.1), *apache], [])
    assert missed.met is False
    floor = summarise([_round("zkref", 1, 1.9), _round("apache", 1, 0.5)], [])
    assert floor.target_s == 2.0 and floor.met is True
    # A round whose writes never resumed leaves no worst time, and the target unmeasured.
    never = summarise([_round("zkref", 1, 0.3), _round("zkref", 2, None), *apache], [])
    assert never.worst_s["zkref"] is None and never.met is None
