"""Apache ZooKeeper's own Java clients, unchanged, through a three-server zkref ensemble's
connect string: zkCli.sh's scripted session prints Apache ZooKeeper's transcript
(tests/interop/test_zkcli.py), and Curator's probe prints Apache ZooKeeper's transcript
(tests/interop/test_curator.py), each client on whichever server it picks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.interop.test_curator import CURATOR_JAR, EXPECTED, probe_classes, transcript
from tests.interop.test_zkcli import ZKCLI, assert_scripted_session_matches, zkcli
from tests.support.ensemble import Ensemble

__all__ = ["probe_classes"]  # the fixture that compiles the Curator probe

pytestmark = pytest.mark.slow  # each starts a JVM


@pytest.mark.skipif(
    not ZKCLI.exists() or shutil.which("java") is None,
    reason="zkCli.sh needs Debian's zookeeper package and Java (apt-get install zookeeper)",
)
def test_zkcli_through_the_connect_string_prints_apache_zookeepers_transcript(
    zkref_three: Ensemble,
) -> None:
    connect = zkref_three.connect_string
    try:
        assert_scripted_session_matches(connect)
        # Written through the connect string, read at each server alone after a sync.
        assert "Created /zkcli-ensemble" in zkcli(connect, "create", "/zkcli-ensemble", "v")
        for address in zkref_three.addresses:
            script = "sync /zkcli-ensemble\nget /zkcli-ensemble\nquit\n"
            lines = zkcli(address, script=script).splitlines()
            assert lines[lines.index("Sync is OK") + 1] == "v", lines
    finally:
        # The next test (Curator's probe) expects a tree with nothing at the top.
        cleanup = ["addauth digest u:p", "delete /dig", "delete /cont", "delete /zkcli-ensemble"]
        zkcli(connect, script="\n".join([*cleanup, "quit", ""]))


@pytest.mark.skipif(
    not CURATOR_JAR.exists() or shutil.which("javac") is None,
    reason="needs Debian's libcurator-recipes-java and a JDK (see .ci/run)",
)
def test_curator_through_the_connect_string_prints_apache_zookeepers_transcript(
    probe_classes: Path, zkref_three: Ensemble
) -> None:
    assert transcript(probe_classes, zkref_three.connect_string) == EXPECTED
