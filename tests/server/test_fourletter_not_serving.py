"""Four-letter words on an ensemble's server that does not serve (no quorum: it looks for a
leader) answer as Apache ZooKeeper's do then: the commands that read the server's state say
it is not serving (``AbstractFourLetterCommand.ZK_NOT_SERVING``), ``isro`` says ``null``,
and ``ruok`` still says ``imok`` (the process is up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import FOUR_LETTER_WORDS, QuorumServer, ServerConfig
from server.ensemble import free_ports
from tests.support.rawclient import four_letter_word
from tests.support.servers import InProcessServer

NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"
# Apache 3.8's commands that check isZKServerRunning (org.apache.zookeeper.server.command).
GATED = [
    "conf",
    "cons",
    "crst",
    "dirs",
    "dump",
    "mntr",
    "srst",
    "srvr",
    "stat",
    "wchc",
    "wchp",
    "wchs",
]


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """Server 1 of a three-server ensemble whose other two never start."""
    data_dir: Path = tmp_path_factory.mktemp("alone")
    (data_dir / "myid").write_text("1\n")
    ports = free_ports(6)
    servers = tuple(
        QuorumServer(sid, "127.0.0.1", ports[2 * sid - 2], ports[2 * sid - 1]) for sid in (1, 2, 3)
    )
    config = ServerConfig(
        data_dir=data_dir,
        four_letter_whitelist=FOUR_LETTER_WORDS,
        servers=servers,
        my_id=1,
        init_limit=10,
        sync_limit=5,
    )
    with InProcessServer(config) as server:
        yield server


@pytest.mark.parametrize("word", GATED)
def test_a_server_without_a_quorum_says_it_is_not_serving(
    alone: InProcessServer, word: str
) -> None:
    assert four_letter_word(alone.host, alone.port, word) == NOT_SERVING


def test_isro_says_null_and_ruok_imok_on_a_server_without_a_quorum(alone: InProcessServer) -> None:
    assert four_letter_word(alone.host, alone.port, "isro") == "null"
    assert four_letter_word(alone.host, alone.port, "ruok") == "imok"
