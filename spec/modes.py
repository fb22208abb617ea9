"""Chapter: create modes — persistent, ephemeral, sequential, container and TTL znodes.

Rules
-----
* ``flags`` of a create select the mode: 0 PERSISTENT, 1 EPHEMERAL, 2 PERSISTENT_SEQUENTIAL,
  3 EPHEMERAL_SEQUENTIAL, 4 CONTAINER, 5 PERSISTENT_WITH_TTL, 6 PERSISTENT_SEQUENTIAL_WITH_TTL.
  Any other value is BADARGUMENTS, checked before anything else.
* Which kind of znode is made depends on the *opcode* as well as the flags, because the
  opcode decides which transaction the server logs: create (1) and create2 (15) make an
  ephemeral node for ephemeral modes and a plain persistent node otherwise (flags 4 sent
  with create gives a persistent node, not a container); createContainer (19) always makes a
  container; createTTL (21) makes a TTL node. Inside multi the server re-derives the opcode
  from the flags (4 → createContainer, 5/6 → createTTL, else create).
* TTL: createTTL needs ``zookeeper.extendedTypesEnabled`` (else UNIMPLEMENTED); TTL modes need
  ``1 <= ttl <= 2**40 - 1`` ms, and a non-TTL mode must not carry a TTL (the non-TTL opcodes
  carry ttl = -1) — otherwise BADARGUMENTS. So TTL flags sent with create/create2 are
  BADARGUMENTS.
* Sequential: the name gets ``"%010d" % counter`` appended, where ``counter`` is the parent's
  *stored* child-create count (``spec.stat``: not the cversion clients see). Every child
  create of that parent, sequential or not, advances it; deletes do not. So names are
  unique and increasing per parent, and gaps appear when plain children are created.
  Two sequential creates in one multi get consecutive numbers. The counter is a Java int:
  past 2**31-1 ZooKeeper stops storing larger values (ZOOKEEPER-3249), so the same suffix
  would come again and the create fails NODEEXISTS; it is formatted as a signed number.
* Ephemeral znodes belong to the creating session (``ephemeralOwner``), vanish with it and
  cannot have children (NOCHILDRENFOREPHEMERALS). Containers and TTL nodes may have children.
* Containers are deleted by the server once they have had a child and have none left;
  TTL nodes once they have no children and were not modified for longer than their TTL
  (see ``spec.reaping``).

Source: ``CreateMode``, ``EphemeralType``, ``PrepRequestProcessor.pRequest2TxnCreate``,
``DataTree.processTxn``, ``MultiOperationRecord``; programmer's guide "Sequence Nodes",
"Container Nodes", "TTL Nodes".
"""

from __future__ import annotations

from enum import Enum, IntEnum

from spec.opcodes import OpCode

TTL_MAX_MS = (1 << 40) - 1


class CreateMode(IntEnum):
    """``CreateMode``: the ``flags`` of a create request."""

    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6

    @property
    def is_ephemeral(self) -> bool:
        return self in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL)

    @property
    def is_sequential(self) -> bool:
        return self in (
            CreateMode.PERSISTENT_SEQUENTIAL,
            CreateMode.EPHEMERAL_SEQUENTIAL,
            CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
        )

    @property
    def is_container(self) -> bool:
        return self is CreateMode.CONTAINER

    @property
    def is_ttl(self) -> bool:
        return self in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)


class NodeKind(Enum):
    """What a znode is, which decides how it may disappear."""

    PERSISTENT = "persistent"
    EPHEMERAL = "ephemeral"
    CONTAINER = "container"
    TTL = "ttl"


CREATE_OPCODES = frozenset(
    {OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL}
)


def node_kind_for(opcode: OpCode, mode: CreateMode) -> NodeKind:
    """The kind of znode a create makes, from the logged transaction type (see rules)."""
    if opcode == OpCode.createContainer:
        return NodeKind.CONTAINER
    if opcode == OpCode.createTTL:
        return NodeKind.TTL
    return NodeKind.EPHEMERAL if mode.is_ephemeral else NodeKind.PERSISTENT


def multi_create_opcode(mode: CreateMode) -> OpCode:
    """Inside multi, the opcode of a create sub-op comes from its flags."""
    if mode.is_container:
        return OpCode.createContainer
    if mode.is_ttl:
        return OpCode.createTTL
    return OpCode.create


def ttl_is_valid(mode: CreateMode, ttl: int) -> bool:
    """``EphemeralType.validateTTL``: TTL modes need 1..2**40-1; other modes no TTL."""
    if mode.is_ttl:
        return 0 < ttl <= TTL_MAX_MS
    return ttl < 0


def sequence_suffix(counter: int) -> str:
    """``String.format("%010d", counter)``: zero-padded to ten digits, sign first."""
    return f"{counter:010d}"
