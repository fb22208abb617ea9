"""An ensemble's four-letter words, against what a real Apache ZooKeeper 3.8 ensemble printed.

``data/apache_ensemble_fourletter.json`` was recorded from three Apache servers by
``tests/server/capture_fourletter_ensemble.py``; the fixture here does the same with three
zkref servers in this process (``InProcessServer``s with the ``server.N`` lines, free ports,
the same tickTime): a session at a follower with a watched znode and an ephemeral, every word
asked of the leader, that follower and the other follower, then two servers stopped and every
word asked of the last one, which no longer serves. The tests compare the two by role, with
what differs by nature (ports, directories, session ids, timings) normalized away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.nemesis import free_port
from server.config import FOUR_LETTER_WORDS, QuorumServer, ServerConfig
from server.fourletter import NOT_SERVING, NOT_SERVING_WORDS
from tests.server.capture_fourletter_ensemble import RECORDING_PATH, WORDS
from tests.support.rawclient import connected, four_letter_word
from tests.support.servers import HOST, InProcessServer, wait_until

TICK_TIME_MS = 200  # as the recording's servers (tests.conformance.servers)
FORM_TIMEOUT_S = 20.0
ROLES = ("leader", "follower_with_session", "follower")
QUORUM_KEYS = ("zk_peer_state", "zk_quorum_size")
LEADER_KEYS = (
    "zk_learners",
    "zk_synced_followers",
    "zk_synced_non_voting_followers",
    "zk_synced_observers",
    "zk_pending_syncs",
    "zk_leader_uptime",
    "zk_last_proposal_size",
    "zk_min_proposal_size",
    "zk_max_proposal_size",
)
# What zkref's mntr prints that Apache ZooKeeper's does not (its group commit, its bounds).
ZKREF_ONLY_KEYS = frozenset(
    {
        "zk_txn_log_batches",
        "zk_txn_log_committed",
        "zk_txn_log_queued",
        "zk_throttled",
        "zk_internal_errors",
    }
)


@dataclass(frozen=True)
class Recording:
    """Answers by role (``ROLES`` and ``not_serving``), and each server's ports by id."""

    answers: dict[str, dict[str, str]]
    ports: dict[int, tuple[int, int, int]]  # sid -> (client, quorum, election)
    sid_of: dict[str, int]  # role -> server id


def apache_recording() -> Recording:
    data: dict[str, Any] = json.loads(RECORDING_PATH.read_text())
    servers = data["servers"]
    ports = {
        int(sid): (s["client_port"], s["quorum_port"], s["election_port"])
        for sid, s in servers.items()
    }
    answers = data["answers"]
    sid_of = {role: _sid_answering(answers[role]["conf"]) for role in ROLES}
    return Recording(answers, ports, sid_of)


def _sid_answering(conf: str) -> int:
    match = re.search(r"^serverId=(\d+)$", conf, re.M)
    assert match is not None, conf
    return int(match.group(1))


