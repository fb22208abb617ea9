"""kazoo's own test suite against zkref and Apache ZooKeeper (``tests.interop.kazoo_suite``).

The fast tests hold the runner's parts: the ``java`` launcher starts zkref from the command
line kazoo's harness writes, with the harness's settings, as the very process the harness
stops; JUnit outcomes and differences are read right. The suite itself (about 9 minutes
for both servers on 2 cores) runs only when asked: ``ZKREF_KAZOO_SUITE=1 pytest -m slow
tests/interop/test_kazoo_suite.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, UnimplementedError
from kazoo.security import ACL, Id, Permissions, make_digest_acl_credential

from server.cli import _parser, build_config
from spec.profiles import V3_8
from tests.interop import kazoo_suite
from tests.interop.kazoo_java import (
    MAIN_CLASS,
    LaunchError,
    parse_java_command,
    settings_from_properties,
    zkref_command,
    zkref_config,
)
from tests.interop.kazoo_suite import (
    SuiteResult,
    SuiteUnavailable,
    differences,
    free_port_block,
    make_run_dir,
    outcomes_from_junit,
    suite_environment,
)
from tests.support.rawclient import four_letter_word
from tests.support.servers import wait_until

# The superuser digest kazoo's harness gives ZooKeeper (harness.py: super:test).
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
# The JAAS file kazoo's harness writes for ZOOKEEPER_JAAS_AUTH=digest (harness.py).
HARNESS_DIGEST_JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"""


@dataclass(frozen=True)
class HarnessStores:
    key_store: Path
    trust_store: Path


def write_harness_stores(directory: Path) -> HarnessStores:
    """The JKS key and trust stores kazoo's harness writes (``perform_ssl_certs_generation``,
    saved with pyjks as ``ManagedZooKeeper.run`` saves them), beside the zoo.cfg."""
    common = pytest.importorskip("kazoo.testing.common")
    cluster = common.ZookeeperCluster.__new__(common.ZookeeperCluster)
    cluster._ssl_configuration = {}
    cluster.perform_ssl_certs_generation()
    stores = HarnessStores(directory / "keystore.jks", directory / "truststore.jks")
    cluster._ssl_configuration["keystore"].save(str(stores.key_store), "apassword")
    cluster._ssl_configuration["truststore"].save(str(stores.trust_store), "apassword")
    return stores


def harness_command(config_path: Path) -> list[str]:
    """The ``java`` arguments kazoo 2.11's ``ManagedZooKeeper.run`` passes (paths aside)."""
    return [
        "-cp",
        "/nowhere/zookeeper.jar",
        "-Dfile.encoding=UTF-8",
        "-Dreadonlymode.enabled=true",
        f"-Dzookeeper.log.dir={config_path.parent / 'log'}",
        "-Dzookeeper.root.logger=INFO,CONSOLE",
        f"-Dlog4j.configuration=file:{config_path.parent / 'log4j.properties'}",
        "-Djava.awt.headless=true",
        f"-Djava.security.auth.login.config={config_path.parent / 'jaas.conf'}",
        f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
        MAIN_CLASS,
        str(config_path),
    ]


def harness_zoo_cfg(data_dir: Path, port: int) -> str:
    """The zoo.cfg kazoo 2.11's harness writes for one server of ZooKeeper 3.5 or later."""
    return "\n".join(
        [
            "tickTime=2000",
            f"dataDir={data_dir}",
            f"clientPort={port}",
            f"secureClientPort={port + 4}",
            "maxClientCnxns=0",
            f"admin.serverPort={port + 3}",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            f"ssl.keyStore.location={data_dir.parent / 'keystore.jks'}",
            "ssl.keyStore.password=apassword",
            f"ssl.trustStore.location={data_dir.parent / 'truststore.jks'}",
            "ssl.trustStore.password=apassword",
            "4lw.commands.whitelist=*",
            "reconfigEnabled=true",
            "localSessionsEnabled=false",
            "localSessionsUpgradingEnabled=false",
            "",
        ]
    )


