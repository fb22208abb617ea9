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

A zoo.cfg that describes an ensemble is refused, naming its ``server.N`` lines, until zkref
runs ensembles: started from it, every server would run standalone and accept writes the
others never see (``_check_standalone`` states the rules, Apache's where they apply).

Security settings are read under Apache's names, from zoo.cfg or as system properties
(``apply_system_properties``, ``zkref serve -D``): ``authProvider.N`` (the ``sasl`` and
``x509`` providers), the JAAS file of ``java.security.auth.login.config`` and its section
(``zookeeper.sasl.serverconfig``; ``read_sasl_users`` reads it: ``server.jaas``), the
properties of SASL logins (``zookeeper.superUser``, ``allowSaslFailedClients``, ...), and
``secureClientPort`` with the ``ssl.*`` settings (``server.tls``). A security setting zkref
cannot honour is refused with an error naming it, never accepted and ignored: a server that
looks protected and is not is worse than one that does not start.

Must not open sockets or read clocks: this module turns text into values (and reads the
files zoo.cfg names: ``myid``, the JAAS file).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reference.jute import JUTE_MAXBUFFER
from reference.quorum.peer import PeerConfig
from server.jaas import JaasError, parse_jaas, server_users
from server.tls import DEFAULT_TLS, TlsError, TlsSettings, parse_client_auth
from spec.acl import PROVIDER_SCHEMES, AuthProviders, SaslSettings
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
# serverCnxnFactory: Apache's NIO factory (the default) cannot serve TLS; Netty's can.
NIO_CONNECTION_FACTORY = "org.apache.zookeeper.server.NIOServerCnxnFactory"
NETTY_CONNECTION_FACTORY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
# authProvider.N: the provider classes zkref has, by the scheme each one serves.
AUTH_PROVIDER_CLASSES = {
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider": "ip",
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider": "digest",
    "org.apache.zookeeper.server.auth.SASLAuthenticationProvider": "sasl",
    "org.apache.zookeeper.server.auth.X509AuthenticationProvider": "x509",
}
JAAS_CONFIG_PROPERTY = "java.security.auth.login.config"
DEFAULT_SASL_LOGIN_CONTEXT = "Server"  # ZooKeeperSaslServer.DEFAULT_LOGIN_CONTEXT_NAME
SASL_NONCE_SECRET_BYTES = 32


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
    # reconfigEnabled: a standalone server answers reconfig UNIMPLEMENTED when true,
    # RECONFIGDISABLED when false (PrepRequestProcessor.pRequest2Txn, case reconfig).
    reconfig_enabled: bool = False
    # digest.enabled (zookeeper.digest.enabled): an ensemble's leader puts its tree's digest
    # in each proposal and its followers compare (reference.quorum.apache_digest).
    digest_enabled: bool = True
    # quorumSync (zkref only, off by default): in an ensemble, the leader answers a sync only
    # after a quorum confirmed it still leads, so sync-then-read is linearizable
    # (spec.ensemble; spec/DIVERGENCES.md). Apache ZooKeeper has no such key.
    quorum_sync: bool = False
    client_send_buffer_bytes_high: int = CLIENT_SEND_BUFFER_BYTES_HIGH
    client_send_buffer_bytes_max: int = CLIENT_SEND_BUFFER_BYTES_MAX
    snap_count: int = 100_000  # snapCount: txns between two snapshots
    snap_retain_count: int = 3  # autopurge.snapRetainCount (3 at least)
    profile: Profile = V3_9  # zkref.profile: the release line whose behaviour is served
    # An ensemble: the server.N lines (empty: standalone), this server's id (dataDir/myid)
    # and the limits, in ticks, for a follower to connect and sync (initLimit) and to stay
    # in touch (syncLimit). Apache ZooKeeper has no default for either: an ensemble's
    # zoo.cfg must set them.
    servers: tuple[QuorumServer, ...] = ()
    my_id: int = 0
    init_limit: int = 0
    sync_limit: int = 0
    # TLS: secureClientPort (None: no secure port; 0: any free port), its address (default:
    # the client port's), the ssl.* settings, and the connection factory, which must be
    # Netty's for a secure port (serverCnxnFactory).
    secure_port: int | None = None
    secure_host: str | None = None
    tls: TlsSettings = DEFAULT_TLS
    connection_factory: str = NIO_CONNECTION_FACTORY
    # Authentication providers added by authProvider.N (by scheme), and their settings:
    # zookeeper.X509AuthenticationProvider.superUser, zookeeper.letAnySaslUserDoX.
    auth_provider_schemes: frozenset[str] = frozenset()
    x509_super_user: str | None = None
    sasl_any_user: str | None = None
    # SASL: the JAAS file (java.security.auth.login.config) and its section
    # (zookeeper.sasl.serverconfig); the DIGEST-MD5 users read from it (None: no SASL;
    # read_sasl_users fills them in); the properties of a login.
    jaas_config: Path | None = None
    sasl_login_context: str = DEFAULT_SASL_LOGIN_CONTEXT
    sasl_users: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    # zookeeper.SASLAuthenticationProvider.superPassword
    sasl_super_password: str | None = field(default=None, repr=False)
    sasl_super_users: frozenset[str] = frozenset()  # zookeeper.superUser[.*]
    allow_sasl_failed_clients: bool = False  # zookeeper.allowSaslFailedClients
    kerberos_remove_host: bool = False  # zookeeper.kerberos.removeHostFromPrincipal
    kerberos_remove_realm: bool = False  # zookeeper.kerberos.removeRealmFromPrincipal
    unknown_keys: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        _check(0 <= self.port <= 65535, "clientPort", self.port, "0..65535")
        if self.secure_port is not None:
            _check(0 <= self.secure_port <= 65535, "secureClientPort", self.secure_port, "0..65535")
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

    @property
    def secure_host_effective(self) -> str:
        """Where the secure port listens: ``secureClientPortAddress``, else where the client
        port does."""
        return self.host if self.secure_host is None else self.secure_host

    @property
    def auth_providers(self) -> AuthProviders:
        """The providers the server runs: ip and digest, those ``authProvider.N`` adds, and
        x509 when there is a secure port (``QuorumPeerConfig.configureSSLAuth``)."""
        schemes = PROVIDER_SCHEMES | self.auth_provider_schemes
        if self.secure_port is not None:
            schemes |= {"x509"}
        return AuthProviders(schemes, self.sasl_any_user, self.x509_super_user)

    def sasl_settings(self) -> SaslSettings | None:
        """The SASL the server runs (None: no JAAS section), with a fresh nonce secret."""
        if self.sasl_users is None:
            return None
        return SaslSettings(
            users=self.sasl_users,
            nonce_secret=secrets.token_bytes(SASL_NONCE_SECRET_BYTES),
            super_password=self.sasl_super_password,
            super_users=self.sasl_super_users,
            allow_failed_clients=self.allow_sasl_failed_clients,
            remove_host_from_principal=self.kerberos_remove_host,
            remove_realm_from_principal=self.kerberos_remove_realm,
        )

    @property
    def is_ensemble(self) -> bool:
        return bool(self.servers)

    def server(self, sid: int) -> QuorumServer:
        for server in self.servers:
            if server.sid == sid:
                return server
        raise KeyError(sid)

    def check_secure_port(self) -> None:
        """A secure port's settings agree (``QuorumPeerConfig.parse``, and the connection
        factory Apache ZooKeeper would start): checked once every source has been read,
        since zoo.cfg and system properties each set some of them."""
        if self.secure_port is None:
            if self.secure_host is not None:
                raise ConfigError("secureClientPortAddress is set but secureClientPort is not set")
            return
        if self.connection_factory != NETTY_CONNECTION_FACTORY:
            # NIOServerCnxnFactory.configure: "SSL isn't supported in NIOServerCnxn".
            raise ConfigError(
                f"secureClientPort needs serverCnxnFactory={NETTY_CONNECTION_FACTORY}, as in "
                "Apache ZooKeeper, whose NIO connection factory cannot serve TLS"
            )

    def check_ensemble(self) -> None:
        """An ensemble's configuration is whole: a data directory, this server's id among the
        server lines, and both limits set (``QuorumPeerConfig``'s checks)."""
        if not self.servers:
            return
        if self.data_dir is None:
            raise ConfigError("an ensemble needs dataDir (where myid, the log and epochs are)")
        ids = [s.sid for s in self.servers]
        if self.my_id not in ids:
            raise ConfigError(
                f"myid {self.my_id} is not one of the server.N lines ({', '.join(map(str, ids))})"
            )
        for key, value in (("initLimit", self.init_limit), ("syncLimit", self.sync_limit)):
            if value <= 0:
                raise ConfigError(f"{key} is not set: an ensemble needs it (ticks, e.g. 10 and 5)")

    def peer_config(self) -> PeerConfig:
        """The quorum peer's configuration (``reference.quorum.peer``)."""
        self.check_ensemble()
        return PeerConfig(
            my_id=self.my_id,
            voters=tuple(s.sid for s in self.servers),
            tick_time_ms=self.tick_time_ms,
            init_limit=self.init_limit,
            sync_limit=self.sync_limit,
            quorum_config=self.quorum_config_text(),
            digest_enabled=self.digest_enabled,
        )

    def quorum_config_text(self) -> bytes:
        """``QuorumMaj.toString``: the server lines, then ``version=0`` (static config)."""
        lines = "".join(f"server.{s.sid}={s}\n" for s in self.servers)
        return (lines + "version=0").encode()

    def core_config(self, start_time_ms: int) -> Config:
        """The core's ``spec.state.Config`` for a server started at ``start_time_ms``."""
        return Config(
            tick_time_ms=self.tick_time_ms,
            min_session_timeout_ms=self.min_session_timeout_ms,
            max_session_timeout_ms=self.max_session_timeout_ms,
            server_id=self.my_id,
            start_time_ms=start_time_ms,
            extended_types_enabled=self.extended_types_enabled,
            container_check_interval_ms=self.container_check_interval_ms,
            container_max_never_used_interval_ms=self.container_max_never_used_interval_ms,
            super_digest=self.super_digest,
            reconfig_enabled=self.reconfig_enabled,
            jute_max_buffer=self.jute_max_buffer,
            quorum_sync=self.quorum_sync,
            profile=self.profile,
            auth_providers=self.auth_providers,
            sasl=self.sasl_settings(),
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
        "dataLogDir",
        "admin.enableServer",
        "admin.serverAddress",
        "admin.serverPort",
        "autopurge.purgeInterval",
        "preAllocSize",
        "metricsProvider.className",
        "metricsProvider.httpPort",
        "quorumListenOnAllIPs",
        "peerType",
        "localSessionsEnabled",
        "localSessionsUpgradingEnabled",
        "clientPortAddress.reuse",
        "readonlymode.enabled",
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


@dataclass(frozen=True, slots=True)
class QuorumServer:
    """One ``server.N`` line (``QuorumPeer.QuorumServer``)."""

    sid: int
    host: str
    quorum_port: int
    election_port: int
    observer: bool = False
    client_host: str | None = None
    client_port: int | None = None
    line: int = 0

    def __str__(self) -> str:
        """``QuorumServer.toString``: what the ensemble's configuration text holds."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{host}:{self.quorum_port}:{self.election_port}"
        text += ":observer" if self.observer else ":participant"
        if self.client_port is not None:
            client_host = self.client_host or "0.0.0.0"
            client_host = f"[{client_host}]" if ":" in client_host else client_host
            text += f";{client_host}:{self.client_port}"
        return text


def _port(text: str, what: str, where: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: {what} {text!r} is not a port number") from None
    if not 0 < port <= 65535:
        raise ConfigError(f"{where}: {what} {port} is not a port number (1..65535)")
    return port


def _split_host_port(text: str, where: str) -> tuple[str, list[str]]:
    """``host:rest...`` with IPv6 hosts in brackets; the host and the other fields."""
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ConfigError(f"{where}: unclosed [ in {text!r}")
        host, rest = text[1:close], text[close + 1 :]
        fields = rest.split(":")[1:] if rest.startswith(":") else []
        return host, fields
    parts = text.split(":")
    return parts[0], parts[1:]


def parse_server_line(sid_text: str, value: str, line: int) -> QuorumServer:
    """``server.N=host:quorumPort:electionPort[:participant|observer][;[host:]clientPort]``
    (``QuorumPeer.QuorumServer``); several addresses joined by ``|`` are not supported."""
    where = f"line {line}: server.{sid_text}"
    try:
        sid = int(sid_text)
    except ValueError:
        raise ConfigError(f"{where}: the server id {sid_text!r} is not a number") from None
    if not 0 < sid < 256:
        raise ConfigError(f"{where}: the server id must be 1..255 (it is a session id's top byte)")
    address, _, client = value.partition(";")
    if "|" in address:
        raise ConfigError(f"{where}: several addresses per server (|) are not supported")
    host, fields = _split_host_port(address, where)
    if not host or len(fields) not in (2, 3):
        raise ConfigError(
            f"{where}={value}: expected host:quorumPort:electionPort[:participant|observer]"
        )
    quorum_port = _port(fields[0], "quorum port", where)
    election_port = _port(fields[1], "election port", where)
    role = fields[2].strip().lower() if len(fields) == 3 else "participant"
    if role not in ("participant", "observer"):
        raise ConfigError(f"{where}: {role!r} is neither participant nor observer")
    client_host: str | None = None
    client_port: int | None = None
    if client.strip():
        client_host, client_fields = _split_host_port(client, where)
        if client_fields:
            client_port = _port(client_fields[0], "client port", where)
        else:
            client_port, client_host = _port(client_host, "client port", where), None
    return QuorumServer(
        sid, host, quorum_port, election_port, role == "observer", client_host, client_port, line
    )


def _check_ensemble(
    servers: list[QuorumServer], standalone_enabled: tuple[int, bool] | None
) -> bool:
    """Whether the ``server.N`` lines make an ensemble, and whether they make sense.

    As Apache ZooKeeper (``QuorumPeerConfig.isDistributed``): two or more participants, or
    one with standaloneEnabled=false, are an ensemble; exactly one participant (with
    standaloneEnabled true, the default) runs standalone, with a warning naming the line.
    Refused, with the lines named: observers (zkref has none), standaloneEnabled=false with
    no participant, two servers sharing an id or a host and port.
    """
    named = ", ".join(f"line {s.line}: server.{s.sid}={s}" for s in servers)
    observers = [s for s in servers if s.observer]
    if observers:
        raise ConfigError(f"observers are not supported by zkref ({named}); make them participants")
    seen: dict[int, QuorumServer] = {}
    ports: dict[tuple[str, int], str] = {}
    for server in servers:
        if server.sid in seen:
            raise ConfigError(f"line {server.line}: server.{server.sid} is given twice")
        seen[server.sid] = server
        for port, what in ((server.quorum_port, "quorum"), (server.election_port, "election")):
            owner = ports.get((server.host, port))
            if owner is not None:
                raise ConfigError(
                    f"line {server.line}: server.{server.sid}'s {what} port {server.host}:{port} "
                    f"is also {owner}"
                )
            ports[(server.host, port)] = f"server.{server.sid}'s {what} port"
    if standalone_enabled is not None and not standalone_enabled[1] and not servers:
        raise ConfigError(
            f"line {standalone_enabled[0]}: standaloneEnabled=false asks for an ensemble and "
            "there is no server.N line (Apache ZooKeeper refuses this too)"
        )
    if len(servers) >= 2 or (
        servers and standalone_enabled is not None and not standalone_enabled[1]
    ):
        if len(servers) % 2 == 0:
            log.warning(
                "an ensemble of %d servers tolerates no more failures than one of %d: "
                "use an odd number",
                len(servers),
                len(servers) - 1,
            )
        return True
    if servers:
        log.warning(
            "zoo.cfg %s is the only server: running standalone, as Apache ZooKeeper does "
            "when standaloneEnabled is true",
            named,
        )
    return False


# --- security settings -----------------------------------------------------------------

# ssl.keyStore.* / ssl.trustStore.* suffixes and the StoreSettings field each sets.
_STORE_FIELDS = {
    "location": "location",
    "password": "password",
    "passwordPath": "password_path",
    "type": "type_name",
}
# Settings Apache reads that have no effect on a server's client port (or without a
# setting zkref refuses): accepted, with an info line saying so.
_NO_EFFECT = {
    "ssl.hostnameVerification": "a server never verifies client host names",
    "ssl.handshakeDetectionTimeoutMillis": "used only with client.portUnification",
}


def _is_true(value: str) -> bool:
    """``Boolean.parseBoolean``/``getBoolean``: "true" in any case; anything else is false."""
    return value.strip().lower() == "true"


def _refuse_if_true(key: str, value: str, line: int, what: str) -> None:
    if _is_true(value):
        raise ConfigError(f"line {line}: {key}={value}: {what} is not supported by zkref")


class _Security:
    """The security settings of one zoo.cfg (or set of system properties), collected key
    by key and applied over a base configuration at the end."""

    def __init__(self) -> None:
        self.changes: dict[str, Any] = {}
        self.tls: dict[str, Any] = {}
        self.stores: dict[str, dict[str, Any]] = {"key_store": {}, "trust_store": {}}
        self.super_users: set[str] = set()
        self.schemes: set[str] = set()

    def read(self, key: str, value: str, line: int) -> bool:
        """Take ``key`` if it is a security setting; False if it is not one."""
        changes = self.changes
        if key == "secureClientPort":
            port = _integer(key, value, line)
            changes["secure_port"] = None if port == 0 else port  # 0: not set (Apache)
        elif key == "secureClientPortAddress":
            changes["secure_host"] = value
        elif key == "serverCnxnFactory":
            if value not in (NIO_CONNECTION_FACTORY, NETTY_CONNECTION_FACTORY):
                raise ConfigError(f"line {line}: serverCnxnFactory={value} is not supported")
            changes["connection_factory"] = value
        elif key.startswith("authProvider."):
            scheme = AUTH_PROVIDER_CLASSES.get(value)
            if scheme is None:
                known = ", ".join(AUTH_PROVIDER_CLASSES)
                raise ConfigError(
                    f"line {line}: {key}={value}: zkref has no such authentication provider "
                    f"(it has {known})"
                )
            self.schemes.add(scheme)
        elif key.startswith(("ssl.keyStore.", "ssl.trustStore.")):
            store, _, name = key[len("ssl.") :].partition(".")
            if name not in _STORE_FIELDS:
                return False
            field_name = _STORE_FIELDS[name]
            stored: Any = value
            if field_name in ("location", "password_path"):
                stored = Path(value) if value else None
            elif field_name == "type_name":
                stored = value or None
            self.stores["key_store" if store == "keyStore" else "trust_store"][field_name] = stored
        elif key == "ssl.clientAuth":
            try:
                self.tls["client_auth"] = parse_client_auth(value)
            except TlsError as error:
                raise ConfigError(f"line {line}: {error}") from None
        elif key == "ssl.protocol":
            self.tls["protocol"] = value
        elif key == "ssl.enabledProtocols":
            self.tls["enabled_protocols"] = tuple(value.split(","))
        elif key == "ssl.ciphersuites":
            self.tls["cipher_suites"] = tuple(value.split(","))
        elif key in _NO_EFFECT:
            log.info("zoo.cfg line %d: %s has no effect here: %s", line, key, _NO_EFFECT[key])
        elif key in ("ssl.crl", "ssl.ocsp"):
            _refuse_if_true(key, value, line, "certificate revocation checking")
        elif key == "ssl.context.supplier.class":
            raise ConfigError(f"line {line}: {key}: a Java SSLContext supplier cannot run in zkref")
        elif key == "ssl.authProvider":
            if value != "x509":
                raise ConfigError(
                    f"line {line}: {key}={value}: zkref authenticates TLS clients with the "
                    "x509 provider only"
                )
        elif key == "client.portUnification":
            _refuse_if_true(key, value, line, "TLS and plaintext on one port")
        elif key == "sslQuorum":
            _refuse_if_true(key, value, line, "TLS between ensemble servers")
        elif key.startswith("ssl.quorum.") or key == "sslQuorumReloadCertFiles":
            log.info("zoo.cfg line %d: %s is used only with sslQuorum", line, key)
        elif key == "sasl.serverconfig":
            changes["sasl_login_context"] = value
        elif key == "superUser" or key.startswith("superUser."):
            self.super_users.add(value)
        elif key == "SASLAuthenticationProvider.superPassword":
            changes["sasl_super_password"] = value
        elif key == "letAnySaslUserDoX":
            changes["sasl_any_user"] = value
        elif key == "X509AuthenticationProvider.superUser":
            changes["x509_super_user"] = value
        elif key == "allowSaslFailedClients":
            changes["allow_sasl_failed_clients"] = _is_true(value)
        elif key == "kerberos.removeHostFromPrincipal":
            changes["kerberos_remove_host"] = value == "true"
        elif key == "kerberos.removeRealmFromPrincipal":
            changes["kerberos_remove_realm"] = value == "true"
        elif key == "sessionRequireClientSASLAuth":
            _refuse_if_true(key, value, line, "requiring SASL of every session")
        elif key == "enforce.auth.enabled":
            _refuse_if_true(key, value, line, "enforcing authentication")
        elif key == "requireKerberosConfig":
            _refuse_if_true(key, value, line, "Kerberos")
        elif key == "DigestAuthenticationProvider.enabled":
            if not _is_true(value):
                raise ConfigError(
                    f"line {line}: {key}={value}: turning the digest provider off is not "
                    "supported by zkref"
                )
        elif key == "DigestAuthenticationProvider.digestAlg":
            if value.strip().upper() not in ("SHA1", "SHA-1"):
                raise ConfigError(
                    f"line {line}: {key}={value}: zkref computes digest ids with SHA1 only"
                )
        elif key == "security.auth_to_local":
            if value.strip() != "DEFAULT":
                raise ConfigError(
                    f"line {line}: {key}: Kerberos name rules are not supported by zkref "
                    "(only DEFAULT)"
                )
        else:
            return False
        return True

    def apply(self, config: ServerConfig) -> dict[str, Any]:
        """The changes to make to ``config``: the settings read, merged over its own."""
        changes = dict(self.changes)
        tls = config.tls
        stores = {
            name: replace(getattr(tls, name), **fields)
            for name, fields in self.stores.items()
            if fields
        }
        if self.tls or stores:
            changes["tls"] = replace(tls, **self.tls, **stores)
        if self.schemes:
            changes["auth_provider_schemes"] = config.auth_provider_schemes | self.schemes
        if self.super_users:
            changes["sasl_super_users"] = config.sasl_super_users | self.super_users
        return changes


def parse_zoo_cfg(text: str, base: ServerConfig | None = None) -> ServerConfig:
    """``zoo.cfg`` text over ``base`` (default ``ServerConfig()``): the keys it sets win.

    A zoo.cfg that describes an ensemble is a ``ConfigError`` (``_check_standalone``).
    """
    config = base or ServerConfig()
    changes: dict[str, Any] = {}
    unknown: list[str] = []
    servers: list[QuorumServer] = []
    standalone_enabled: tuple[int, bool] | None = None
    security = _Security()
    hierarchical: list[str] = []
    for line, raw_key, value in parse_properties(text):
        if raw_key.startswith("server."):
            # Not "zookeeper.server.N": Apache takes that for a system property, not a server.
            servers.append(parse_server_line(raw_key[len("server.") :], value, line))
            continue
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
        elif key == "reconfigEnabled":
            changes["reconfig_enabled"] = _boolean(key, value, line)
        elif key == "quorumSync":
            changes["quorum_sync"] = _boolean(key, value, line)
        elif key == "digest.enabled":
            changes["digest_enabled"] = _boolean(key, value, line)
        elif key == "autopurge.snapRetainCount":
            changes["snap_retain_count"] = max(3, _integer(key, value, line))
        elif key == "zkref.profile":
            changes["profile"] = parse_profile(value, f"line {line}: {key}")
        elif key == "DigestAuthenticationProvider.superDigest":
            changes["super_digest"] = value or None
        elif key == "standaloneEnabled":
            standalone_enabled = (line, _boolean(key, value, line))
        elif key == "dynamicConfigFile":
            # Apache reads the ensemble's server.N lines from that file; zkref does not.
            raise ConfigError(
                f"line {line}: dynamicConfigFile={value}: zkref does not read a dynamic "
                "configuration file; put the server.N lines in zoo.cfg"
            )
        elif key in ("initLimit", "syncLimit"):
            changes["init_limit" if key == "initLimit" else "sync_limit"] = _integer(
                key, value, line
            )
        elif key == "electionAlg":
            if _integer(key, value, line) != 3:
                raise ConfigError(f"line {line}: electionAlg={value}: only 3 (fast) exists")
        elif key.startswith("group.") or key.startswith("weight."):
            hierarchical.append(f"line {line}: {raw_key}")
        elif key in _IGNORED_KEYS:
            log.info("zoo.cfg line %d: %s is not used by a standalone zkref server", line, key)
        elif security.read(key, value, line):
            pass
        else:
            log.warning("zoo.cfg line %d: unknown key %s accepted and ignored", line, raw_key)
            unknown.append(raw_key)
    if _check_ensemble(servers, standalone_enabled):
        if hierarchical:
            # QuorumHierarchical: a quorum of groups, by weight. zkref counts a majority of
            # the servers, so it would not agree with the others on what is a quorum.
            raise ConfigError(
                f"{', '.join(hierarchical)}: hierarchical quorums are not supported by zkref "
                "(a majority of the server.N lines is its quorum)"
            )
        changes["servers"] = tuple(sorted(servers, key=lambda s: s.sid))
    elif hierarchical:
        log.info("zoo.cfg %s: not used by a standalone zkref server", ", ".join(hierarchical))
    changes["unknown_keys"] = tuple(unknown)
    changes.update(security.apply(config))
    try:
        return replace(config, **changes)
    except ConfigError as error:
        raise ConfigError(f"zoo.cfg: {error}") from None


def read_zoo_cfg(path: Path, base: ServerConfig | None = None) -> ServerConfig:
    """Read and parse a ``zoo.cfg`` file; a missing or unreadable file is a ``ConfigError``.

    An ensemble's server reads its id from ``dataDir/myid`` (``QuorumPeerConfig.setupMyId``).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        config = parse_zoo_cfg(text, base)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    if config.servers and config.data_dir is not None:
        config = replace(config, my_id=read_myid(config.data_dir))
    return config


# Zoo.cfg keys that QuorumPeerConfig reads itself: as ``-Dzookeeper.<key>`` Apache ZooKeeper
# never reads them (only keys it does not know become system properties).
_ZOO_CFG_ONLY_KEYS = frozenset(
    {
        "dataDir",
        "dataLogDir",
        "clientPort",
        "clientPortAddress",
        "secureClientPort",
        "secureClientPortAddress",
        "tickTime",
        "maxClientCnxns",
        "minSessionTimeout",
        "maxSessionTimeout",
        "initLimit",
        "syncLimit",
        "electionAlg",
        "standaloneEnabled",
        "reconfigEnabled",
        "dynamicConfigFile",
        "autopurge.snapRetainCount",
        "autopurge.purgeInterval",
        "clientPortListenBacklog",
        "localSessionsEnabled",
        "localSessionsUpgradingEnabled",
        "peerType",
        "sslQuorum",
        "quorumListenOnAllIPs",
        "metricsProvider.className",
    }
)
# System properties that are settings without the "zookeeper." prefix.
_UNPREFIXED_SETTINGS = ("jute.maxbuffer", "readonlymode.enabled", "znode.container.")


def parse_system_property(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``-DNAME=VALUE`` (a bare ``NAME`` is the empty value, as in Java)."""
    name, _, value = text.partition("=")
    if not name:
        raise ConfigError(f"-D{text}: expected NAME=VALUE")
    return name, value


def apply_system_properties(
    config: ServerConfig, properties: Sequence[tuple[str, str]]
) -> ServerConfig:
    """``config`` with the Java system properties a server started with ``-D`` would read.

    ``java.security.auth.login.config`` names the JAAS file; ``zookeeper.<key>`` (and the
    unprefixed ``jute.maxbuffer``, ``readonlymode.enabled``, ``znode.container.*``) are the
    settings zoo.cfg also takes, read the same way. A ``zookeeper.`` property that Apache
    only reads from zoo.cfg (``zookeeper.clientPort``) is a ``ConfigError``, as is a
    property that is no ZooKeeper setting: zkref runs no JVM to hand it to.
    """
    lines: list[str] = []
    for name, value in properties:
        if name == JAAS_CONFIG_PROPERTY:
            config = replace(config, jaas_config=Path(value) if value else None)
            continue
        if name.startswith("zookeeper."):
            if name[len("zookeeper.") :] in _ZOO_CFG_ONLY_KEYS:
                raise ConfigError(
                    f"-D{name}: Apache ZooKeeper reads {name[len('zookeeper.') :]} from zoo.cfg "
                    "only; put it there"
                )
        elif not name.startswith(_UNPREFIXED_SETTINGS):
            raise ConfigError(f"-D{name}: not a ZooKeeper server setting zkref knows")
        escaped = value.replace("\\", "\\\\")
        lines.append(f"{name}={escaped}")
    if not lines:
        return config
    try:
        return parse_zoo_cfg("\n".join(lines) + "\n", config)
    except ConfigError as error:
        raise ConfigError(f"system properties: {error}") from None


def read_sasl_users(config: ServerConfig) -> ServerConfig:
    """``config`` with the SASL users of its JAAS file's server section
    (``ServerCnxnFactory.configureSaslLogin``): no file named, or no such section, and the
    server runs no SASL; a file that cannot be read or parsed, or a section zkref cannot run,
    is a ``ConfigError``."""
    path = config.jaas_config
    if path is None:
        return config
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"{JAAS_CONFIG_PROPERTY}={path}: cannot read it ({error.strerror or error}); "
            "Apache ZooKeeper does not start either"
        ) from None
    try:
        users = server_users(parse_jaas(text), config.sasl_login_context)
    except JaasError as error:
        raise ConfigError(f"{path}: {error}") from None
    if users is None:
        log.info(
            "%s has no section %s: no SASL (as in Apache ZooKeeper)",
            path,
            config.sasl_login_context,
        )
    return replace(config, sasl_users=users)


def read_myid(data_dir: Path) -> int:
    """The number in ``dataDir/myid``; a ``ConfigError`` if it is missing or not a number."""
    path = data_dir / "myid"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"{path} is missing ({error.strerror or error}): an ensemble's server needs its id "
            "there, the N of its server.N line"
        ) from None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{path} holds {text!r}, not a server id") from None
