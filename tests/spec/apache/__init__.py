"""Apache ZooKeeper's client vocabulary, as its own jars state it, for the spec's tests.

``ApacheFacts.java`` reads Apache's classes by reflection — ``KeeperException.Code``,
``ZooDefs.OpCode``/``Perms``/``Ids``, ``ClientCnxn``'s reserved xids,
``Watcher.Event.EventType``/``KeeperState``, ``Watcher.WatcherType``, ``CreateMode``,
``AddWatchMode``, ``Request.isValid``/``isQuorum`` per opcode, and every generated jute record's
``signature()`` and fields — and prints them as JSON. Nothing in it is typed by hand.

``zookeeper-3.8.jar.json`` is that output for the jars this project is proven against (Debian
12's ``zookeeper`` package, 3.8.0), so the spec's tests check values against Apache's on any
machine, JVM or not. Regenerate it with ``python -m tests.spec.apache`` (needs ``javac`` and
the jars); ``tests/spec/test_vocabulary.py`` does the same where they are installed and fails
if the file no longer says what the jars say.

No 3.9 jar is installed. What 3.9 adds to this vocabulary is two watcher types, ``Persistent``
(4) and ``PersistentRecursive`` (5) in ``Watcher.WatcherType`` (ZOOKEEPER-4472), and the
``readOnly`` field that ``zookeeper.jute`` declares in ``ConnectRequest``/``ConnectResponse``;
``THREE_NINE_WATCHER_TYPES`` holds the first, read from ``Watcher.java`` at tag release-3.9.5,
the second is in the schema copy itself (``tests.support.jute_schema``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PROGRAM = HERE / "ApacheFacts.java"
FACTS_PATH = HERE / "zookeeper-3.8.jar.json"
JARS = (
    Path("/usr/share/java/zookeeper.jar"),
    Path("/usr/share/java/zookeeper-jute.jar"),
    Path("/usr/share/java/slf4j-api.jar"),
)
RUN_TIMEOUT_S = 120

# Watcher.java, release-3.9.5, enum WatcherType: Children(1), Data(2), Any(3),
# Persistent(4), PersistentRecursive(5).
THREE_NINE_WATCHER_TYPES = {"Persistent": 4, "PersistentRecursive": 5}

Facts = dict[str, Any]


def load() -> Facts:
    """The recorded facts."""
    facts: Facts = json.loads(FACTS_PATH.read_text(encoding="utf-8"))
    return facts


def missing() -> str | None:
    """Why ``extract`` cannot run here, or None."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        return "no JDK (javac, java)"
    absent = [str(jar) for jar in JARS if not jar.exists()]
    if absent:
        return f"Apache ZooKeeper's jars are not installed: {', '.join(absent)}"
    return None


def extract() -> Facts:
    """Compile and run ``ApacheFacts.java`` against the installed jars; its parsed output."""
    classpath = ":".join(str(jar) for jar in JARS)
    with tempfile.TemporaryDirectory(prefix="apache-facts-") as classes:
        subprocess.run(
            ["javac", "-d", classes, "-cp", classpath, str(PROGRAM)],
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
        result = subprocess.run(
            ["java", "-cp", f"{classes}:{classpath}", "ApacheFacts"],
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
        )
    facts: Facts = json.loads(result.stdout)
    return facts


def render(facts: Facts) -> str:
    return json.dumps(facts, indent=1) + "\n"