def test_the_launcher_reads_the_harness_s_java_command_line(tmp_path: Path) -> None:
    command = parse_java_command(harness_command(tmp_path / "zoo.cfg"))
    assert command.config_path == tmp_path / "zoo.cfg"
    assert settings_from_properties(command.system_properties) == [
        "-Dreadonlymode.enabled=true",
        f"-Djava.security.auth.login.config={tmp_path / 'jaas.conf'}",
        f"-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}",
    ]


def test_a_command_line_the_harness_does_not_write_is_refused() -> None:
    with pytest.raises(LaunchError):
        parse_java_command(["-version"])
    with pytest.raises(LaunchError):
        parse_java_command([MAIN_CLASS, "zoo.cfg", "extra"])


def test_zkref_reads_the_harness_s_settings_from_the_launcher_s_command_line(
    tmp_path: Path,
) -> None:
    stores = write_harness_stores(tmp_path)
    (tmp_path / "jaas.conf").write_text(HARNESS_DIGEST_JAAS)
    command = parse_java_command(harness_command(tmp_path / "zoo.cfg"))
    config_path = tmp_path / "zoo-zkref.cfg"
    config_path.write_text(zkref_config(harness_zoo_cfg(tmp_path / "data", 24000), "3.8"))
    arguments = zkref_command(command, config_path)
    assert arguments[1:5] == ["-m", "server", "serve", "--config"]
    config = build_config(_parser().parse_args(arguments[3:]))
    assert (config.host, config.port, config.tick_time_ms) == ("127.0.0.1", 24000, 2000)
    assert config.super_digest == SUPER_DIGEST
    assert config.reconfig_enabled is True
    assert config.max_client_connections_per_ip == 0
    assert config.profile is V3_8
    # The harness's TLS port, its JKS stores and its SASL: served, not ignored.
    assert (config.secure_host_effective, config.secure_port) == ("127.0.0.1", 24004)
    assert config.tls.key_store.location == stores.key_store
    assert config.auth_providers.schemes == {"ip", "digest", "sasl", "x509"}
    assert config.sasl_users == (("super", "super_secret"), ("jaasuser", "jaas_password"))


def test_junit_outcomes_are_one_per_test_and_the_worst_phase_wins(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
        '<testcase classname="test_client.TestClient" name="test_ok" />'
        '<testcase classname="test_client.TestClient" name="test_bad"><failure /></testcase>'
        '<testcase classname="test_retry" name="test_skip"><skipped /></testcase>'
        '<testcase classname="test_lock.TestSemaphore" name="test_td" />'
        '<testcase classname="test_lock.TestSemaphore" name="test_td"><error /></testcase>'
        "</testsuite></testsuites>"
    )
    assert outcomes_from_junit(report) == {
        "test_client.py::TestClient::test_ok": "passed",
        "test_client.py::TestClient::test_bad": "failed",
        "test_retry.py::test_skip": "skipped",
        "test_lock.py::TestSemaphore::test_td": "error",
    }


def test_differences_name_each_test_whose_outcome_is_not_the_same() -> None:
    apache = SuiteResult("apache", {"a": "passed", "b": "failed", "c": "passed"}, 1.0, False, 1)
    zkref = SuiteResult("zkref", {"a": "passed", "b": "passed", "d": "skipped"}, 1.0, False, 1)
    assert differences([apache, zkref]) == {
        "b": {"apache": "failed", "zkref": "passed"},
        "c": {"apache": "passed", "zkref": "absent"},
        "d": {"apache": "absent", "zkref": "skipped"},
    }
    assert "passed   2" in zkref.summary() and "1 passed" not in zkref.summary()


