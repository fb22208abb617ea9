"""zoo.cfg is read as Apache ZooKeeper reads it; flags override it; bad values are refused."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from server.cli import _parser, build_config
from server.config import (
    FOUR_LETTER_WORDS,
    ConfigError,
    ServerConfig,
    parse_four_letter_whitelist,
    parse_properties,
    parse_zoo_cfg,
    read_zoo_cfg,
)
from spec.profiles import V3_8, V3_9
from spec.state import Config

ZOO_CFG = """\
# a typical standalone zoo.cfg
tickTime=200
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2191
clientPortAddress=127.0.0.2
maxClientCnxns=7
minSessionTimeout=400
maxSessionTimeout=9000
4lw.commands.whitelist=ruok, mntr ,stat
jute.maxbuffer=4096
admin.enableServer=false
"""


def test_properties_accept_every_separator_and_comment_style() -> None:
    text = "a=1\nb:2\nc 3\n  d = 4  \n# comment\n! also a comment\n\ne=\n"
    assert [(k, v) for _, k, v in parse_properties(text)] == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
        ("d", "4"),
        ("e", ""),
    ]


def test_properties_join_continued_lines_and_unescape() -> None:
    text = "key=one \\\n    two\nescaped\\=key=x\\ty\nunicode=\\u0041\n"
    entries = {k: v for _, k, v in parse_properties(text)}
    assert entries == {"key": "one two", "escaped=key": "x\ty", "unicode": "A"}


def test_properties_report_line_numbers() -> None:
    lines = [n for n, _, _ in parse_properties("# c\n\na=1\nb=2\n")]
    assert lines == [3, 4]


def test_zoo_cfg_maps_every_supported_key() -> None:
    config = parse_zoo_cfg(ZOO_CFG)
    assert config.tick_time_ms == 200
    assert config.data_dir == Path("/var/lib/zookeeper")
    assert config.port == 2191
    assert config.host == "127.0.0.2"
    assert config.max_client_connections_per_ip == 7
    assert config.min_session_timeout_ms_effective == 400
    assert config.max_session_timeout_ms_effective == 9000
    assert config.four_letter_whitelist == frozenset({"ruok", "mntr", "stat", "srvr"})
    assert config.jute_max_buffer == 4096
    assert config.unknown_keys == ()


def test_zoo_cfg_maps_onto_the_core_config_with_the_3_9_profile() -> None:
    core = parse_zoo_cfg(ZOO_CFG).core_config(start_time_ms=1_700_000_000_000)
    assert core.profile is V3_9
    assert (core.tick_time_ms, core.min_timeout, core.max_timeout) == (200, 400, 9000)
    assert core.jute_max_buffer == 4096
    assert core.start_time_ms == 1_700_000_000_000


def test_a_stock_server_hands_the_core_the_spec_s_own_defaults() -> None:
    """The spec's ``Config()`` and an empty zoo.cfg are one server: the stock one, which
    tests/conformance/test_suite.py holds to a stock Apache ZooKeeper's answers."""
    started = 1_700_000_000_123
    stock = ServerConfig().core_config(start_time_ms=started)
    assert stock == replace(Config(), start_time_ms=started)
    assert parse_zoo_cfg("").core_config(started) == stock


def test_settings_flags_override_zoo_cfg(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("extendedTypesEnabled=false\nznode.container.checkIntervalMs=5000\n")
    args = ["serve", "--config", str(cfg), "--extended-types-enabled"]
    config = build_config(_parser().parse_args([*args, "--container-check-interval", "700"]))
    assert config.extended_types_enabled and config.container_check_interval_ms == 700
    from_file = build_config(_parser().parse_args(["serve", "--config", str(cfg)]))
    assert not from_file.extended_types_enabled
    assert from_file.container_check_interval_ms == 5000


def test_the_profile_is_chosen_by_zoo_cfg_or_flag_and_reaches_the_core(tmp_path: Path) -> None:
    assert parse_zoo_cfg("zkref.profile=3.8\n").core_config(1).profile is V3_8
    assert parse_zoo_cfg("zkref.profile = 3.9\n").profile is V3_9
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("zkref.profile=3.9\n")
    args = _parser().parse_args(["serve", "--config", str(cfg), "--profile", "3.8"])
    assert build_config(args).profile is V3_8


def test_an_unknown_profile_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"zkref.profile='3.7' is not a profile.*3.8, 3.9"):
        parse_zoo_cfg("zkref.profile=3.7\n")


