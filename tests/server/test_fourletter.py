"""Four-letter words: each one answers in Apache ZooKeeper's format; the whitelist holds."""

from __future__ import annotations

import re
import struct

import pytest

from server.config import FOUR_LETTER_WORDS, ServerConfig
from spec.profiles import V3_8, V3_9, profile_for_version
from tests.support.rawclient import RawClient, connected, four_letter_word
from tests.support.servers import InProcessServer, wait_until


def ask(server: InProcessServer, word: str) -> str:
    return four_letter_word(server.host, server.port, word)


def test_ruok_answers_imok_without_newline(zkref_in_process: InProcessServer) -> None:
    assert ask(zkref_in_process, "ruok") == "imok"


def test_srvr_has_apache_zookeepers_lines_and_a_3_9_version(
    zkref_in_process: InProcessServer,
) -> None:
    text = ask(zkref_in_process, "srvr")
    lines = text.splitlines()
    assert lines[0].startswith("Zookeeper version: 3.9.3-zkref")
    assert profile_for_version(lines[0].removeprefix("Zookeeper version: ")) is V3_9
    assert re.fullmatch(r"Latency min/avg/max: \d+/[\d.]+/\d+", lines[1])
    keys = [line.split(":")[0] for line in lines[2:]]
    assert keys == [
        "Received",
        "Sent",
        "Connections",
        "Outstanding",
        "Zxid",
        "Mode",
        "Node count",
    ]
    assert "Mode: standalone" in lines
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", text, re.M)
    assert text.endswith("\n")


def test_node_count_counts_the_root_twice_as_apache_does(
    zkref_in_process: InProcessServer,
) -> None:
    server = zkref_in_process.server
    assert server is not None
    nodes = zkref_in_process.call(lambda: len(server.core.tree.nodes))
    assert f"Node count: {nodes + 1}\n" in ask(zkref_in_process, "srvr")


def test_stat_lists_the_clients(zkref_in_process: InProcessServer) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.get_data("/")
        port = client.sock.getsockname()[1]
        text = ask(zkref_in_process, "stat")
    assert "Clients:\n" in text
    assert re.search(rf"^ /127\.0\.0\.1:{port}\[1\]\(queued=0,recved=2,sent=2\)$", text, re.M)
    assert "Mode: standalone" in text


def test_cons_shows_each_sessions_details(zkref_in_process: InProcessServer) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.get_data("/zookeeper")
        text = ask(zkref_in_process, "cons")
        session = f"sid=0x{client.session_id:x}"
    line = next(line for line in text.splitlines() if session in line)
    assert ",lop=GETD," in line and ",lcxid=0x1," in line and ",to=" in line
    assert text.endswith("\n\n")


def test_mntr_is_tab_separated_zk_keys(zkref_in_process: InProcessServer) -> None:
    text = ask(zkref_in_process, "mntr")
    values = dict(line.split("\t") for line in text.splitlines())
    for key in (
        "zk_version",
        "zk_server_state",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_avg_latency",
        "zk_min_latency",
        "zk_max_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
    ):
        assert key in values, key
    assert values["zk_server_state"] == "standalone"
    assert values["zk_version"].startswith("3.9.3")
    assert int(values["zk_num_alive_connections"]) >= 1


def test_watch_commands_report_a_watch(zkref_in_process: InProcessServer) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.create("/watched-by-4lw")
        client.get_data("/watched-by-4lw", watch=True)
        session = f"0x{client.session_id:x}"
        wchs = ask(zkref_in_process, "wchs")
        wchc = ask(zkref_in_process, "wchc")
        wchp = ask(zkref_in_process, "wchp")
    assert re.fullmatch(r"\d+ connections watching \d+ paths\nTotal watches:\d+\n", wchs)
    assert f"{session}\n\t/watched-by-4lw\n" in wchc
    assert f"/watched-by-4lw\n\t{session}\n" in wchp


def test_dump_lists_sessions_and_ephemerals(zkref_in_process: InProcessServer) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.create("/ephemeral-in-dump", flags=1)
        text = ask(zkref_in_process, "dump")
        session = f"0x{client.session_id:x}"
    assert text.startswith("SessionTracker dump:\n")
    assert f"{session}:\n\t/ephemeral-in-dump\n" in text
    assert "Connections dump:" in text


