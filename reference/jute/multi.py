"""multi (14) and multiRead (22): several sub-requests in one frame, several results back.

Layout (``MultiOperationRecord`` and ``MultiResponse`` in Apache ZooKeeper)
--------------------------------------------------------------------------
* Request body: for each sub-op ``MultiHeader{type, done=false, err=-1}`` then the sub-op's
  request record; then the terminator ``MultiHeader{type=-1, done=true, err=-1}``.
  Sub-op types and records: create (1), create2 (15), createContainer (19) → CreateRequest;
  createTTL (21) → CreateTTLRequest; delete (2) → DeleteRequest; setData (5) →
  SetDataRequest; check (13) → CheckVersionRequest; getChildren (8) → GetChildrenRequest;
  getData (4) → GetDataRequest.
* Response body: for each result ``MultiHeader{type, done=false, err}`` then the result
  record: create (1) → CreateResponse; create2 (15) → Create2Response; delete (2) and
  check (13) → nothing; setData (5) → SetDataResponse; getData (4) → GetDataResponse;
  getChildren (8) → GetChildrenResponse; error (-1) → ErrorResponse{err}, with the same code
  in the header's ``err`` (0 in the header for every other result type). Then the terminator.

What the decoder accepts, exactly as Java's ``deserialize`` does
-----------------------------------------------------------------
* The loop stops at the first header with ``done`` true; its ``type`` and ``err`` are ignored,
  and so is ``err`` in sub-op request headers and in result headers (a result's code is read
  from its ``ErrorResponse``). We always *write* the canonical values above.
* A request is refused (``JuteError``; Apache answers MARSHALLINGERROR) when a sub-op type is
  not one of the nine above, or when read sub-ops (getData, getChildren) and write sub-ops
  are mixed ("Mixing read and write operations"). Create flags that are no CreateMode are
  for the server to judge, because versions differ (3.9 refuses the whole multi while
  reading it, 3.8 fails the sub-op: ``spec.profiles``); so is whether an all-read body was
  sent as multi or an all-write body as multiRead. The encoder writes mixed or odd bodies
  if asked to, so that a conformance client can send them.
"""

from __future__ import annotations

from typing import Final, Self, TypeAlias

from reference.jute.errors import JuteEncodeError, JuteError
from reference.jute.primitives import Reader
from reference.jute.records import (
    CheckVersionRequest,
    Create2Response,
    CreateRequest,
    CreateResponse,
    CreateTTLRequest,
    DeleteRequest,
    ErrorResponse,
    GetChildrenRequest,
    GetChildrenResponse,
    GetDataRequest,
    GetDataResponse,
    MultiHeader,
    SetDataRequest,
    SetDataResponse,
)
from spec.opcodes import OpCode
from spec.record import record

MultiOpRecord: TypeAlias = (
    CreateRequest
    | CreateTTLRequest
    | DeleteRequest
    | SetDataRequest
    | CheckVersionRequest
    | GetChildrenRequest
    | GetDataRequest
)
MultiResultRecord: TypeAlias = (
    CreateResponse | Create2Response | SetDataResponse | GetDataResponse | GetChildrenResponse
)

# Sub-op type -> the record that follows its MultiHeader in a request.
MULTI_OP_RECORDS: Final[dict[int, type[MultiOpRecord]]] = {
    OpCode.create: CreateRequest,
    OpCode.create2: CreateRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.delete: DeleteRequest,
    OpCode.setData: SetDataRequest,
    OpCode.check: CheckVersionRequest,
    OpCode.getChildren: GetChildrenRequest,
    OpCode.getData: GetDataRequest,
}
READ_SUB_OPS: Final = frozenset({OpCode.getChildren, OpCode.getData})
# CreateMode.fromFlag knows these flags; others make Java's multi deserializer fail.
CREATE_MODE_FLAGS: Final = frozenset(range(7))

# Result type -> the record that follows its MultiHeader in a response (None: no record).
MULTI_RESULT_RECORDS: Final[dict[int, type[MultiResultRecord | ErrorResponse] | None]] = {
    OpCode.create: CreateResponse,
    OpCode.create2: Create2Response,
    OpCode.delete: None,
    OpCode.check: None,
    OpCode.setData: SetDataResponse,
    OpCode.getData: GetDataResponse,
    OpCode.getChildren: GetChildrenResponse,
    OpCode.error: ErrorResponse,
}

_TERMINATOR: Final = MultiHeader(-1, True, -1)


@record
class MultiOp:
    """One sub-request: its opcode (``type``) and record."""

    type: int
    request: MultiOpRecord


@record
class MultiResult:
    """One sub-result: its ``type`` (the sub-op's opcode, or -1 for an error) and record.

    ``record`` is ``None`` for delete and check, an ``ErrorResponse`` for type -1.
    """

    type: int
    record: MultiResultRecord | ErrorResponse | None

    @property
    def err(self) -> int:
        """The result's error code (0 unless this is an error result)."""
        return self.record.err if isinstance(self.record, ErrorResponse) else 0

    @classmethod
    def error(cls, err: int) -> Self:
        """The result of a sub-op that failed (or was not run: RUNTIMEINCONSISTENCY)."""
        return cls(OpCode.error, ErrorResponse(err))


@record
class MultiRequest:
    """The body of a multi (14) or multiRead (22) request."""

    ops: tuple[MultiOp, ...]

    @classmethod
    def read(cls, reader: Reader) -> Self:
        ops: list[MultiOp] = []
        reads = writes = 0
        while True:
            start = reader.position
            header = MultiHeader.read(reader)
            if header.done:
                return cls(tuple(ops))
            record_type = MULTI_OP_RECORDS.get(header.type)
            if record_type is None:
                raise JuteError(f"invalid multi sub-op type {header.type}", start)
            request = record_type.read(reader)
            if header.type in READ_SUB_OPS:
                reads += 1
            else:
                writes += 1
            if reads and writes:
                raise JuteError("multi mixes read and write sub-ops", start)
            ops.append(MultiOp(header.type, request))

    def write(self, out: bytearray) -> None:
        for op in self.ops:
            if type(op.request) is not MULTI_OP_RECORDS.get(op.type):
                raise JuteEncodeError(
                    f"multi sub-op type {op.type} cannot carry a {type(op.request).__name__}"
                )
            MultiHeader(op.type, False, -1).write(out)
            op.request.write(out)
        _TERMINATOR.write(out)


@record
class MultiResponse:
    """The body of a multi (14) or multiRead (22) reply: one result per sub-op."""

    results: tuple[MultiResult, ...]

    @classmethod
    def read(cls, reader: Reader) -> Self:
        results: list[MultiResult] = []
        while True:
            start = reader.position
            header = MultiHeader.read(reader)
            if header.done:
                return cls(tuple(results))
            if header.type not in MULTI_RESULT_RECORDS:
                raise JuteError(f"invalid multi result type {header.type}", start)
            record_type = MULTI_RESULT_RECORDS[header.type]
            record = None if record_type is None else record_type.read(reader)
            results.append(MultiResult(header.type, record))

    def write(self, out: bytearray) -> None:
        for result in self.results:
            expected = MULTI_RESULT_RECORDS.get(result.type, ...)
            actual = None if result.record is None else type(result.record)
            if expected is ... or actual is not expected:
                raise JuteEncodeError(
                    f"multi result type {result.type} cannot carry {type(result.record).__name__}"
                )
            MultiHeader(result.type, False, result.err).write(out)
            if result.record is not None:
                result.record.write(out)
        _TERMINATOR.write(out)