@pytest.fixture
def launched_zkref(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """zkref started by the launcher exactly as kazoo's harness starts ``java``."""
    run_dir = make_run_dir("zkref", parent=tmp_path)
    port = free_port_block()
    env = suite_environment("zkref", run_dir, port, "3.8")
    working = run_dir / "tmp" / "server"
    (working / "data").mkdir(parents=True)
    write_harness_stores(working)
    (working / "jaas.conf").write_text("")  # the harness's, when a test asks for no SASL
    config = working / "zoo.cfg"
    config.write_text(harness_zoo_cfg(working / "data", port))
    process = subprocess.Popen(
        [str(run_dir / "bin" / "java"), *harness_command(config)], env=env, cwd=run_dir
    )
    try:
        wait_until(lambda: _answers_ruok(port), timeout_s=20.0, interval_s=0.05)
        yield process, run_dir, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        kazoo_suite.stop_leftover_servers(run_dir)


def _answers_ruok(port: int) -> bool:
    try:
        return four_letter_word("127.0.0.1", port, "ruok", 1.0) == "imok"
    except OSError:
        return False


def test_the_launcher_runs_zkref_with_the_harness_s_settings_as_the_pid_it_was_given(
    launched_zkref: tuple[subprocess.Popen[bytes], Path, int],
) -> None:
    process, run_dir, port = launched_zkref
    assert [p.name for p in (run_dir / "pids").iterdir()] == [str(process.pid)]
    owner = KazooClient(hosts=f"127.0.0.1:{port}", timeout=10)
    superuser = KazooClient(
        hosts=f"127.0.0.1:{port}", timeout=10, auth_data=[("digest", "super:test")]
    )
    for client in (owner, superuser):
        client.start(timeout=10)
    try:
        other = Id("digest", make_digest_acl_credential("someone", "else"))
        owner.create("/locked", b"x", acl=[ACL(Permissions.READ, other)])
        with pytest.raises(NoAuthError):
            owner.get("/locked")
        assert superuser.get("/locked")[0] == b"x"  # -D...superDigest reached zkref
        with pytest.raises(UnimplementedError):  # zoo.cfg's reconfigEnabled=true did too
            owner.reconfig(joining="server.9=127.0.0.1:1:2;3", leaving=None, new_members=None)
    finally:
        for client in (owner, superuser):
            client.stop()
            client.close()
    # The harness stops its server with terminate(): zkref itself gets the SIGTERM and exits 0
    # (a shell left in between would die of the signal instead).
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    assert "zkref serving on" in (run_dir / "tmp" / "server" / "zookeeper.log").read_text()


# Tests kazoo's suite passes against Apache ZooKeeper 3.8 and not against zkref, and why
# (test id -> reason). None are left: the null ACL fields (issue 10), SASL with DIGEST-MD5
# and TLS on secureClientPort closed the last ones.
KNOWN_GAPS: dict[str, str] = {}


@pytest.fixture(scope="module")
def both_servers() -> tuple[SuiteResult, SuiteResult]:
    if os.environ.get("ZKREF_KAZOO_SUITE") != "1":
        pytest.skip("kazoo's whole suite twice (about 9 minutes): set ZKREF_KAZOO_SUITE=1")
    try:
        kazoo_suite.check_available()
    except SuiteUnavailable as error:
        pytest.skip(str(error))
    apache = kazoo_suite.run_suite("apache")
    zkref = kazoo_suite.run_suite("zkref")
    print(kazoo_suite.report([apache, zkref]))
    for result in (apache, zkref):
        assert kazoo_suite.completed([result]), f"{result.summary()}\n{result.log_tail}"
    return apache, zkref


@pytest.mark.slow
@pytest.mark.timeout(2 * kazoo_suite.SUITE_TIMEOUT_S + 120)
def test_zkref_passes_every_kazoo_test_apache_passes_but_the_known_gaps(
    both_servers: tuple[SuiteResult, SuiteResult],
) -> None:
    apache, zkref = both_servers
    lost = {
        name
        for name, outcome in apache.outcomes.items()
        if outcome == "passed" and zkref.outcomes.get(name) != "passed"
    }
    unexplained = {name: zkref.outcomes.get(name) for name in lost - KNOWN_GAPS.keys()}
    assert not unexplained, f"pass against Apache ZooKeeper, not against zkref: {unexplained}"
    # A gap that closed is taken off the list, so that it stays closed.
    closed = sorted(KNOWN_GAPS.keys() - lost)
    assert not closed, f"no longer a gap (remove from KNOWN_GAPS): {closed}"