def test_a_server_on_the_3_8_profile_reports_a_3_8_version_everywhere() -> None:
    config = ServerConfig(four_letter_whitelist=FOUR_LETTER_WORDS, profile=V3_8)
    with InProcessServer(config) as server:
        version = ask(server, "srvr").splitlines()[0].removeprefix("Zookeeper version: ")
        assert version == "3.8.0-zkref"
        assert profile_for_version(version) is V3_8
        assert ask(server, "stat").startswith("Zookeeper version: 3.8.0-zkref\n")
        assert "zk_version\t3.8.0-zkref" in ask(server, "mntr")
        envi = ask(server, "envi")
        assert "zookeeper.version=3.8.0-zkref\n" in envi and "zkref.profile=3.8\n" in envi


def test_conf_envi_isro_dirs(zkref_in_process: InProcessServer) -> None:
    conf = ask(zkref_in_process, "conf")
    assert f"clientPort={zkref_in_process.port}\n" in conf
    # Apache ZooKeeper's defaults: tickTime 3000, 20 ticks, the JVM's listen backlog.
    assert "tickTime=3000\n" in conf and "maxSessionTimeout=60000\n" in conf
    assert "clientPortListenBacklog=-1\n" in conf
    envi = ask(zkref_in_process, "envi")
    assert envi.startswith("Environment:\nzookeeper.version=3.9.3-zkref\n")
    assert ask(zkref_in_process, "isro") == "rw"
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", ask(zkref_in_process, "dirs"))


def test_stat_resets(zkref_in_process: InProcessServer) -> None:
    assert ask(zkref_in_process, "crst") == "Connection stats reset.\n"
    assert ask(zkref_in_process, "srst") == "Server stats reset.\n"
    assert "Received: 1\n" in ask(zkref_in_process, "srvr")


def test_trace_mask_round_trips(zkref_in_process: InProcessServer) -> None:
    assert ask(zkref_in_process, "gtmk") == "306"
    with RawClient(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(b"stmk" + struct.pack(">q", 0x1F2))
        assert client.read_all_until_closed() == b"498"
    assert ask(zkref_in_process, "gtmk") == "498"


@pytest.mark.parametrize("word", sorted(FOUR_LETTER_WORDS - {"stmk"}))
def test_every_word_answers_and_closes(zkref_in_process: InProcessServer, word: str) -> None:
    text = ask(zkref_in_process, word)
    assert text
    assert "not executed" not in text
    server = zkref_in_process.server
    assert server is not None and server.internal_errors == 0


def test_a_word_split_over_two_packets_is_still_a_word(
    zkref_in_process: InProcessServer,
) -> None:
    server = zkref_in_process
    with RawClient(server.host, server.port) as client:
        client.send_bytes(b"ru")
        # The situation: the server has read the first half alone and holds it.
        wait_until(lambda: getattr(server.connection_of(client.sock), "prefix", b"") == b"ru")
        client.send_bytes(b"ok")
        assert client.read_all_until_closed() == b"imok"


def test_the_default_whitelist_enables_only_srvr() -> None:
    with InProcessServer(ServerConfig()) as server:
        for word in ("ruok", "stat", "mntr", "cons", "envi"):
            assert ask(server, word) == (
                f"{word} is not executed because it is not in the whitelist.\n"
            )
        assert ask(server, "srvr").startswith("Zookeeper version: ")


def test_a_whitelist_enables_exactly_its_words() -> None:
    config = ServerConfig(four_letter_whitelist=frozenset({"ruok", "srvr"}))
    with InProcessServer(config) as server:
        assert ask(server, "ruok") == "imok"
        assert ask(server, "mntr").endswith("not in the whitelist.\n")


def test_an_unknown_word_is_read_as_a_frame_length_and_closed(
    zkref_in_process: InProcessServer,
) -> None:
    assert ask(zkref_in_process, "xxxx") == ""


def test_a_word_after_the_handshake_is_just_a_bad_frame(
    zkref_in_process: InProcessServer,
) -> None:
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        client.send_bytes(b"ruok")
        assert client.read_all_until_closed() == b""
    wait_until(lambda: ask(zkref_in_process, "ruok") == "imok")


def test_counters_count_requests(zkref_in_process: InProcessServer) -> None:
    ask(zkref_in_process, "srst")
    with connected(zkref_in_process.host, zkref_in_process.port) as client:
        for _ in range(5):
            client.get_data("/")
        text = ask(zkref_in_process, "srvr")
    # received: the handshake, five requests and this srvr; sent: the srst answer, the
    # handshake and five replies
    assert "Received: 7\n" in text
    assert "Sent: 7\n" in text
