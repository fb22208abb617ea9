"""Server configuration: a ZooKeeper operator's ``zoo.cfg`` and command-line flags, checked.

Owns ``ServerConfig`` (everything the shell needs: address, limits, 4lw whitelist) and its
mapping onto ``spec.state.Config`` (what the core needs, including the profile). Reads
``zoo.cfg`` the way Apache ZooKeeper does: a Java properties file (``key=value``, ``key:value`` or
``key value``; ``#`` and ``!`` comment lines; a trailing backslash continues a line; values
trimmed), then ``QuorumPeerConfig.parseProperties`` picks the keys it knows. Keys we know
but do not need in standalone are accepted with an info line; keys nobody knows are accepted
with a warning line (Apache ZooKeeper turns them into ``zookeeper.<key>`` system properties,
so a typo goes unnoticed there too). A value that makes no sense is a ``ConfigError`` saying
which key, which line and what is allowed.

Must not open sockets or read clocks: this module turns text into values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reference.jute import JUTE_MAXBUFFER
from spec.profiles import PROFILES, V3_9, Profile
from spec.state import Config

log = logging.getLogger("zkref.config")

# Every four-letter word we answer (``FourLetterCommands.cmd2String``, less icfg/sysp).
FOUR_LETTER_WORDS = frozenset(
    {
        "conf",
        "cons",
        "crst",
        "dirs",
        "dump",
        "envi",
        "gtmk",
        "isro",
        "mntr",
        "ruok",
        "srst",
        "srvr",
        "stat",
        "stmk",
        "wchc",
        "wchp",
        "wchs",
    }
)
DEFAULT_FOUR_LETTER_WHITELIST = frozenset({"srvr"})

# Apache ZooKeeper's globalOutstandingLimit: replies waiting for durability before the
# server stops reading from clients.
OUTSTANDING_REQUESTS_MAX = 1000
# ... and the bytes those waiting replies may hold.
OUTSTANDING_BYTES_MAX = 64 << 20
# A connection stops being read once this many bytes wait in its send buffer, and is closed
# once this many more are waiting (a client that never reads its socket).
CLIENT_SEND_BUFFER_BYTES_HIGH = 1 << 20
CLIENT_SEND_BUFFER_BYTES_MAX = 64 << 20
# clientPortListenBacklog unset (-1) or not positive: the listen backlog Java's
# ServerSocket.bind picks, as Apache ZooKeeper binds (NIOServerCnxnFactory.configure).
LISTEN_BACKLOG_DEFAULT = 50


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range; the message says which."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What one standalone zkref server is told (zoo.cfg names in comments).

    Every default is Apache ZooKeeper 3.8's (``QuorumPeerConfig``, ``ZooKeeperServer``,
    ``ContainerManager``, ``EphemeralType``; ``spec.state.Config`` lists them): tickTime 3000,
    TTL nodes off, containers checked every 60 s, ``srvr`` the only four-letter word. The
    bounds Apache ZooKeeper does not have (send buffers, outstanding bytes) protect the
    server from clients that never read, and change nothing a well-behaved client sees.
    """

    host: str = "127.0.0.1"  # clientPortAddress
    port: int = 2181  # clientPort (0: any free port)
    data_dir: Path | None = None  # dataDir
    tick_time_ms: int = 3000  # tickTime (ZooKeeperServer.DEFAULT_TICK_TIME)
    min_session_timeout_ms: int | None = None  # minSessionTimeout (default 2 ticks)
    max_session_timeout_ms: int | None = None  # maxSessionTimeout (default 20 ticks)
    max_client_connections_per_ip: int = 60  # maxClientCnxns (0: no limit)
    jute_max_buffer: int = JUTE_MAXBUFFER  # jute.maxbuffer
    four_letter_whitelist: frozenset[str] = DEFAULT_FOUR_LETTER_WHITELIST  # 4lw.commands...
    listen_backlog: int = -1  # clientPortListenBacklog (-1: LISTEN_BACKLOG_DEFAULT)
    outstanding_requests_max: int = OUTSTANDING_REQUESTS_MAX  # globalOutstandingLimit
    outstanding_bytes_max: int = OUTSTANDING_BYTES_MAX
    container_check_interval_ms: int = 60_000  # znode.container.checkIntervalMs
    container_max_never_used_interval_ms: int = 0  # znode.container.maxNeverUsedIntervalMs
    extended_types_enabled: bool = False  # zookeeper.extendedTypesEnabled (TTL nodes)
    super_digest: str | None = None  # zookeeper.DigestAuthenticationProvider.superDigest
    client_send_buffer_bytes_high: int = CLIENT_SEND_BUFFER_BYTES_HIGH
    client_send_buffer_bytes_max: int = CLIENT_SEND_BUFFER_BYTES_MAX
    snap_count: int = 100_000  # snapCount: txns between two snapshots
    snap_retain_count: int = 3  # autopurge.snapRetainCount (3 at least)
    profile: Profile = V3_9  # zkref.profile: the release line whose behaviour is served
    unknown_keys: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, "clientPort", self.port, "0..65535")
        _check(self.tick_time_ms > 0, "tickTime", self.tick_time_ms, "a positive number of ms")
        _check(
            self.max_client_connections_per_ip >= 0,
            "maxClientCnxns",
            self.max_client_connections_per_ip,
            "0 (no limit) or more",
        )
        _check(self.jute_max_buffer > 0, "jute.maxbuffer", self.jute_max_buffer, "positive")
        _check(
            self.outstanding_requests_max > 0,
            "globalOutstandingLimit",
            self.outstanding_requests_max,
            "positive",
        )
        _check(
            self.outstanding_bytes_max > 0,
            "outstanding bytes bound",
            self.outstanding_bytes_max,
            "positive",
        )
        _check(self.snap_count > 0, "snapCount", self.snap_count, "a positive number of txns")
        _check(
            self.snap_retain_count >= 3,
            "autopurge.snapRetainCount",
            self.snap_retain_count,
            "3 or more",
        )
        _check(
            self.container_check_interval_ms > 0,
            "znode.container.checkIntervalMs",
            self.container_check_interval_ms,
            "positive",
        )
        _check(
            0 < self.client_send_buffer_bytes_high <= self.client_send_buffer_bytes_max,
            "client send buffer bounds",
            (self.client_send_buffer_bytes_high, self.client_send_buffer_bytes_max),
            "0 < high <= max",
        )
        minimum, maximum = (
            self.min_session_timeout_ms_effective,
            self.max_session_timeout_ms_effective,
        )
        if minimum > maximum:
            raise ConfigError(
                f"minSessionTimeout ({minimum} ms) must not be larger than maxSessionTimeout "
                f"({maximum} ms)"
            )

    @property
    def min_session_timeout_ms_effective(self) -> int:
        m = self.min_session_timeout_ms
        return 2 * self.tick_time_ms if m is None or m < 0 else m

    @property
    def max_session_timeout_ms_effective(self) -> int:
        m = self.max_session_timeout_ms
        return 20 * self.tick_time_ms if m is None or m < 0 else m

    @property
    def listen_backlog_effective(self) -> int:
        """The backlog the client port listens with: ``clientPortListenBacklog`` if positive."""
        return self.listen_backlog if self.listen_backlog > 0 else LISTEN_BACKLOG_DEFAULT

    @property
    def client_address(self) -> str:
        return f"{self.host}:{self.port}"

    def core_config(self, start_time_ms: int) -> Config:
        """The core's ``spec.state.Config`` for a server started at ``start_time_ms``."""
        return Config(
            tick_time_ms=self.tick_time_ms,
            min_session_timeout_ms=self.min_session_timeout_ms,
            max_session_timeout_ms=self.max_session_timeout_ms,
            server_id=0,
            start_time_ms=start_time_ms,
            extended_types_enabled=self.extended_types_enabled,
            container_check_interval_ms=self.container_check_interval_ms,
            container_max_never_used_interval_ms=self.container_max_never_used_interval_ms,
            super_digest=self.super_digest,
            reconfig_enabled=False,
            jute_max_buffer=self.jute_max_buffer,
            profile=self.profile,
        )

    def with_overrides(self, **changes: Any) -> ServerConfig:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is not allowed: expected {allowed}")


