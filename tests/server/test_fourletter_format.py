"""The four-letter words as a pure formatter: each word's text from a hand-built status.

No server runs here: ``server.fourletter`` reads a ``server.status.ServerStatus`` and
nothing else, so every format rule (Apache ZooKeeper 3.8's ``command`` classes) is pinned
down from values a test chooses, and ``answer``'s rules (whitelist, not serving, the three
words that change something) are checked against a fake server that records what it was
asked.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from server import fourletter
from server.fourletter import COMMANDS, NOT_SERVING, NOT_SERVING_WORDS, answer
from server.status import (
    ConfigStatus,
    ConnectionStatus,
    Counters,
    Detail,
    LeaderStatus,
    MonitorStatus,
    QuorumStatus,
    ServerStatus,
    SessionsStatus,
    SessionStatus,
    WatchesStatus,
    WatchSummary,
)
from spec.opcodes import OpCode

ALL_WORDS = frozenset(COMMANDS) | {"stmk"}
MEMBERSHIP = (
    "server.1=127.0.0.1:2888:3888:participant\n"
    "server.2=127.0.0.1:2889:3889:participant\n"
    "server.3=127.0.0.1:2890:3890:participant\n"
    "version=0"
)
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

SESSIONS = SessionsStatus(
    decides_expiry=True,
    sessions=(SessionStatus(0x200, 4000, 6000), SessionStatus(0x100, 4000, 6000)),
    ephemerals=((0x100, ("/e",)),),
)
STANDALONE = ServerStatus(
    version="3.8.0-zkref",
    profile="3.8",
    four_letter_whitelist=ALL_WORDS,
    serving=True,
    mode="standalone",
    zxid=0x1_0000_0009,
    node_count=7,
    outstanding=2,
    connection_count=1,
    counters=Counters(4, 3, 1, 2.5, 9),
    uptime_ms=1234,
    rejected_connections=0,
    throttled=False,
    internal_errors=0,
    trace_mask=306,
    config=ConfigStatus(2181, "/var/zk", 3000, 60, 6000, 60000, -1, 0),
    quorum=None,
    connections=(
        ConnectionStatus(
            address="/127.0.0.1:50000",
            asking=False,
            reading_paused=False,
            received=4,
            sent=4,
            session_id=-0x7FFF_FFFF_FFFF_FFFF,  # negative: printed as Long.toHexString does
            session_timeout_ms=4000,
            last_cxid=3,
            last_opcode=OpCode.getData,
            established_ms=1000,
            last_zxid=0x1_0000_0009,
            last_response_ms=2000,
            last_latency_ms=2,
            latency_min_ms=0,
            latency_avg_ms=20,
            latency_max_ms=44,
        ),
        ConnectionStatus(
            "/127.0.0.1:50001", True, False, 1, 0, 0, 0, None, None, 1500, -1, 0, 0, 0, 0, 0
        ),
    ),
    sessions=SESSIONS,
    watches=WatchesStatus(
        data=WatchSummary(1, 1, 1),
        child=WatchSummary(1, 2, 2),
        by_path=(("/a", (0x100,)), ("/b", (0x100, 0x200))),
    ),
    monitor=MonitorStatus(1, 2, 3, 187, 50, 1024, 5, 9, 0),
    data_dir_size=4096,
    environment=(("zookeeper.version", "3.8.0-zkref"), ("python.version", "3.11.7")),
)
QUORUM = QuorumStatus(
    server_id=2,
    peer_state="following - broadcast",
    quorum_size=3,
    init_limit=10,
    sync_limit=5,
    election_algorithm=3,
    election_port=3889,
    quorum_port=2889,
    peer_type=0,
    membership=MEMBERSHIP,
    leader=None,
)
FOLLOWER = replace(
    STANDALONE,
    mode="follower",
    quorum=QUORUM,
    config=replace(STANDALONE.config, server_id=2),
    sessions=replace(SESSIONS, decides_expiry=False),
)
LEADER = replace(
    FOLLOWER,
    mode="leader",
    quorum=replace(
        QUORUM,
        peer_state="leading - broadcast",
        leader=LeaderStatus(2, 2, 0, 0, 1, 856, 86, 48, 87),
    ),
)


def mntr_values(status: ServerStatus) -> dict[str, str]:
    return dict(line.split("\t") for line in fourletter.mntr(status).splitlines())


# --- the formats -------------------------------------------------------------------------------


def test_srvr_of_a_standalone_server_is_apaches_server_stats_and_node_count() -> None:
    assert fourletter.srvr(STANDALONE) == (
        "Zookeeper version: 3.8.0-zkref\n"
        "Latency min/avg/max: 1/2.5/9\n"
        "Received: 4\n"
        "Sent: 3\n"
        "Connections: 1\n"
        "Outstanding: 2\n"
        "Zxid: 0x100000009\n"
        "Mode: standalone\n"
        "Node count: 7\n"
    )


def test_srvr_of_a_leader_adds_its_proposal_sizes_and_a_follower_does_not() -> None:
    assert fourletter.srvr(LEADER).endswith(
        "Mode: leader\nNode count: 7\nProposal sizes last/min/max: 86/48/87\n"
    )
    assert fourletter.srvr(FOLLOWER).endswith("Mode: follower\nNode count: 7\n")


def test_stat_lists_each_client_briefly_the_asking_one_not_interested() -> None:
    text = fourletter.stat(STANDALONE)
    assert text.startswith(
        "Zookeeper version: 3.8.0-zkref\nClients:\n"
        " /127.0.0.1:50000[1](queued=0,recved=4,sent=4)\n"
        " /127.0.0.1:50001[0](queued=0,recved=1,sent=0)\n\n"
        "Latency min/avg/max: "
    )


def test_cons_prints_a_sessions_details_and_a_negative_id_unsigned() -> None:
    assert fourletter.cons(STANDALONE) == (
        " /127.0.0.1:50000[1](queued=0,recved=4,sent=4,sid=0x8000000000000001,lop=GETD,"
        "est=1000,to=4000,lcxid=0x3,lzxid=0x100000009,lresp=2000,llat=2,minlat=0,avglat=20,"
        "maxlat=44)\n"
        " /127.0.0.1:50001[0](queued=0,recved=1,sent=0)\n\n"
    )


def test_conf_of_an_ensembles_server_adds_the_quorum_lines_and_membership() -> None:
    assert fourletter.conf(FOLLOWER) == (
        "clientPort=2181\n"
        "secureClientPort=-1\n"
        "dataDir=/var/zk\n"
        "dataDirSize=4096\n"
        "dataLogDir=/var/zk\n"
        "dataLogSize=4096\n"
        "tickTime=3000\n"
        "maxClientCnxns=60\n"
        "minSessionTimeout=6000\n"
        "maxSessionTimeout=60000\n"
        "clientPortListenBacklog=-1\n"
        "serverId=2\n"
        "initLimit=10\n"
        "syncLimit=5\n"
        "electionAlg=3\n"
        "electionPort=3889\n"
        "quorumPort=2889\n"
        "peerType=0\n"
        "membership: \n" + MEMBERSHIP  # QuorumVerifier.toString: no newline at the end
    )


def test_conf_of_a_standalone_server_ends_with_server_id_0() -> None:
    assert fourletter.conf(STANDALONE).endswith("clientPortListenBacklog=-1\nserverId=0\n")


def test_mntr_of_a_standalone_server_has_no_quorum_keys() -> None:
    values = mntr_values(STANDALONE)
    assert values["zk_server_state"] == "standalone"
    assert not {"zk_peer_state", "zk_quorum_size", *LEADER_KEYS} & values.keys()


def test_mntr_of_a_follower_adds_its_peer_state_and_quorum_size_only() -> None:
    values = mntr_values(FOLLOWER)
    assert list(values)[:3] == ["zk_version", "zk_server_state", "zk_peer_state"]
    assert values["zk_server_state"] == "follower"
    assert values["zk_peer_state"] == "following - broadcast"
    assert values["zk_quorum_size"] == "3"
    assert not set(LEADER_KEYS) & values.keys()


def test_mntr_of_a_leader_adds_its_learners_syncs_uptime_and_proposal_sizes() -> None:
    values = mntr_values(LEADER)
    assert {key: values[key] for key in LEADER_KEYS} == {
        "zk_learners": "2",
        "zk_synced_followers": "2",
        "zk_synced_non_voting_followers": "0",
        "zk_synced_observers": "0",
        "zk_pending_syncs": "1",
        "zk_leader_uptime": "856",
        "zk_last_proposal_size": "86",
        "zk_min_proposal_size": "48",
        "zk_max_proposal_size": "87",
    }
    assert values["zk_peer_state"] == "leading - broadcast"


def test_mntr_reads_the_monitor_part_of_the_status() -> None:
    values = mntr_values(STANDALONE)
    assert (values["zk_ephemerals_count"], values["zk_global_sessions"]) == ("1", "2")
    assert (values["zk_watch_count"], values["zk_approximate_data_size"]) == ("3", "187")
    assert (values["zk_avg_latency"], values["zk_uptime"]) == ("2.5", "1234")


def test_dump_where_expiry_is_decided_prints_the_expiry_buckets() -> None:
    assert fourletter.dump(STANDALONE).startswith(
        "SessionTracker dump:\n"
        "Session Sets (1)/(2):\n"
        "2 expire at Thu Jan 01 00:00:06 UTC 1970:\n"
        "\t0x100\n"
        "\t0x200\n"
        "ephemeral nodes dump:\n"
        "Sessions with Ephemerals (1):\n"
        "0x100:\n"
        "\t/e\n"
        "Connections dump:\n"
    )


def test_dump_of_a_follower_lists_the_global_sessions_with_their_timeouts() -> None:
    assert fourletter.dump(FOLLOWER).startswith(
        "SessionTracker dump:\nGlobal Sessions(2):\n0x100\t4000ms\n0x200\t4000ms\n"
        "ephemeral nodes dump:\n"
    )


def test_the_watch_words_read_the_watches_by_path() -> None:
    assert fourletter.wchs(STANDALONE) == "2 connections watching 3 paths\nTotal watches:3\n"
    assert fourletter.wchc(STANDALONE) == "0x100\n\t/a\n\t/b\n0x200\n\t/b\n\n"
    assert fourletter.wchp(STANDALONE) == "/a\n\t0x100\n/b\n\t0x100\n\t0x200\n\n"


def test_a_word_given_a_status_without_its_detail_fails_loudly() -> None:
    with pytest.raises(AssertionError, match="mntr"):
        fourletter.mntr(replace(STANDALONE, monitor=None))


# --- answer: the rules around the formats --------------------------------------------------


class FakeServer:
    """``fourletter.Controls`` from a fixed status; records what it is asked."""

    def __init__(self, status: ServerStatus) -> None:
        self._status = status
        self.details: list[Detail] = []
        self.actions: list[str] = []

    def status(self, details: Detail = Detail.NONE) -> ServerStatus:
        self.details.append(details)
        return self._status

    def reset_connection_stats(self) -> None:
        self.actions.append("crst")

    def reset_server_stats(self) -> None:
        self.actions.append("srst")

    def set_trace_mask(self, mask: int) -> None:
        self.actions.append(f"stmk {mask}")


NOT_SERVING_STATUS = replace(FOLLOWER, serving=False, mode="looking")


@pytest.mark.parametrize("word", sorted(NOT_SERVING_WORDS))
def test_a_server_not_serving_answers_apaches_sentence_and_changes_nothing(word: str) -> None:
    server = FakeServer(NOT_SERVING_STATUS)
    assert answer(word, b"", server) == NOT_SERVING + "\n"
    assert server.actions == [] and server.details == [Detail.NONE]


def test_a_server_not_serving_still_answers_ruok_envi_gtmk_stmk_and_isro_null() -> None:
    server = FakeServer(NOT_SERVING_STATUS)
    assert answer("ruok", b"", server) == "imok"
    assert answer("isro", b"", server) == "null"
    assert answer("gtmk", b"", server) == "306"
    assert answer("envi", b"", server).startswith("Environment:\nzookeeper.version=")
    assert answer("stmk", (498).to_bytes(8, "big"), server) == "498"
    assert server.actions == ["stmk 498"]
    assert frozenset(COMMANDS) - {"ruok", "isro", "gtmk", "envi"} == NOT_SERVING_WORDS


@pytest.mark.parametrize("word", sorted(ALL_WORDS))
def test_a_word_off_the_whitelist_is_refused_without_gathering_or_changing(word: str) -> None:
    server = FakeServer(replace(STANDALONE, four_letter_whitelist=frozenset({"srvr"})))
    if word == "srvr":
        return
    assert answer(word, bytes(8), server) == (
        f"{word} is not executed because it is not in the whitelist.\n"
    )
    assert server.actions == [] and server.details == [Detail.NONE]


def test_crst_and_srst_reset_through_the_server_and_say_so() -> None:
    server = FakeServer(STANDALONE)
    assert answer("crst", b"", server) == "Connection stats reset.\n"
    assert answer("srst", b"", server) == "Server stats reset.\n"
    assert server.actions == ["crst", "srst"]


@pytest.mark.parametrize("word", sorted(COMMANDS))
def test_each_word_asks_only_for_the_details_it_prints(word: str) -> None:
    server = FakeServer(STANDALONE)
    answer(word, b"", server)
    expected = COMMANDS[word].details
    assert server.details == ([Detail.NONE, expected] if expected else [Detail.NONE])
    assert COMMANDS["srvr"].details == Detail.NONE  # monitoring's most frequent word is cheap