def _mode(port: int) -> str:
    for line in four_letter_word(HOST, port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line.removeprefix("Mode: ")
    return ""


@pytest.fixture(scope="module")
def zkref_recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    home = tmp_path_factory.mktemp("ensemble")
    members = tuple(QuorumServer(sid, HOST, free_port(), free_port()) for sid in (1, 2, 3))
    servers: dict[int, InProcessServer] = {}
    try:
        for member in members:
            data_dir = home / f"server-{member.sid}"
            data_dir.mkdir()
            (data_dir / "myid").write_text(f"{member.sid}\n")
            config = ServerConfig(
                four_letter_whitelist=FOUR_LETTER_WORDS,
                data_dir=data_dir,
                servers=members,
                my_id=member.sid,
                init_limit=10,
                sync_limit=5,
                tick_time_ms=TICK_TIME_MS,
            )
            servers[member.sid] = InProcessServer(config)
            servers[member.sid].start()
        ports = {sid: s.port for sid, s in servers.items()}
        wait_until(
            lambda: sorted(_mode(p) for p in ports.values()) == ["follower", "follower", "leader"],
            FORM_TIMEOUT_S,
            0.05,
        )
        roles = {sid: _mode(port) for sid, port in ports.items()}
        leader = next(sid for sid, role in roles.items() if role == "leader")
        with_session, follower = sorted(sid for sid in roles if sid != leader)
        sid_of = {"leader": leader, "follower_with_session": with_session, "follower": follower}
        answers: dict[str, dict[str, str]] = {}
        with connected(HOST, ports[with_session]) as client:
            assert client.create("/a", b"x").header.err == 0
            assert client.create("/e", b"", flags=1).header.err == 0
            assert client.get_data("/a", watch=True).header.err == 0
            for role in ROLES:
                port = ports[sid_of[role]]
                answers[role] = {word: four_letter_word(HOST, port, word) for word in WORDS}
        for sid in (leader, with_session):
            servers.pop(sid).stop()
        alone = ports[follower]
        wait_until(
            lambda: four_letter_word(HOST, alone, "srvr").startswith(NOT_SERVING),
            FORM_TIMEOUT_S,
            0.05,
        )
        answers["not_serving"] = {word: four_letter_word(HOST, alone, word) for word in WORDS}
        yield Recording(
            answers,
            {m.sid: (ports[m.sid], m.quorum_port, m.election_port) for m in members},
            sid_of,
        )
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def apache() -> Recording:
    return apache_recording()


def line_keys(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines()]


def values_of(mntr: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in mntr.splitlines())


def normalized_conf(recording: Recording, role: str) -> str:
    """``conf`` with this server's own ports, id and directories, and every member's ports,
    replaced by names."""
    text = "\n" + recording.answers[role]["conf"]
    me = recording.sid_of[role]
    for key in ("dataDir", "dataDirSize", "dataLogDir", "dataLogSize"):
        text = re.sub(rf"^{key}=.*$", f"{key}=<{key}>", text, flags=re.M)
    client, quorum, election = recording.ports[me]
    for key, value, name in (
        ("clientPort", client, "<my client port>"),
        ("quorumPort", quorum, "<my quorum port>"),
        ("electionPort", election, "<my election port>"),
        ("serverId", me, "<my id>"),
    ):
        assert f"\n{key}={value}\n" in text, (key, value, text)
        text = text.replace(f"\n{key}={value}\n", f"\n{key}={name}\n")
    for sid, (_client, quorum, election) in recording.ports.items():
        text = text.replace(
            f":{quorum}:{election}:", f":<quorum port {sid}>:<election port {sid}>:"
        )
    return text


def normalized_sessions(text: str) -> str:
    return re.sub(r"0x[0-9a-f]{9,16}", "<session id>", text)


# --- the ensemble as a whole ---------------------------------------------------------------------


def test_exactly_one_server_says_leader_and_the_others_follower(
    zkref_recording: Recording,
) -> None:
    modes = [
        next(line for line in zkref_recording.answers[role]["srvr"].splitlines() if "Mode" in line)
        for role in ROLES
    ]
    assert modes == ["Mode: leader", "Mode: follower", "Mode: follower"]


# --- srvr and stat -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("word", ["srvr", "stat"])
def test_srvr_and_stat_print_apaches_lines_for_each_role(
    zkref_recording: Recording, apache: Recording, role: str, word: str
) -> None:
    ours = zkref_recording.answers[role][word]
    theirs = apache.answers[role][word]
    assert line_keys(ours)[1:] == line_keys(theirs)[1:]  # past "Zookeeper version: ..."
    for line in ("Outstanding: 0", "Node count: 7", f"Mode: {role.split('_')[0]}"):
        assert line in theirs.splitlines() and line in ours.splitlines()


def test_only_the_leader_prints_its_proposal_sizes(zkref_recording: Recording) -> None:
    sizes = re.compile(r"^Proposal sizes last/min/max: (\d+)/(\d+)/(\d+)$", re.M)
    match = sizes.search(zkref_recording.answers["leader"]["srvr"])
    assert match is not None
    last, smallest, largest = map(int, match.groups())
    assert 0 < smallest <= last <= largest  # three writes were proposed: sizes are known
    assert not sizes.search(zkref_recording.answers["follower"]["srvr"])


# --- mntr ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_mntr_prints_no_key_apache_does_not_for_the_role_but_zkrefs_own(
    zkref_recording: Recording, apache: Recording, role: str
) -> None:
    ours = values_of(zkref_recording.answers[role]["mntr"]).keys()
    theirs = values_of(apache.answers[role]["mntr"]).keys()
    assert ours - theirs == ZKREF_ONLY_KEYS


