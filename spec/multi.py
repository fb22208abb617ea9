"""Chapter: multi — several writes, all or nothing, under one zxid.

Rules
-----
* A multi carries create (any mode), delete, setData and check sub-ops. Anything else
  (a read, a nested multi, ...) makes the whole request malformed: MARSHALLINGERROR, and
  because the server has already taken a zxid for it, the zxid is used up. So does, in 3.9,
  a create sub-op whose flags are not a create mode (3.8 fails that sub-op BADARGUMENTS).
* Sub-ops are checked in order, each against the tree as the earlier sub-ops left it
  (create ``/x`` then ``/x/y`` then delete both works). The opcode of a create sub-op comes
  from its flags: container flags → createContainer, TTL flags → createTTL; otherwise 3.9
  keeps the opcode sent (create, create2 or createContainer) and 3.8 uses create.
* If every sub-op passes, all are applied under the multi's single zxid and their watches
  fire in sub-op order (create then delete of a watched path in one multi: the exist watch
  sees only NodeCreated, and is then used up). The reply lists one result per sub-op:
  create → path (3.8: path only for create and create2; 3.9: create2 gives path and stat;
  createContainer/createTTL always give path and stat), delete → empty, setData → stat,
  check → empty.
* If a sub-op fails, nothing is applied, nothing fires, and the zxid is still used. The
  reply header says OK (err 0); the results say what happened: sub-ops before the failing
  one report ``ErrorResult(OK)``, the failing one its code, later ones
  RUNTIMEINCONSISTENCY (they are not checked at all). Clients must look at the results.
* A sub-op that the server cannot process at all (``spec.errors.MalformedRequest``: a null
  field in an ACL entry, or a create sub-op sent as create, create2 or createContainer whose
  flags are a TTL mode, which Apache reads as a createTTL without a TTL and fails to cast)
  fails the whole multi instead: MARSHALLINGERROR in the header, no results, zxid used.
* An empty multi succeeds with no results and takes a zxid.
* multiRead carries getData and getChildren only (else MARSHALLINGERROR, no zxid); each read
  succeeds or fails on its own (``ErrorResult`` with its code), with no atomicity, and none
  sets a watch: the server drops the sub-requests' watch flags.

Source: ``PrepRequestProcessor.pRequestHelper`` (multi), ``DataTree.processTxn`` (multi
results), ``FinalRequestProcessor`` (multi and multiRead replies), ``MultiOperationRecord``;
ZOOKEEPER-4026.
"""

from __future__ import annotations

from spec import tree
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.events import WatchEvent
from spec.modes import CreateMode, multi_create_opcode
from spec.opcodes import OpCode
from spec.profiles import Profile
from spec.requests import (
    Check,
    CheckResult,
    Create,
    CreateResult,
    Delete,
    DeleteResult,
    ErrorResult,
    GetChildren,
    GetChildrenResult,
    GetData,
    GetDataResult,
    MultiResponse,
    Operation,
    OpResult,
    SetData,
    SetDataResult,
)
from spec.state import Session, State

MULTI_OPS = (Create, Delete, SetData, Check)
MULTI_READ_OPS = (GetData, GetChildren)


def is_well_formed(ops: tuple[Operation, ...], profile: Profile) -> bool:
    """Whether every sub-op may appear in a multi (``MultiOperationRecord.deserialize``)."""
    for op in ops:
        if not isinstance(op, MULTI_OPS):
            return False
        # 3.9 checks the flags of create, create2 and createContainer sub-ops while reading
        # them; a createTTL sub-op with bad flags is read as a plain create (see profiles).
        bad_flags = (
            isinstance(op, Create)
            and op.opcode != OpCode.createTTL
            and op.flags not in CreateMode._value2member_map_
        )
        if bad_flags and profile.multi_rejects_bad_create_flags:
            return False
    return True


def _create_opcode(state: State, op: Create) -> OpCode:
    if op.flags not in CreateMode._value2member_map_:
        return OpCode.create  # 3.8 only: the create then fails BADARGUMENTS on its flags
    derived = multi_create_opcode(CreateMode(op.flags))
    if derived != OpCode.create or not state.config.profile.multi_create2_result:
        return derived
    return op.opcode


def _run(
    state: State, session: Session, op: Operation, zxid: int, events: list[WatchEvent]
) -> OpResult:
    if isinstance(op, Create):
        opcode = _create_opcode(state, op)
        if opcode == OpCode.createTTL and op.opcode != OpCode.createTTL:
            # Op.create re-derives createTTL from the flags but keeps the CreateRequest, which
            # PrepRequestProcessor casts to a CreateTTLRequest.
            raise MalformedRequest("create sub-op with TTL flags but no TTL")
        applied = tree.create(state, session, op, opcode, zxid, events)
        return CreateResult(applied.path, applied.stat if opcode != OpCode.create else None)
    if isinstance(op, Delete):
        tree.delete(state, session, op, zxid, events)
        return DeleteResult()
    if isinstance(op, SetData):
        applied = tree.set_data(state, session, op, zxid, events)
        assert applied.stat is not None
        return SetDataResult(applied.stat)
    if isinstance(op, Check):
        tree.check(state, session, op)
        return CheckResult()
    raise AssertionError(f"not a multi sub-op: {op!r}")


def multi(
    state: State, session: Session, ops: tuple[Operation, ...], zxid: int
) -> tuple[State, MultiResponse, list[WatchEvent]]:
    """Run a well-formed multi; returns the state to keep, the response and the events.

    Raises ``MalformedRequest`` when a sub-op checked before any failure is one.
    """
    scratch = state.clone()
    events: list[WatchEvent] = []
    results: list[OpResult] = []
    for index, op in enumerate(ops):
        try:
            results.append(_run(scratch, session, op, zxid, events))
        except MalformedRequest:
            raise
        except ZooKeeperError as error:
            failed: list[OpResult] = [ErrorResult(Code.OK)] * index
            failed.append(ErrorResult(error.code))
            failed.extend([ErrorResult(Code.RUNTIMEINCONSISTENCY)] * (len(ops) - index - 1))
            return state, MultiResponse(tuple(failed)), []
    return scratch, MultiResponse(tuple(results)), events


def multi_read(state: State, session: Session, ops: tuple[Operation, ...]) -> MultiResponse:
    """Run independent reads; each fails or succeeds on its own."""
    results: list[OpResult] = []
    for op in ops:
        try:
            # The server rebuilds each read without its watch flag (Op.getData(path)).
            if isinstance(op, GetData):
                data, stat = tree.get_data(state, session, GetData(op.path, False))
                results.append(GetDataResult(data, stat))
            elif isinstance(op, GetChildren):
                children, _ = tree.get_children(state, session, GetChildren(op.path, False))
                results.append(GetChildrenResult(children))
            else:
                raise AssertionError(f"not a multiRead sub-op: {op!r}")
        except ZooKeeperError as error:
            results.append(ErrorResult(error.code))
    return MultiResponse(tuple(results))
