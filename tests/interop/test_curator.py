"""Apache Curator (Java), unchanged, against zkref: the same transcript as Apache ZooKeeper's.

``curator/CuratorProbe.java`` drives two Curator clients through paths with parents,
versions, sequential nodes, transactions, watches, ``CuratorCache``, ``InterProcessMutex``,
``LeaderLatch``, ``SharedCount``, containers and TTL nodes, and prints what it observed. The
expected transcript is what it prints against Apache ZooKeeper 3.8.0 (Debian's package) with
Curator 5.4.0 (Debian's ``libcurator-*-java``); the second test keeps it honest by running the
probe against Apache ZooKeeper itself.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.servers import apache_zookeeper
from tests.support.servers import ServerProcess

PROBE = Path(__file__).parent / "curator" / "CuratorProbe.java"
CLASSPATH = ["/usr/share/java/*", "/usr/share/zookeeper/*"]
CURATOR_JAR = Path("/usr/share/java/curator-recipes.jar")
RUN_TIMEOUT_S = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CURATOR_JAR.exists() or shutil.which("javac") is None,
        reason="needs Debian's libcurator-recipes-java and a JDK (see .ci/run)",
    ),
]

EXPECTED = """\
created parents: [a] x
setData version 1 dataLength 1
stale setData: BADVERSION
create again: NODEEXISTS
sequential: /curator/seq-0000000001 /curator/seq-0000000002
exists missing: true
transaction: CREATE /curator/t1 -> /curator/t1 error 0
transaction: SET_DATA /curator/a/b -> null error 0
transaction: CHECK /curator/a/b -> null error 0
failed transaction: NONODE; t2 exists: false
watch: NodeDataChanged /curator/t1
cache create /curator/cache root
cache initialized
cache create /curator/cache/c1 one
cache change /curator/cache/c1 uno
cache delete /curator/cache/c1
lock a: true
lock b while a holds it: false
lock b after release: true
a leads: true
b waits: true
b leads after a leaves: true
count set: true -> 5
container parent ephemeralOwner 0 children 1
ttl node ephemeralOwner 0
deleted: true
top level: [zookeeper]
"""


@pytest.fixture(scope="module")
def probe_classes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("curator-probe")
    subprocess.run(
        ["javac", "-d", str(out), "-cp", ":".join(CLASSPATH), str(PROBE)],
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
    )
    yield out


def transcript(classes: Path, address: str) -> str:
    result = subprocess.run(
        ["java", "-cp", ":".join([str(classes), *CLASSPATH]), "CuratorProbe", address],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_curator_sees_zkref_as_apache_zookeeper(probe_classes: Path, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, ("--extended-types-enabled",)) as server:
        assert transcript(probe_classes, server.address) == EXPECTED
        assert "internal error" not in server.log_text()


def test_the_expected_transcript_is_apache_zookeepers(probe_classes: Path, tmp_path: Path) -> None:
    with apache_zookeeper(tmp_path / "zookeeper") as node:
        assert transcript(probe_classes, node.address) == EXPECTED
