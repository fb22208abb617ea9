"""The ``java`` that kazoo's test harness runs, when ``tests.interop.kazoo_suite`` runs it.

kazoo's harness (``kazoo/testing/common.py``, ``ManagedZooKeeper.run``) writes a ``zoo.cfg``
and starts ``java -cp … -D… org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg``,
found on ``PATH``. The suite runner puts a ``java`` script first on ``PATH`` that runs this
module, which starts the server under test *as that same process* (``exec``), so the
harness's ``terminate()`` reaches the server itself:

* ``apache``: the real ``java`` with the harness's arguments, on a ``zoo.cfg`` that also binds
  every listener to 127.0.0.1 (the harness leaves them on all interfaces).
* ``zkref``: ``python -m server serve --config`` a ``zoo.cfg`` made of the harness's one,
  the same loopback lines and ``zkref.profile``, and ``-D`` with the system properties the
  harness gave that are server settings: ``zookeeper.*`` ones (the super digest) and
  ``java.security.auth.login.config`` (the JAAS file that turns SASL on); the JVM's own and
  its logging's are left out.

The process's output goes to ``zookeeper.log`` in the harness's working directory (where
the harness's ``get_logs`` reads a failing test's server log), and its PID is written to the
runner's PID directory first, so the runner can stop whatever a killed harness left behind.

Settings come from the environment the runner gives pytest: ``ZKREF_KAZOO_SERVER``,
``ZKREF_KAZOO_REAL_JAVA``, ``ZKREF_KAZOO_PID_DIR``, ``ZKREF_KAZOO_PROFILE``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
LOOPBACK_LINES = (
    "clientPortAddress=127.0.0.1",
    "secureClientPortAddress=127.0.0.1",
    "admin.serverAddress=127.0.0.1",
)
# System properties that are server settings (the rest configure the JVM or its logging).
_SETTING_PREFIXES = ("zookeeper.", "znode.")
_SETTING_NAMES = frozenset({"readonlymode.enabled", "java.security.auth.login.config"})
_NOT_SETTINGS = frozenset({"zookeeper.log.dir", "zookeeper.root.logger"})


class LaunchError(RuntimeError):
    """The command line is not one kazoo's harness writes."""


@dataclass(frozen=True)
class JavaCommand:
    """What kazoo's harness asked ``java`` for."""

    arguments: tuple[str, ...]
    system_properties: tuple[tuple[str, str], ...]
    config_path: Path


def parse_java_command(arguments: Sequence[str]) -> JavaCommand:
    """The ``-D`` properties and the ``zoo.cfg`` of a harness's ``java … QuorumPeerMain cfg``."""
    args = list(arguments)
    if MAIN_CLASS not in args or args.index(MAIN_CLASS) != len(args) - 2:
        raise LaunchError(f"expected java … {MAIN_CLASS} zoo.cfg, got {args}")
    properties: list[tuple[str, str]] = []
    for arg in args[: args.index(MAIN_CLASS)]:
        if arg.startswith("-D"):
            key, _, value = arg[2:].partition("=")
            properties.append((key, value))
    return JavaCommand(tuple(args), tuple(properties), Path(args[-1]))


def settings_from_properties(properties: Sequence[tuple[str, str]]) -> list[str]:
    """The ``-D`` system properties that are ZooKeeper server settings, as ``zkref serve``
    arguments (``-DNAME=VALUE``, as java takes them)."""
    return [
        f"-D{key}={value}"
        for key, value in properties
        if key not in _NOT_SETTINGS and (key.startswith(_SETTING_PREFIXES) or key in _SETTING_NAMES)
    ]


def apache_config(harness_config: str) -> str:
    """The harness's zoo.cfg with every listener on 127.0.0.1 (later keys win in a
    properties file)."""
    return harness_config.rstrip("\n") + "\n" + "\n".join(LOOPBACK_LINES) + "\n"


def zkref_config(harness_config: str, profile: str) -> str:
    """The zoo.cfg ``zkref serve`` reads: the harness's, loopback, profile."""
    lines = [*LOOPBACK_LINES, f"zkref.profile={profile}"]
    return harness_config.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def zkref_command(command: JavaCommand, config_path: Path) -> list[str]:
    """``python -m server serve`` on ``config_path`` with the harness's settings."""
    settings = settings_from_properties(command.system_properties)
    return [sys.executable, "-m", "server", "serve", "--config", str(config_path), *settings]


def _redirect_output(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: Sequence[str]) -> int:
    server = os.environ.get("ZKREF_KAZOO_SERVER", "")
    command = parse_java_command(argv)
    working = command.config_path.parent
    harness_config = command.config_path.read_text(encoding="utf-8")
    pid_dir = os.environ.get("ZKREF_KAZOO_PID_DIR")
    if pid_dir:
        Path(pid_dir, str(os.getpid())).write_text(str(working), encoding="utf-8")
    if server == "apache":
        real_java = os.environ["ZKREF_KAZOO_REAL_JAVA"]
        config_path = working / "zoo-apache.cfg"
        config_path.write_text(apache_config(harness_config), encoding="utf-8")
        _redirect_output(working / "java.out")
        args = [*command.arguments[:-1], str(config_path)]
        os.execv(real_java, [real_java, *args])
    if server == "zkref":
        profile = os.environ.get("ZKREF_KAZOO_PROFILE", "3.8")
        config_path = working / "zoo-zkref.cfg"
        config_path.write_text(zkref_config(harness_config, profile), encoding="utf-8")
        _redirect_output(working / "zookeeper.log")
        arguments = zkref_command(command, config_path)
        os.execv(arguments[0], arguments)
    raise LaunchError(f"ZKREF_KAZOO_SERVER={server!r}: expected apache or zkref")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
