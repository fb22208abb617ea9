"""Chapter: requests and replies — the client API as data.

Rules
-----
* The spec is driven by four kinds of input (``Input``): ``Connect`` (a handshake: a new
  session or a re-attach), ``Call`` (one request of a connected session, wrapping an
  ``Operation``), ``Disconnect`` (the connection of a session is gone; the session lives on
  until it expires) and ``Tick`` (time passes; sessions expire, containers and TTL nodes are
  reaped).
* Operations mirror the jute request records field for field (``zookeeper.jute``), named
  after the opcodes. ``data`` is ``bytes | None``: ZooKeeper keeps null and empty apart.
* Every input produces exactly one ``Reply`` or none (a refused handshake, a tick, a
  disconnect), plus watch events. A reply carries the reply-header ``zxid`` and ``err``, a
  ``body`` only when ``err`` is OK (multi: always). The ``Outcome`` says whether the server
  closes the connection afterwards.
* Reply-header zxid: a write's own zxid (also when it failed); for everything else the last
  zxid the server has applied; 0 for auth packets and SASL tokens; -1 for an unimplemented
  opcode. A ping's reply always carries xid -2, whatever xid the ping was sent with
  (``FinalRequestProcessor``), which is a matter for the wire (``reference.core``).
* Children lists come back in no particular order from ZooKeeper (a hash set); the spec
  returns them sorted and comparisons must treat them as sets.
* Null fields. The wire can carry null (length -1) in every string, buffer and vector field.
  The spec models the nulls a client library sends: null data, a null ACL list, null ``Id``
  fields in ACL entries (kazoo's ``CREATOR_ALL_ACL`` has a null id; ``spec.acl``), and the
  null scheme or credentials of an auth packet. Null paths and null watch lists no client
  library can send; ``reference.core`` answers them exactly as Apache ZooKeeper does (mostly
  MARSHALLINGERROR, see its docstring), and the raw-frame fuzzer
  (``tests/differential/test_frames_against_apache.py``) holds it to a real server.

Source: ``zookeeper.jute``; ``FinalRequestProcessor`` (reply bodies and header zxid);
``ZooKeeperServer.processPacket`` (auth replies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spec.acl import ACL
from spec.errors import Code
from spec.events import WatchEvent
from spec.opcodes import OpCode
from spec.stat import Stat

# --- operations -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create:
    """create (1), create2 (15), createContainer (19) or createTTL (21), chosen by ``opcode``."""

    path: str
    data: bytes | None
    acl: tuple[ACL, ...] | None
    flags: int
    opcode: OpCode = OpCode.create
    ttl: int = -1


@dataclass(frozen=True, slots=True)
class Delete:
    path: str
    version: int = -1


@dataclass(frozen=True, slots=True)
class Exists:
    path: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class GetData:
    path: str
    watch: bool = False


@dataclass(frozen=True, slots=True)
class SetData:
    path: str
    data: bytes | None
    version: int = -1


@dataclass(frozen=True, slots=True)
class GetACL:
    path: str


@dataclass(frozen=True, slots=True)
class SetACL:
    path: str
    acl: tuple[ACL, ...] | None
    version: int = -1


@dataclass(frozen=True, slots=True)
class GetChildren:
    """getChildren (8) or, with ``with_stat``, getChildren2 (12)."""

    path: str
    watch: bool = False
    with_stat: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """check (13): asserts a node's version. Only meaningful inside multi."""

    path: str
    version: int


@dataclass(frozen=True, slots=True)
class Sync:
    path: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class CloseSession:
    pass


@dataclass(frozen=True, slots=True)
class Multi:
    """multi (14): all of ``ops`` or none of them, under one zxid."""

    ops: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class MultiRead:
    """multiRead (22): independent getData / getChildren reads."""

    ops: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class AddAuth:
    """An auth packet (type 100, xid -4)."""

    scheme: str | None
    auth: bytes | None


@dataclass(frozen=True, slots=True)
class Sasl:
    """A SASL token (type 102), answered as a server without SASL configured does."""

    token: bytes | None


@dataclass(frozen=True, slots=True)
class SetWatches:
    """setWatches (101) / setWatches2 (105): re-arm watches after a reconnect."""

    relative_zxid: int
    data: tuple[str, ...] = ()
    exist: tuple[str, ...] = ()
    child: tuple[str, ...] = ()
    persistent: tuple[str, ...] = ()
    persistent_recursive: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddWatch:
    path: str
    mode: int


@dataclass(frozen=True, slots=True)
class RemoveWatches:
    path: str
    type: int


@dataclass(frozen=True, slots=True)
class CheckWatches:
    path: str
    type: int


@dataclass(frozen=True, slots=True)
class GetEphemerals:
    prefix_path: str


@dataclass(frozen=True, slots=True)
class GetAllChildrenNumber:
    path: str


