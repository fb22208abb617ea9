"""A zoo.cfg that describes an ensemble is refused at start, naming its server.N lines.

zkref runs standalone servers only: three servers started from one ensemble's zoo.cfg would be
three independent servers, each accepting writes (a split brain). What counts as an ensemble
is Apache ZooKeeper's rule (``QuorumPeerConfig.isDistributed``): two or more participants, or
one with standaloneEnabled=false. One participant alone runs standalone there, and here.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, parse_zoo_cfg
from tests.support.servers import REPO_ROOT

BASE = "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\n"  # lines 1-3


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_zoo_cfg(text)
    return str(raised.value)


def test_three_servers_are_refused_naming_every_server_line() -> None:
    message = refusal(
        BASE + "server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888\n"
        "initLimit=5\nserver.3=10.0.0.3:2888:3888;2181\n"
    )
    assert "line 4: server.1=10.0.0.1:2888:3888" in message
    assert "line 5: server.2=10.0.0.2:2888:3888" in message
    assert "line 7: server.3=10.0.0.3:2888:3888;2181" in message
    assert "ensemble of 3 servers" in message and "split brain" in message
    assert "remove the server.N lines" in message


def test_two_servers_are_refused_even_with_standalone_enabled() -> None:
    message = refusal(BASE + "standaloneEnabled=true\nserver.1=a:2888:3888\nserver.2=b:2888:3888\n")
    assert "ensemble of 2 servers" in message
    assert "line 5: server.1" in message and "line 6: server.2" in message


def test_one_server_line_runs_standalone_with_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg(BASE + "server.1=127.0.0.1:2888:3888\n")
    assert config.port == 2181
    assert "line 4: server.1=127.0.0.1:2888:3888 is the only server" in caplog.text
    assert "standalone" in caplog.text


def test_one_server_line_with_standalone_disabled_is_a_one_server_ensemble() -> None:
    message = refusal(BASE + "standaloneEnabled=false\nserver.1=127.0.0.1:2888:3888\n")
    assert "line 4: standaloneEnabled=false" in message
    assert "line 5: server.1=127.0.0.1:2888:3888" in message
    assert "one-server ensemble" in message


def test_standalone_disabled_without_servers_is_refused_as_apache_refuses_it() -> None:
    message = refusal(BASE + "standaloneEnabled=false\n")
    assert "line 4: standaloneEnabled=false" in message and "no server.N line" in message


@pytest.mark.parametrize(
    "observer",
    [
        "server.2=b:2888:3888:observer",
        "server.2=b:2888:3888:OBSERVER;2181",
        "server.2=[::1]:2888:3888:observer;127.0.0.1:2181",
        "server.2=b:2888:3888:observer|c:2888:3888:observer",
    ],
)
def test_observers_without_an_ensemble_are_refused(observer: str) -> None:
    message = refusal(BASE + "server.1=a:2888:3888\n" + observer + "\n")
    assert "observers without an ensemble" in message
    assert f"line 5: {observer}" in message


@pytest.mark.parametrize(
    "participant",
    ["b:2888:3888", "b:2888:3888:participant", "[::1]:2888:3888;2181", "b:1:2|c:1:2"],
)
def test_a_second_participant_in_any_spelling_makes_an_ensemble(participant: str) -> None:
    message = refusal(BASE + "server.1=a:2888:3888\nserver.2=" + participant + "\n")
    assert "ensemble of 2 servers" in message


def test_a_dynamic_config_file_is_refused() -> None:
    message = refusal(BASE + "dynamicConfigFile=/etc/zookeeper/zoo.cfg.dynamic\n")
    assert "line 4: dynamicConfigFile=/etc/zookeeper/zoo.cfg.dynamic" in message


def test_a_server_line_spelled_as_a_system_property_is_not_a_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Apache turns unknown keys into zookeeper.<key> system properties: not a server line.
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg(
            BASE + "zookeeper.server.1=a:2888:3888\nzookeeper.server.2=b:2888:3888\n"
        )
    assert config.unknown_keys == ("zookeeper.server.1", "zookeeper.server.2")


def test_serve_refuses_an_ensemble_zoo_cfg_with_status_2_and_the_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        "clientPort=0\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\n"
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
    assert result.stderr.startswith(f"zkref: configuration error: {cfg}: an ensemble of 3")
    for number in (1, 2, 3):
        assert f"line {number + 1}: server.{number}=127.0.0.{number}:2888:3888" in result.stderr