def parse_four_letter_whitelist(text: str) -> frozenset[str]:
    """``4lw.commands.whitelist`` as ``FourLetterCommands.isEnabled`` reads it.

    Comma-separated, trimmed; ``*`` enables every command; ``srvr`` is always enabled
    (``zkServer.sh status`` depends on it). Unknown words are ignored with a warning.
    """
    enabled = {"srvr"}
    for item in text.split(","):
        word = item.strip()
        if word == "*":
            return FOUR_LETTER_WORDS
        if not word:
            continue
        if word in FOUR_LETTER_WORDS:
            enabled.add(word)
        else:
            log.warning("4lw.commands.whitelist: unknown command %r ignored", word)
    return frozenset(enabled)


def parse_profile(name: str, where: str = "--profile") -> Profile:
    """The profile called ``name`` (``3.8`` or ``3.9``), or a ``ConfigError`` saying which exist."""
    profile = PROFILES.get(name.strip())
    if profile is None:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(f"{where}={name!r} is not a profile: expected one of {known}")
    return profile


# --- Java properties ---------------------------------------------------------------------

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u" and i + 6 <= len(text):
            try:
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            except ValueError:
                raise ConfigError(f"malformed \\uXXXX escape in {text!r}") from None
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Natural lines joined where one ends in an odd number of backslashes; comments and
    blank lines dropped. Returns (first line number, logical line)."""
    result: list[tuple[int, str]] = []
    pending: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip(" \t\f")
        if pending is None:
            if not line or line[0] in "#!":
                continue
            start = number
            pending = ""
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending += line[:-1]
            continue
        pending += line
        result.append((start, pending))
        pending = None
    if pending is not None:
        result.append((start, pending))
    return result


def parse_properties(text: str) -> list[tuple[int, str, str]]:
    """A Java properties file as (line number, key, value) in file order, values trimmed."""
    entries: list[tuple[int, str, str]] = []
    for number, line in _logical_lines(text):
        key_end = len(line)
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\":
                i += 2
                continue
            if ch in "=: \t\f":
                key_end = i
                break
            i += 1
        rest = line[key_end:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:]
        key = _unescape(line[:key_end])
        value = _unescape(rest.lstrip(" \t\f")).strip()
        entries.append((number, key, value))
    return entries


# --- zoo.cfg -------------------------------------------------------------------------------

# Keys Apache ZooKeeper knows that a standalone zkref accepts and does not use (yet).
_IGNORED_KEYS = frozenset(
    {
        "initLimit",
        "syncLimit",
        "dataLogDir",
        "standaloneEnabled",
        "reconfigEnabled",
        "admin.enableServer",
        "admin.serverAddress",
        "admin.serverPort",
        "autopurge.purgeInterval",
        "preAllocSize",
        "secureClientPort",
        "secureClientPortAddress",
        "metricsProvider.className",
        "metricsProvider.httpPort",
        "quorumListenOnAllIPs",
        "electionAlg",
        "peerType",
        "localSessionsEnabled",
        "localSessionsUpgradingEnabled",
        "clientPortAddress.reuse",
        "readonlymode.enabled",
        "serverCnxnFactory",
    }
)


# zoo.cfg keys whose value is an integer taken as it is, and the ServerConfig field each sets.
_INTEGER_KEYS = {
    "clientPort": "port",
    "tickTime": "tick_time_ms",
    "maxClientCnxns": "max_client_connections_per_ip",
    "minSessionTimeout": "min_session_timeout_ms",
    "maxSessionTimeout": "max_session_timeout_ms",
    "jute.maxbuffer": "jute_max_buffer",
    "globalOutstandingLimit": "outstanding_requests_max",
    "znode.container.checkIntervalMs": "container_check_interval_ms",
    "znode.container.maxNeverUsedIntervalMs": "container_max_never_used_interval_ms",
    "snapCount": "snap_count",
}


def _integer(key: str, value: str, line: int) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ConfigError(f"line {line}: {key}={value!r} is not an integer") from None


def _boolean(key: str, value: str, line: int) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ConfigError(f"line {line}: {key}={value!r} is not true or false")


def parse_zoo_cfg(text: str, base: ServerConfig | None = None) -> ServerConfig:
    """``zoo.cfg`` text over ``base`` (default ``ServerConfig()``): the keys it sets win."""
    config = base or ServerConfig()
    changes: dict[str, Any] = {}
    unknown: list[str] = []
    for line, raw_key, value in parse_properties(text):
        # Apache ZooKeeper stores unknown keys as "zookeeper.<key>" system properties, so
        # operators write both spellings of the same setting.
        key = raw_key[len("zookeeper.") :] if raw_key.startswith("zookeeper.") else raw_key
        if key in _INTEGER_KEYS:
            changes[_INTEGER_KEYS[key]] = _integer(key, value, line)
        elif key == "clientPortAddress":
            changes["host"] = value
        elif key == "dataDir":
            changes["data_dir"] = Path(value)
        elif key == "4lw.commands.whitelist":
            changes["four_letter_whitelist"] = parse_four_letter_whitelist(value)
        elif key == "clientPortListenBacklog":
            changes["listen_backlog"] = _integer(key, value, line)
        elif key == "extendedTypesEnabled":
            changes["extended_types_enabled"] = _boolean(key, value, line)
        elif key == "autopurge.snapRetainCount":
            changes["snap_retain_count"] = max(3, _integer(key, value, line))
        elif key == "zkref.profile":
            changes["profile"] = parse_profile(value, f"line {line}: {key}")
        elif key == "DigestAuthenticationProvider.superDigest":
            changes["super_digest"] = value or None
        elif key in _IGNORED_KEYS or key.startswith("server.") or key.startswith("group."):
            log.info("zoo.cfg line %d: %s is not used by a standalone zkref server", line, key)
        else:
            log.warning("zoo.cfg line %d: unknown key %s accepted and ignored", line, raw_key)
            unknown.append(raw_key)
    changes["unknown_keys"] = tuple(unknown)
    try:
        return replace(config, **changes)
    except ConfigError as error:
        raise ConfigError(f"zoo.cfg: {error}") from None


def read_zoo_cfg(path: Path, base: ServerConfig | None = None) -> ServerConfig:
    """Read and parse a ``zoo.cfg`` file; a missing or unreadable file is a ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return parse_zoo_cfg(text, base)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