@dataclass(frozen=True, slots=True)
class WhoAmI:
    pass


@dataclass(frozen=True, slots=True)
class Reconfig:
    joining_servers: str | None
    leaving_servers: str | None
    new_members: str | None
    cur_config_id: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A request whose opcode the server does not implement (or must not accept from clients)."""

    opcode: int


Operation = (
    Create
    | Delete
    | Exists
    | GetData
    | SetData
    | GetACL
    | SetACL
    | GetChildren
    | Check
    | Sync
    | Ping
    | CloseSession
    | Multi
    | MultiRead
    | AddAuth
    | Sasl
    | SetWatches
    | AddWatch
    | RemoveWatches
    | CheckWatches
    | GetEphemerals
    | GetAllChildrenNumber
    | WhoAmI
    | Reconfig
    | Unknown
)

# --- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """A ConnectRequest: ``session_id`` 0 asks for a new session, otherwise a re-attach."""

    timeout_ms: int
    session_id: int = 0
    password: bytes = bytes(16)
    last_zxid_seen: int = 0
    client_address: str = "127.0.0.1"
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """One request of the session's current connection."""

    session_id: int
    op: Operation


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The session's connection is gone (client closed it, or the network did)."""

    session_id: int


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock reaches ``now_ms`` (never moves back)."""

    now_ms: int


Input = Connect | Call | Disconnect | Tick

# --- replies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectResponse:
    timeout_ms: int
    session_id: int
    password: bytes
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class CreateResponse:
    path: str


@dataclass(frozen=True, slots=True)
class Create2Response:
    path: str
    stat: Stat


@dataclass(frozen=True, slots=True)
class StatResponse:
    """The body of exists, setData and setACL replies."""

    stat: Stat


@dataclass(frozen=True, slots=True)
class GetDataResponse:
    data: bytes | None
    stat: Stat


@dataclass(frozen=True, slots=True)
class GetACLResponse:
    acl: tuple[ACL, ...]
    stat: Stat


@dataclass(frozen=True, slots=True)
class GetChildrenResponse:
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetChildren2Response:
    children: tuple[str, ...]
    stat: Stat


@dataclass(frozen=True, slots=True)
class SyncResponse:
    path: str


@dataclass(frozen=True, slots=True)
class GetEphemeralsResponse:
    ephemerals: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetAllChildrenNumberResponse:
    total_number: int


@dataclass(frozen=True, slots=True)
class WhoAmIResponse:
    client_info: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AddWatchResponse:
    """addWatch answers an ``ErrorResponse{err=0}`` body (4 bytes)."""


@dataclass(frozen=True, slots=True)
class SaslResponse:
    """A SASL token back (``SetSASLResponse``); ``None`` when the server runs no SASL."""

    token: bytes | None


@dataclass(frozen=True, slots=True)
class Empty:
    """No body (delete, sync-less acknowledgements, auth, setWatches, close, ...)."""


# Results inside a multi / multiRead reply (``OpResult`` subclasses).


@dataclass(frozen=True, slots=True)
class CreateResult:
    """``opcode`` is create (path only) or create2 (path and stat)."""

    path: str
    stat: Stat | None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    pass


@dataclass(frozen=True, slots=True)
class SetDataResult:
    stat: Stat


@dataclass(frozen=True, slots=True)
class CheckResult:
    pass


@dataclass(frozen=True, slots=True)
class GetDataResult:
    data: bytes | None
    stat: Stat


@dataclass(frozen=True, slots=True)
class GetChildrenResult:
    children: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ErrorResult:
    err: Code


OpResult = (
    CreateResult | DeleteResult | SetDataResult | CheckResult | GetDataResult | GetChildrenResult
) | ErrorResult


@dataclass(frozen=True, slots=True)
class MultiResponse:
    results: tuple[OpResult, ...]


Body = (
    ConnectResponse
    | CreateResponse
    | Create2Response
    | StatResponse
    | GetDataResponse
    | GetACLResponse
    | GetChildrenResponse
    | GetChildren2Response
    | SyncResponse
    | GetEphemeralsResponse
    | GetAllChildrenNumberResponse
    | WhoAmIResponse
    | AddWatchResponse
    | SaslResponse
    | MultiResponse
    | Empty
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answers: the header's zxid and err, and the body if any."""

    zxid: int
    err: Code
    body: Body | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The observable result of one input: the reply (or None) and the events, in order.

    Events of a request are delivered before its reply (the writer's own watch events
    included); events of a tick or a disconnect stand alone.
    """

    reply: Reply | None
    events: tuple[WatchEvent, ...] = field(default_factory=tuple)
    # The server closes the connection after sending the reply (or without one).
    close: bool = False
    # The zxids this input consumed, in order (session expiries and reaping can use several).
    zxids: tuple[int, ...] = field(default_factory=tuple)
