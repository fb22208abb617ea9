"""Chapter: the state — everything a ZooKeeper server knows that a client can observe.

Rules
-----
* The state is the znode tree, the session table, the watch tables, the last zxid, the
  clock, and the configuration (which includes the version profile).
* A fresh server holds four znodes, all with zero stats: ``/`` (empty data), ``/zookeeper``,
  ``/zookeeper/quota`` and ``/zookeeper/config`` (ACL ``world:anyone`` READ, empty data in
  standalone). They were added without counting as child creates, so a fresh root shows
  ``cversion = -1`` and ``/zookeeper`` shows ``-2`` (``spec.stat``). ``/zookeeper/config``
  shows ``aversion = -1``: its ACL is set with version -1 (``DataTree.addConfigNode``).
* A zxid is ``epoch << 32 | counter`` (``spec.zxid``). Each write, including a failed one,
  takes the next counter value of the current epoch.
* Values in the state are immutable (znodes, sessions); the containers holding them are
  copied by ``State.clone`` so that a transition never changes the state it was given.

Source: ``DataTree`` (constructor, ``addConfigNode``), ``ZxidUtils``, ``ZooKeeperServer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from spec.acl import (
    ACL,
    DEFAULT_AUTH_PROVIDERS,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    AuthProviders,
    Id,
    SaslSettings,
)
from spec.modes import NodeKind
from spec.paths import CONFIG, QUOTA, ROOT, ZOOKEEPER
from spec.profiles import V3_9, Profile
from spec.stat import Stat, client_cversion
from spec.zxid import make_zxid, zxid_counter, zxid_epoch


@dataclass(frozen=True, slots=True)
class Config:
    """Server settings that change what clients observe (zoo.cfg names in comments).

    Every default is Apache ZooKeeper 3.8's, so ``Config()`` is a stock server:

    * ``tickTime`` 3000 ms (``ZooKeeperServer.DEFAULT_TICK_TIME``; the sample zoo.cfg says
      2000, but a zoo.cfg without the key gets 3000), session timeouts bounded to 2 and 20
      ticks (``QuorumPeerConfig.parse``);
    * TTL nodes off: ``zookeeper.extendedTypesEnabled`` is false unless set, and every create
      of a TTL mode is answered UNIMPLEMENTED (``EphemeralType.extendedEphemeralTypesEnabled``,
      ``PrepRequestProcessor.validateCreateRequest``);
    * containers checked every 60 s, never-used containers kept
      (``ContainerManager``: ``znode.container.checkIntervalMs`` 60000,
      ``znode.container.maxNeverUsedIntervalMs`` 0);
    * no super user, ``reconfigEnabled`` false, ``jute.maxbuffer`` 0xfffff;
    * ``quorumSync`` false: zkref's own setting, which Apache ZooKeeper does not have. In an
      ensemble it makes sync a quorum round, so that sync-then-read is linearizable
      (``spec.ensemble``); one server is unchanged by it;
    * the ``ip`` and ``digest`` authentication providers only, and no SASL: a SASL token is
      answered OK with a null token (``spec.acl``: ``AuthProviders``, ``SaslSettings``).
    """

    tick_time_ms: int = 3000  # tickTime
    min_session_timeout_ms: int | None = None  # minSessionTimeout, default 2 ticks
    max_session_timeout_ms: int | None = None  # maxSessionTimeout, default 20 ticks
    server_id: int = 0  # myid; 0 in standalone
    # The clock when the server started; it seeds session ids, so it must not be 0.
    start_time_ms: int = 1_700_000_000_000
    extended_types_enabled: bool = False  # zookeeper.extendedTypesEnabled (TTL nodes)
    container_check_interval_ms: int = 60_000  # znode.container.checkIntervalMs
    container_max_never_used_interval_ms: int = 0  # znode.container.maxNeverUsedIntervalMs
    super_digest: str | None = None  # DigestAuthenticationProvider.superDigest
    reconfig_enabled: bool = False  # reconfigEnabled
    jute_max_buffer: int = 0xFFFFF  # jute.maxbuffer
    quorum_sync: bool = False  # quorumSync (zkref only; spec.ensemble, DIVERGENCES.md)
    profile: Profile = V3_9
    # authProvider.N, a secure client port, and the settings of the sasl and x509 providers
    auth_providers: AuthProviders = DEFAULT_AUTH_PROVIDERS
    # A JAAS Server section (java.security.auth.login.config): the server runs SASL.
    sasl: SaslSettings | None = None

    @property
    def min_timeout(self) -> int:
        m = self.min_session_timeout_ms
        return 2 * self.tick_time_ms if m is None or m < 0 else m

    @property
    def max_timeout(self) -> int:
        m = self.max_session_timeout_ms
        return 20 * self.tick_time_ms if m is None or m < 0 else m


@dataclass(frozen=True, slots=True)
class Znode:
    """A znode as the server stores it.

    ``child_creates`` is the stored ``cversion`` (creates of children ever); clients see
    ``2 * child_creates - numChildren``. ``ephemeral_owner`` is the owning session for
    ephemerals and 0 otherwise; ``ttl_ms`` is set for TTL nodes.
    """

    data: bytes | None
    acl: tuple[ACL, ...]
    czxid: int
    mzxid: int
    pzxid: int
    ctime: int
    mtime: int
    version: int = 0
    child_creates: int = 0
    aversion: int = 0
    kind: NodeKind = NodeKind.PERSISTENT
    ephemeral_owner: int = 0
    ttl_ms: int = 0
    children: frozenset[str] = frozenset()

    def stat(self) -> Stat:
        """The Stat a client sees (``DataNode.copyStat``)."""
        return Stat(
            czxid=self.czxid,
            mzxid=self.mzxid,
            ctime=self.ctime,
            mtime=self.mtime,
            version=self.version,
            cversion=client_cversion(self.child_creates, len(self.children)),
            aversion=self.aversion,
            ephemeralOwner=self.ephemeral_owner if self.kind is NodeKind.EPHEMERAL else 0,
            dataLength=0 if self.data is None else len(self.data),
            numChildren=len(self.children),
            pzxid=self.pzxid,
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A session and, while it has one, its connection's identity.

    ``expires_at`` is the tick-rounded deadline (``spec.sessions``). ``connected`` tells
    whether a connection is attached; watches and auth ids belong to that connection and
    are dropped with it.
    """

    session_id: int
    password: bytes
    timeout_ms: int
    expires_at: int
    connected: bool = True
    auth_ids: tuple[Id, ...] = ()
    client_address: str = "127.0.0.1"


