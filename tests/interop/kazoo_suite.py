"""kazoo's own shipped test suite, unchanged, against Apache ZooKeeper 3.8 and ``zkref serve``.

    python -m tests.interop.kazoo_suite [--server zkref|apache|both] [--timeout S] [-k EXPR]

kazoo ships its tests (``kazoo/tests``) and the harness they run on
(``kazoo/testing/harness.py``, ``common.py``). The harness starts its own ZooKeeper: it
writes a ``zoo.cfg`` in a fresh temporary directory and runs ``java … QuorumPeerMain``,
configured by environment variables. This runner runs ``pytest --pyargs kazoo.tests`` with
kazoo's files untouched and sets, for each server:

* ``ZOOKEEPER_CLUSTER_SIZE=1``: one standalone server for both (kazoo's default is a
  3-server ensemble; zkref has no replication, and a cluster of one compares like with like).
  The tests that need more members (``cluster[1]``) fail on both.
* ``ZOOKEEPER_VERSION=3.8.0`` (the harness requires it) and ``ZOOKEEPER_CLASSPATH``:
  Debian's ``zookeeper.jar`` (its manifest names its dependencies) and the log4j binding
  the harness's ``log4j.properties`` is written for.
* ``ZOOKEEPER_PORT_OFFSET``: the first of 5 consecutive free ports (the harness uses
  offset+0 for clients, +3 for the admin server, +4 for TLS clients).
* ``PATH``: a directory whose ``java`` runs ``tests.interop.kazoo_java``, which starts the
  real ``java`` (``apache``) or ``python -m server serve --profile`` (``zkref``) in its place.
* ``TMPDIR``: the run's own directory, where the harness makes its working directories.
* ``CI`` is removed: kazoo's tests read it (``kazoo.tests.util.CI_ZK_VERSION``) and take the
  version from the environment instead of asking the server; without it the result does not
  depend on where the runner runs.

Each run is bounded (``--timeout`` for the whole suite, ``--test-timeout`` per test through
pytest-timeout). At its end every process it started is stopped by PID: the pytest process
group (pytest and the servers its harness started) and every server PID the launcher
recorded, if still running and still one of ours. Outcomes are read from pytest's JUnit XML.

Prints, per server, the tests passed, failed, in error and skipped, then every test whose
outcome differs between the two servers. Exit status 0 when the run completed and zkref
passed at least as many tests as Apache ZooKeeper (``both``), or the run completed (one).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("apache", "zkref")
ZOOKEEPER_VERSION = "3.8.0"
# Debian's zookeeper.jar names its dependencies in its manifest, less those of the Netty
# connection factory and the admin server, which the harness's zoo.cfg turns on; and the
# log4j binding that the harness's log4j.properties is written for.
APACHE_CLASSPATH = ":".join(
    f"/usr/share/java/{jar}.jar"
    for jar in (
        "zookeeper",
        "netty-codec",
        "netty-resolver",
        "netty-transport-native-unix-common",
        "servlet-api",
        "slf4j-log4j12",
        "log4j-1.2",
    )
)
PORTS_PER_SERVER = 5
SUITE_TIMEOUT_S = 1200.0
TEST_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
OUTCOMES = ("passed", "failed", "error", "skipped")
# Environment variables kazoo's harness or tests read; the runner sets those it needs and
# removes the rest, so the outcome does not depend on the caller's environment.
_HARNESS_VARIABLES = (
    "CI",
    "ZOOKEEPER_PATH",
    "ZOOKEEPER_CLASSPATH",
    "ZOOKEEPER_PORT_OFFSET",
    "ZOOKEEPER_CLUSTER_SIZE",
    "ZOOKEEPER_VERSION",
    "ZOOKEEPER_OBSERVER_START_ID",
    "ZOOKEEPER_JAAS_AUTH",
    "ZOOKEEPER_LOCAL_SESSION_RO",
    "KRB5_CONFIG",
    "KRB5_TEST_ENV",
)


class SuiteUnavailable(RuntimeError):
    """Something the suite needs is missing here; the message says what and how to get it."""


@dataclass
class SuiteResult:
    """One run of kazoo's suite against one server."""

    server: str
    outcomes: dict[str, str]
    seconds: float
    timed_out: bool
    exit_status: int | None
    log_tail: str = ""
    counts: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = Counter(self.outcomes.values())

    def summary(self) -> str:
        # Not "N passed, N failed": that shape is read as a test runner's closing line.
        parts = "  ".join(f"{outcome} {self.counts[outcome]:3d}" for outcome in OUTCOMES)
        status = "TIMED OUT" if self.timed_out else f"pytest exit {self.exit_status}"
        return (
            f"{self.server:<7} {parts}  ({len(self.outcomes)} tests, "
            f"{self.seconds:.0f} s, {status})"
        )


