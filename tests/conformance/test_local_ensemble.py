"""What ``conformance.ensemble`` writes and runs, without starting a process: each kind's
members, a mixed ensemble's zoo.cfg (``zkref.profile=3.8`` in every one, the peers through the
proxies), Apache's log on, and the log lines that count as a divergence in a nemesis run's
verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.ensemble import (
    DIVERGENCE_MARKERS,
    EnsembleSettings,
    LocalEnsemble,
    Member,
    member_kinds,
)


def test_a_mixed_ensemble_puts_zkref_at_the_highest_id() -> None:
    assert member_kinds("mixed", 3) == {1: "apache", 2: "apache", 3: "zkref"}
    assert member_kinds("mixed", 5) == {
        1: "apache",
        2: "apache",
        3: "zkref",
        4: "apache",
        5: "zkref",
    }
    assert set(member_kinds("zkref", 5).values()) == {"zkref"}
    assert set(member_kinds("apache", 3).values()) == {"apache"}


def _member(kind: str, home: Path, extra: tuple[str, ...] = ()) -> Member:
    return Member(
        kind, 2, home, 40002, (40012, 40022), {1: (40101, 40201), 3: (40103, 40203)},
        EnsembleSettings(), extra=extra,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["zkref", "apache"])
def test_a_mixed_member_has_the_profile_line_and_peers_through_the_proxies(
    kind: str, tmp_path: Path
) -> None:
    member = _member(kind, tmp_path, ("zkref.profile=3.8",))
    member.data_dir.mkdir(parents=True)
    member.prepare()
    lines = (tmp_path / "zoo.cfg").read_text().splitlines()
    assert "zkref.profile=3.8" in lines
    assert "server.1=127.0.0.1:40101:40201" in lines  # the proxy 2→1
    assert "server.2=127.0.0.1:40012:40022" in lines  # its own ports
    assert "clientPort=40002" in lines
    assert (member.data_dir / "myid").read_text() == "2\n"


def test_an_unmixed_member_has_no_profile_line(tmp_path: Path) -> None:
    member = _member("zkref", tmp_path)
    member.data_dir.mkdir(parents=True)
    member.prepare()
    assert not [
        line for line in (tmp_path / "zoo.cfg").read_text().splitlines() if "zkref." in line
    ]


def test_apache_runs_with_its_log_on(tmp_path: Path) -> None:
    command = _member("apache", tmp_path).command()
    class_path = command[command.index("-cp") + 1]
    assert class_path.startswith("/usr/share/java/slf4j-simple.jar:")
    assert "-Dorg.slf4j.simpleLogger.defaultLogLevel=info" in command


@pytest.mark.parametrize("kind", ["zkref", "apache"])
def test_a_digest_mismatch_in_a_log_is_a_divergence(kind: str, tmp_path: Path) -> None:
    member = _member(kind, tmp_path)
    member.log_path.write_text("started\nfollowing 3\n")
    assert member.divergences() == []
    bad = f"12:00:00.000 [x] ERROR - {DIVERGENCE_MARKERS[kind][0]} at zxid 0x100000005"
    member.log_path.write_text(f"started\n{bad}\nfollowing 3\n")
    assert member.divergences() == [bad]


def test_planted_bugs_need_a_zkref_server_and_mixed_sizes_are_odd(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="planted bugs"):
        LocalEnsemble("apache", 3, tmp_path, plants=("half-is-quorum",))
    LocalEnsemble("mixed", 3, tmp_path, plants=("half-is-quorum",))  # its zkref servers get it
    with pytest.raises(ValueError, match="odd size"):
        LocalEnsemble("mixed", 4, tmp_path)
    with pytest.raises(ValueError, match="kind"):
        LocalEnsemble("etcd", 3, tmp_path)