def test_apache_prints_the_leader_keys_on_its_leader_only(apache: Recording) -> None:
    leader = values_of(apache.answers["leader"]["mntr"])
    follower = values_of(apache.answers["follower"]["mntr"])
    assert set(LEADER_KEYS) <= leader.keys()
    assert not set(LEADER_KEYS) & follower.keys()
    assert set(QUORUM_KEYS) <= leader.keys() & follower.keys()


@pytest.mark.parametrize("role", ROLES)
def test_mntr_says_what_apache_says_of_the_quorum_and_the_tree(
    zkref_recording: Recording, apache: Recording, role: str
) -> None:
    ours = values_of(zkref_recording.answers[role]["mntr"])
    theirs = values_of(apache.answers[role]["mntr"])
    same = ["zk_server_state", *QUORUM_KEYS, "zk_znode_count", "zk_ephemerals_count"]
    same += ["zk_global_sessions", "zk_watch_count", "zk_outstanding_requests"]
    if role == "leader":
        same += [k for k in LEADER_KEYS if "proposal_size" not in k and "uptime" not in k]
    else:
        assert not set(LEADER_KEYS) & ours.keys()
    assert {k: ours[k] for k in same} == {k: theirs[k] for k in same}
    assert int(ours["zk_uptime"]) > 0


def test_the_leaders_mntr_counts_both_followers_synced(zkref_recording: Recording) -> None:
    values = values_of(zkref_recording.answers["leader"]["mntr"])
    assert (values["zk_learners"], values["zk_synced_followers"]) == ("2", "2")
    assert values["zk_peer_state"] == "leading - broadcast"
    assert int(values["zk_leader_uptime"]) > 0
    assert int(values["zk_last_proposal_size"]) > 0


# --- conf, dump and the watch words --------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_conf_is_apaches_with_the_quorum_lines_and_membership(
    zkref_recording: Recording, apache: Recording, role: str
) -> None:
    assert normalized_conf(zkref_recording, role) == normalized_conf(apache, role)


def test_a_followers_dump_lists_the_global_sessions_as_apaches_does(
    zkref_recording: Recording, apache: Recording
) -> None:
    for role in ("follower_with_session", "follower"):
        ours = zkref_recording.answers[role]["dump"].split("Connections dump:")[0]
        theirs = apache.answers[role]["dump"].split("Connections dump:")[0]
        assert normalized_sessions(ours) == normalized_sessions(theirs)
        assert "Global Sessions(1):\n<session id>\t4000ms\n" in normalized_sessions(ours)


def test_the_leaders_dump_prints_its_expiry_buckets(zkref_recording: Recording) -> None:
    dump = zkref_recording.answers["leader"]["dump"]
    assert re.match(r"SessionTracker dump:\nSession Sets \(1\)/\(1\):\n1 expire at ", dump)
    assert "Sessions with Ephemerals (1):\n" in dump


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("word", ["wchs", "wchc", "wchp", "crst", "srst", "ruok", "isro", "gtmk"])
def test_the_watch_words_and_the_rest_answer_as_apaches(
    zkref_recording: Recording, apache: Recording, role: str, word: str
) -> None:
    ours = normalized_sessions(zkref_recording.answers[role][word])
    assert ours == normalized_sessions(apache.answers[role][word])


# --- not serving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", WORDS)
def test_a_server_that_lost_its_quorum_answers_as_apaches_does(
    zkref_recording: Recording, apache: Recording, word: str
) -> None:
    ours = zkref_recording.answers["not_serving"][word]
    assert ours == apache.answers["not_serving"][word]
    if word in NOT_SERVING_WORDS:
        assert ours == NOT_SERVING + "\n"


def test_the_recording_is_of_three_servers_and_every_role(apache: Recording) -> None:
    assert sorted(apache.ports) == [1, 2, 3]
    assert len(set(apache.sid_of.values())) == 3
    assert Path(RECORDING_PATH).is_file()