class WatchMode:
    """How a watch behaves once triggered (``WatcherMode``)."""

    STANDARD = "standard"
    PERSISTENT = "persistent"
    PERSISTENT_RECURSIVE = "persistent_recursive"


# path -> session id -> modes set on that path by that session's connection
WatchTable = dict[str, dict[int, frozenset[str]]]


@dataclass
class State:
    """The whole observable state of one server (see module rules)."""

    config: Config
    now: int
    last_zxid: int
    nodes: dict[str, Znode]
    sessions: dict[int, Session] = field(default_factory=dict)
    data_watches: WatchTable = field(default_factory=dict)
    child_watches: WatchTable = field(default_factory=dict)
    next_session_id: int = 0
    next_container_check: int = 0

    def clone(self) -> State:
        """A copy that shares only immutable values with ``self``."""
        return replace(
            self,
            nodes=dict(self.nodes),
            sessions=dict(self.sessions),
            data_watches={p: dict(w) for p, w in self.data_watches.items()},
            child_watches={p: dict(w) for p, w in self.child_watches.items()},
        )

    @property
    def epoch(self) -> int:
        return zxid_epoch(self.last_zxid)

    def next_zxid(self) -> int:
        """Take the next zxid of the current epoch."""
        self.last_zxid = make_zxid(self.epoch, zxid_counter(self.last_zxid) + 1)
        return self.last_zxid


def _system_node(acl: tuple[ACL, ...], children: frozenset[str] = frozenset()) -> Znode:
    return Znode(data=b"", acl=acl, czxid=0, mzxid=0, pzxid=0, ctime=0, mtime=0, children=children)


def initial_state(config: Config | None = None, epoch: int = 0) -> State:
    """A freshly started server: the four system znodes, no sessions, zxid ``epoch:0``."""
    from spec.sessions import initial_session_id, signed64  # the sessions chapter owns them

    config = config or Config()
    nodes = {
        ROOT: _system_node(OPEN_ACL_UNSAFE, frozenset({"zookeeper"})),
        ZOOKEEPER: _system_node(OPEN_ACL_UNSAFE, frozenset({"quota", "config"})),
        QUOTA: _system_node(OPEN_ACL_UNSAFE),
        # addConfigNode sets its ACL with version -1, which DataTree.setACL stores as aversion.
        CONFIG: replace(_system_node(READ_ACL_UNSAFE), aversion=-1),
    }
    return State(
        config=config,
        now=config.start_time_ms,
        last_zxid=make_zxid(epoch, 0),
        nodes=nodes,
        next_session_id=signed64(initial_session_id(config.server_id, config.start_time_ms)),
        next_container_check=config.start_time_ms + config.container_check_interval_ms,
    )