# What kazoo's tests import: its "test" extra (less pytest-cov), and pure-sasl (its "sasl"
# extra) for test_sasl. Without gevent, eventlet or pure-sasl those tests are skipped.
SUITE_REQUIREMENTS = (
    "kazoo==2.11.0 objgraph pyjks 'pyopenssl<26.2' gevent eventlet pure-sasl pytest-timeout"
)
_REQUIRED_MODULES = ("kazoo.tests", "kazoo.testing.common", "objgraph", "jks", "OpenSSL")


def check_available() -> None:
    """Raise ``SuiteUnavailable`` if kazoo's tests, its harness's imports or java are missing."""
    for module in _REQUIRED_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise SuiteUnavailable(
                f"kazoo's tests need {error.name}: pip install {SUITE_REQUIREMENTS}"
            ) from None
    crypto: Any = importlib.import_module("OpenSSL.crypto")
    # kazoo.testing.common makes its TLS certificates with X509.add_extensions, which
    # pyOpenSSL 26.2 removed.
    if not hasattr(crypto.X509, "add_extensions"):
        raise SuiteUnavailable("kazoo's test harness needs pyOpenSSL < 26.2")
    kazoo_tests = importlib.import_module("kazoo.tests")
    if not Path(str(kazoo_tests.__file__)).with_name("test_client.py").exists():
        raise SuiteUnavailable("this kazoo install has no kazoo/tests")
    if shutil.which("java") is None:
        raise SuiteUnavailable("java is not installed")
    missing = [jar for jar in APACHE_CLASSPATH.split(":") if not Path(jar).exists()]
    if missing:
        raise SuiteUnavailable(f"Apache ZooKeeper's jars are missing: {missing}")


