"""``python -m server serve``: starts, says where, serves, stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.rawclient import connected, four_letter_word
from tests.support.servers import REPO_ROOT, ServerProcess


def run_cli(*args: str, timeout_s: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
    )


def test_serve_prints_where_it_serves_and_answers(zkref_process: ServerProcess) -> None:
    assert four_letter_word(zkref_process.host, zkref_process.port, "ruok") == "imok"
    with connected(zkref_process.host, zkref_process.port) as client:
        assert client.get_data("/").header.err == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_with_status_zero(tmp_path: Path, signum: int) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    try:
        assert server.process is not None
        os.kill(server.process.pid, signum)
        assert server.process.wait(10) == 0
        assert "stopped" in server.log_text()
    finally:
        server.stop()


def test_a_zoo_cfg_is_read_and_unknown_keys_are_logged(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("tickTime=500\nmaxSessionTimeout=7000\nnoSuchSetting=yes\n")
    with ServerProcess(tmp_path, ["--config", str(cfg)]) as server:
        conf = four_letter_word(server.host, server.port, "conf")
        assert "tickTime=500\n" in conf and "maxSessionTimeout=7000\n" in conf
        assert "unknown key noSuchSetting" in server.log_text()


def test_a_bad_config_exits_2_and_says_what_is_wrong(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text("clientPort=notaport\n")
    result = run_cli("serve", "--config", str(cfg))
    assert result.returncode == 2
    assert "clientPort='notaport' is not an integer" in result.stderr


def test_a_taken_port_exits_1_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr


def test_version_flag() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert "3.9.3-zkref" in result.stdout


def test_an_unusable_data_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("serve", "--port", "0", "--data-dir", str(blocker / "data"))
    assert result.returncode == 2
    assert "cannot use dataDir" in result.stderr


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_serve_runs_on_either_event_loop(tmp_path: Path, event_loop: str) -> None:
    pytest.importorskip(event_loop)
    with ServerProcess(tmp_path, ["--event-loop", event_loop]) as server:
        with connected(server.host, server.port) as client:
            assert client.get_data("/").header.err == 0
        assert f"event loop: {event_loop}" in server.log_text()


def test_auto_picks_uvloop_only_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli import choose_event_loop
    from server.config import ConfigError

    assert choose_event_loop("asyncio") == "asyncio"
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    assert choose_event_loop("auto") == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        choose_event_loop("uvloop")


def test_serve_refuses_a_secure_port_or_a_jaas_file_it_cannot_use_and_says_why(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
        "secureClientPort=2281\nssl.keyStore.location=/nowhere.jks\n"
    )
    result = run_cli("serve", "--port", "0", "--config", str(cfg))
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "/nowhere.jks" in result.stderr
    result = run_cli("serve", "--port", "0", "-Djava.security.auth.login.config=/nowhere/jaas")
    assert result.returncode == 2 and "/nowhere/jaas" in result.stderr
    result = run_cli("serve", "--port", "0", "-Dzookeeper.clientPort=1")
    assert result.returncode == 2 and "zoo.cfg only" in result.stderr