def test_reconfig_enabled_is_read_as_apache_reads_it_and_reaches_the_core() -> None:
    # QuorumPeerConfig.parseProperties: "true"/"false" in any case; false by default.
    assert ServerConfig().core_config(1).reconfig_enabled is False
    assert parse_zoo_cfg("reconfigEnabled=TRUE\n").core_config(1).reconfig_enabled is True
    assert parse_zoo_cfg("zookeeper.reconfigEnabled=true\n").reconfig_enabled is True
    assert parse_zoo_cfg("reconfigEnabled=false\n").core_config(1).reconfig_enabled is False


def test_quorum_sync_is_off_unless_zoo_cfg_says_true_and_reaches_the_core() -> None:
    # zkref's own key (Apache ZooKeeper has none): read like Apache's booleans.
    assert ServerConfig().core_config(1).quorum_sync is False
    assert parse_zoo_cfg("quorumSync=true\n").core_config(1).quorum_sync is True
    assert parse_zoo_cfg("quorumSync=FALSE\n").core_config(1).quorum_sync is False
    with pytest.raises(ConfigError, match="quorumSync='yes' is not true or false"):
        parse_zoo_cfg("quorumSync=yes\n")


def test_session_timeouts_default_to_two_and_twenty_ticks() -> None:
    config = parse_zoo_cfg("tickTime=300\n")
    assert config.min_session_timeout_ms_effective == 600
    assert config.max_session_timeout_ms_effective == 6000


def test_unknown_keys_are_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg("clientPort=2181\nnoSuchKey=1\nzookeeper.alsoUnknown=x\n")
    assert config.unknown_keys == ("noSuchKey", "zookeeper.alsoUnknown")
    assert "noSuchKey" in caplog.text and "line 2" in caplog.text


def test_known_quorum_keys_are_accepted_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="zkref.config"):
        config = parse_zoo_cfg("initLimit=5\nsyncLimit=2\ngroup.1=1\n")
    assert config.unknown_keys == ()
    assert caplog.text == ""


def test_system_property_spellings_are_understood() -> None:
    config = parse_zoo_cfg(
        "zookeeper.4lw.commands.whitelist=*\nzookeeper.extendedTypesEnabled=false\n"
        "znode.container.checkIntervalMs=500\n"
    )
    assert config.four_letter_whitelist == FOUR_LETTER_WORDS
    assert config.extended_types_enabled is False
    assert config.container_check_interval_ms == 500


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clientPort=abc\n", "clientPort='abc' is not an integer"),
        ("clientPort=70000\n", "clientPort=70000"),
        ("tickTime=0\n", "tickTime=0"),
        ("maxClientCnxns=-1\n", "maxClientCnxns=-1"),
        ("minSessionTimeout=5000\nmaxSessionTimeout=4000\n", "must not be larger"),
        ("extendedTypesEnabled=maybe\n", "not true or false"),
        ("reconfigEnabled=yes\n", "reconfigEnabled='yes' is not true or false"),
        ("jute.maxbuffer=0\n", "jute.maxbuffer=0"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_zoo_cfg(text)


def test_whitelist_always_enables_srvr_and_star_enables_everything() -> None:
    assert parse_four_letter_whitelist("") == frozenset({"srvr"})
    assert parse_four_letter_whitelist("ruok") == frozenset({"ruok", "srvr"})
    assert parse_four_letter_whitelist("ruok,*") == FOUR_LETTER_WORDS
    assert parse_four_letter_whitelist(" , bogus, cons") == frozenset({"srvr", "cons"})


def test_default_config_is_standalone_on_loopback_2181() -> None:
    config = ServerConfig()
    assert (config.host, config.port) == ("127.0.0.1", 2181)
    assert config.four_letter_whitelist == frozenset({"srvr"})
    assert config.max_client_connections_per_ip == 60
    assert config.jute_max_buffer == 0xFFFFF


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(ZOO_CFG)
    args = _parser().parse_args(
        ["serve", "--config", str(cfg), "--port", "0", "--tick-time", "100", "--4lw-whitelist", "*"]
    )
    config = build_config(args)
    assert config.port == 0
    assert config.tick_time_ms == 100
    assert config.host == "127.0.0.2"  # from the file
    assert config.four_letter_whitelist == FOUR_LETTER_WORDS


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_zoo_cfg(tmp_path / "absent.cfg")