def free_port_block(count: int = PORTS_PER_SERVER, attempts: int = 200) -> int:
    """The first of ``count`` consecutive ports that are free on every interface right now."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


def outcomes_from_junit(path: Path) -> dict[str, str]:
    """Each test's outcome in a pytest JUnit XML report, by its node id in ``kazoo/tests``
    (``test_client.py::TestClient::test_create``).

    A test is ``failed`` if it failed, else ``error`` if its setup or teardown raised, else
    ``skipped`` if skipped, else ``passed``: one outcome per test (pytest's own summary
    counts a passed test whose teardown raised under both passed and errors).
    """
    outcomes: dict[str, str] = {}
    rank = {outcome: i for i, outcome in enumerate(("passed", "skipped", "error", "failed"))}
    for case in ET.parse(path).getroot().iter("testcase"):
        # classname is "module" or "module.Class"; kazoo/tests has no subpackages.
        module, *classes = case.get("classname", "").split(".")
        name = "::".join([f"{module}.py", *classes, case.get("name", "")])
        tags = {child.tag for child in case}
        if "failure" in tags:
            outcome = "failed"
        elif "error" in tags:
            outcome = "error"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        previous = outcomes.get(name)
        if previous is None or rank[outcome] > rank[previous]:
            outcomes[name] = outcome
    return outcomes


def differences(results: Sequence[SuiteResult]) -> dict[str, dict[str, str]]:
    """Tests whose outcome is not the same on every server: name -> server -> outcome."""
    names = sorted(set().union(*(r.outcomes for r in results)))
    found: dict[str, dict[str, str]] = {}
    for name in names:
        by_server = {r.server: r.outcomes.get(name, "absent") for r in results}
        if len(set(by_server.values())) > 1:
            found[name] = by_server
    return found


def make_run_dir(server: str, parent: Path | None = None) -> Path:
    """A run's directory: ``bin/java`` (the launcher), ``tmp`` (the harness's TMPDIR),
    ``pids`` (the launcher's PID files), and an empty ``pytest.ini``."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"kazoo-suite-{server}-", dir=parent))
    for sub in ("bin", "tmp", "pids"):
        (run_dir / sub).mkdir()
    java = run_dir / "bin" / "java"
    # exec all the way down: the PID the harness holds is the server's own.
    java.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m tests.interop.kazoo_java "$@"\n',
        encoding="utf-8",
    )
    java.chmod(0o755)
    # An empty ini makes run_dir pytest's rootdir: the repository's settings do not apply.
    (run_dir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    return run_dir


def stop_leftover_servers(run_dir: Path) -> None:
    """Stop every server the launcher started for this run that is still running."""
    for pid_file in (run_dir / "pids").iterdir():
        pid = int(pid_file.name)
        if _our_server(pid, run_dir):
            _stop_pid(pid)


def _our_server(pid: int, run_dir: Path) -> bool:
    """Whether ``pid`` still runs a server of this run (its command line names a file in
    the run's directory; a reused PID does not)."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(run_dir).encode() in command_line


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _stop_group(leader: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the process group the runner made for pytest (``leader``'s:
    pytest, and the servers its harness started)."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(leader.pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            leader.poll()  # reap it: a zombie leader still counts as a group member
            try:
                os.killpg(leader.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def suite_environment(
    server: str,
    run_dir: Path,
    port_offset: int,
    profile: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment pytest runs kazoo's suite in, for ``server``."""
    env = dict(os.environ if base is None else base)
    for name in _HARNESS_VARIABLES:
        env.pop(name, None)
    real_java = shutil.which("java", path=env.get("PATH"))
    if real_java is None:
        raise SuiteUnavailable("java is not installed")
    env.update(
        {
            "ZOOKEEPER_VERSION": ZOOKEEPER_VERSION,
            "ZOOKEEPER_CLASSPATH": APACHE_CLASSPATH,
            "ZOOKEEPER_CLUSTER_SIZE": "1",
            "ZOOKEEPER_PORT_OFFSET": str(port_offset),
            "PATH": os.pathsep.join([str(run_dir / "bin"), env.get("PATH", "")]),
            "TMPDIR": str(run_dir / "tmp"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "PYTHONDONTWRITEBYTECODE": "1",
            "ZKREF_KAZOO_SERVER": server,
            "ZKREF_KAZOO_REAL_JAVA": real_java,
            "ZKREF_KAZOO_PID_DIR": str(run_dir / "pids"),
            "ZKREF_KAZOO_PROFILE": profile,
        }
    )
    return env


def run_suite(
    server: str,
    *,
    timeout_s: float = SUITE_TIMEOUT_S,
    test_timeout_s: float = TEST_TIMEOUT_S,
    profile: str = "3.8",
    pytest_args: Iterable[str] = (),
    keep: bool = False,
) -> SuiteResult:
    """Run kazoo's suite against one server (``apache`` or ``zkref``) and stop what it started."""
    assert server in SERVERS, server
    run_dir = make_run_dir(server)
    junit = run_dir / "junit.xml"
    log_path = run_dir / "pytest.log"
    env = suite_environment(server, run_dir, free_port_block(), profile)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "kazoo.tests",
        "-c",
        str(run_dir / "pytest.ini"),
        "--rootdir",
        str(run_dir),
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        f"--timeout={test_timeout_s:g}",
        "-q",
        "-rfE",
        *pytest_args,
    ]
    started = time.monotonic()
    timed_out = False
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _stop_group(process)
            process.wait()
            stop_leftover_servers(run_dir)
    seconds = time.monotonic() - started
    outcomes = outcomes_from_junit(junit) if junit.exists() else {}
    log_text = log_path.read_text(errors="replace")
    result = SuiteResult(
        server=server,
        outcomes=outcomes,
        seconds=seconds,
        timed_out=timed_out,
        exit_status=None if timed_out else process.returncode,
        log_tail="\n".join(log_text.splitlines()[-60:]),
    )
    if keep:
        print(f"{server}: kept {run_dir}", file=sys.stderr)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def report(results: Sequence[SuiteResult]) -> str:
    """The per-server counts and the tests that differ, as printed by ``main``."""
    lines = [f"kazoo's test suite (kazoo {_kazoo_version()}), one standalone server each:"]
    lines += ["  " + result.summary() for result in results]
    if len(results) > 1:
        found = differences(results)
        lines.append(f"tests whose outcome differs: {len(found)}")
        for name, by_server in found.items():
            outcomes = "  ".join(f"{server}={outcome}" for server, outcome in by_server.items())
            lines.append(f"  {name}  {outcomes}")
    return "\n".join(lines)


def _kazoo_version() -> str:
    from kazoo.version import __version__

    return str(__version__)


def completed(results: Sequence[SuiteResult]) -> bool:
    """Every run finished within its bound and pytest ran tests (exit 0 or 1)."""
    return all(not r.timed_out and r.exit_status in (0, 1) and r.outcomes for r in results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.interop.kazoo_suite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument(
        "--timeout", type=float, default=SUITE_TIMEOUT_S, help="seconds for one server's run"
    )
    parser.add_argument(
        "--test-timeout", type=float, default=TEST_TIMEOUT_S, help="seconds for one test"
    )
    parser.add_argument("--profile", default="3.8", help="zkref serve --profile (3.8)")
    parser.add_argument("-k", dest="keyword", help="run only the tests pytest -k selects")
    parser.add_argument("--keep", action="store_true", help="keep each run's directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's log tail")
    args = parser.parse_args(argv)
    try:
        check_available()
    except SuiteUnavailable as error:
        print(f"kazoo suite cannot run here: {error}", file=sys.stderr)
        return 2
    servers = SERVERS if args.server == "both" else (args.server,)
    pytest_args = ["-k", args.keyword] if args.keyword else []
    results = []
    for server in servers:
        result = run_suite(
            server,
            timeout_s=args.timeout,
            test_timeout_s=args.test_timeout,
            profile=args.profile,
            pytest_args=pytest_args,
            keep=args.keep,
        )
        print(result.summary(), file=sys.stderr, flush=True)
        if args.verbose or not completed([result]):
            print(result.log_tail, file=sys.stderr)
        results.append(result)
    print(report(results))
    if not completed(results):
        return 1
    if len(results) == 2:
        apache, zkref = results
        return 0 if zkref.counts["passed"] >= apache.counts["passed"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
