"""An ensemble's zoo.cfg: server.N lines read as Apache ZooKeeper reads them, myid from the
dataDir, and every configuration that cannot make a sound ensemble refused at start with
the lines named.

What counts as an ensemble is Apache ZooKeeper's rule (``QuorumPeerConfig.isDistributed``):
two or more participants, or one with standaloneEnabled=false. One participant alone runs
standalone there, and here.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from server.config import ConfigError, QuorumServer, parse_zoo_cfg, read_zoo_cfg
from tests.support.servers import REPO_ROOT

BASE = "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\ninitLimit=10\nsyncLimit=5\n"  # 1-5
THREE = (
    "server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\n"
    "server.3=10.0.0.3:2888:3888;2181\n"
)  # lines 6-8


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_zoo_cfg(text)
    return str(raised.value)


def test_three_server_lines_make_an_ensemble_with_apaches_fields() -> None:
    config = parse_zoo_cfg(BASE + THREE)
    assert config.is_ensemble
    assert [s.sid for s in config.servers] == [1, 2, 3]
    assert config.servers[2] == QuorumServer(3, "10.0.0.3", 2888, 3888, False, None, 2181, 8)
    assert (config.init_limit, config.sync_limit) == (10, 5)


def test_the_configuration_text_is_what_quorummaj_tostring_prints() -> None:
    config = parse_zoo_cfg(BASE + "server.2=b:1:2\nserver.1=[::1]:3:4:participant;127.0.0.1:2181\n")
    assert config.quorum_config_text() == (
        b"server.1=[::1]:3:4:participant;127.0.0.1:2181\nserver.2=b:1:2:participant\nversion=0"
    )


def test_myid_comes_from_the_data_dir_and_must_be_listed(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(BASE.replace("/tmp/zk", str(tmp_path)) + THREE)
    with pytest.raises(ConfigError, match="myid is missing"):
        read_zoo_cfg(cfg)
    (tmp_path / "myid").write_text("two\n")
    with pytest.raises(ConfigError, match="holds 'two', not a server id"):
        read_zoo_cfg(cfg)
    (tmp_path / "myid").write_text("4\n")
    with pytest.raises(ConfigError, match=r"myid 4 is not one of the server.N lines \(1, 2, 3\)"):
        read_zoo_cfg(cfg).check_ensemble()
    (tmp_path / "myid").write_text("2\n")
    config = read_zoo_cfg(cfg)
    config.check_ensemble()
    assert config.my_id == 2 and config.core_config(1).server_id == 2


@pytest.mark.parametrize("missing", ["initLimit", "syncLimit"])
def test_an_ensemble_needs_init_limit_and_sync_limit_as_apache_does(missing: str) -> None:
    text = "\n".join(line for line in (BASE + THREE).splitlines() if missing not in line)
    config = replace(parse_zoo_cfg(text + "\n"), my_id=1)
    with pytest.raises(ConfigError, match=f"{missing} is not set"):
        config.check_ensemble()


def test_duplicate_ports_and_ids_are_refused_naming_the_line() -> None:
    message = refusal(BASE + "server.1=a:2888:3888\nserver.2=a:2888:3889\n")
    assert "line 7: server.2's quorum port a:2888 is also server.1's quorum port" in message
    assert "given twice" in refusal(BASE + "server.1=a:1:2\nserver.1=b:1:2\n")


def test_an_even_ensemble_starts_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg(BASE + "server.1=a:1:2\nserver.2=b:1:2\n")
    assert len(config.servers) == 2
    assert "use an odd number" in caplog.text


def test_one_server_line_runs_standalone_with_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg(BASE + "server.1=127.0.0.1:2888:3888\n")
    assert not config.is_ensemble and config.port == 2181
    assert "line 6: server.1=127.0.0.1:2888:3888:participant is the only server" in caplog.text


def test_one_server_line_with_standalone_disabled_is_a_one_server_ensemble() -> None:
    config = parse_zoo_cfg(BASE + "standaloneEnabled=false\nserver.1=127.0.0.1:2888:3888\n")
    assert config.is_ensemble and [s.sid for s in config.servers] == [1]


def test_standalone_disabled_without_servers_is_refused_as_apache_refuses_it() -> None:
    message = refusal(BASE + "standaloneEnabled=false\n")
    assert "line 6: standaloneEnabled=false" in message and "no server.N line" in message


@pytest.mark.parametrize(
    "observer",
    [
        "server.2=b:2888:3888:observer",
        "server.2=b:2888:3888:OBSERVER;2181",
        "server.2=[::1]:2888:3888:observer;127.0.0.1:2181",
    ],
)
def test_observers_are_refused(observer: str) -> None:
    message = refusal(BASE + "server.1=a:2888:3888\n" + observer + "\n")
    assert "observers are not supported" in message


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("server.x=a:1:2", "is not a number"),
        ("server.256=a:1:2", "must be 1..255"),
        ("server.2=a:1", "expected host:quorumPort:electionPort"),
        ("server.2=a:1:70000", "not a port number"),
        ("server.2=a:1:2:witness", "neither participant nor observer"),
        ("server.2=a:1:2|b:1:2", "several addresses"),
    ],
)
def test_malformed_server_lines_are_refused_saying_why(line: str, why: str) -> None:
    assert why in refusal(BASE + "server.1=a:5:6\n" + line + "\n")


def test_a_dynamic_config_file_is_refused() -> None:
    message = refusal(BASE + "dynamicConfigFile=/etc/zookeeper/zoo.cfg.dynamic\n")
    assert "line 6: dynamicConfigFile=/etc/zookeeper/zoo.cfg.dynamic" in message


def test_a_server_line_spelled_as_a_system_property_is_not_a_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Apache turns unknown keys into zookeeper.<key> system properties: not a server line.
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg(
            BASE + "zookeeper.server.1=a:2888:3888\nzookeeper.server.2=b:2888:3888\n"
        )
    assert config.unknown_keys == ("zookeeper.server.1", "zookeeper.server.2")
    assert not config.is_ensemble


def test_serve_refuses_an_ensemble_without_myid_with_status_2(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        f"dataDir={tmp_path}\nclientPort=0\ninitLimit=10\nsyncLimit=5\n"
        "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n"
        "server.3=127.0.0.3:2888:3888\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "zkref serving" not in result.stdout
    assert "myid is missing" in result.stderr
