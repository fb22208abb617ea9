"""Chapter: limits — how big a request may be.

Rules
-----
* Every frame is ``int32 length`` + payload. A server closes the connection, without a reply,
  when a frame's length is negative or above ``jute.maxbuffer`` (default 0xfffff =
  1,048,575 bytes). The request is not executed and takes no zxid; the session lives on.
* So the largest data a setData can carry is ``jute.maxbuffer - 20 - len(path in UTF-8)``:
  8 bytes of request header, 4 + path, 4 + data, 4 of version (1,048,551 bytes on
  ``/big``). A create carries its ACL list and flags too; a multi the sum of its
  sub-requests with a 9-byte header each and a 9-byte terminator.
* The same limit binds what a client accepts, so a reply larger than the client's
  ``jute.maxbuffer`` (a getChildren of a huge parent) is a connection loss at the client.
  The spec does not model client limits.

Source: ``NIOServerCnxn.readLength``/``NettyServerCnxn``, ``BinaryInputArchive``;
zookeeperAdmin "jute.maxbuffer".
"""

from __future__ import annotations

from collections.abc import Iterable

from spec.acl import ACL
from spec.opcodes import OpCode
from spec.requests import (
    AddAuth,
    AddWatch,
    Check,
    CheckWatches,
    Create,
    Delete,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    GetEphemerals,
    Multi,
    MultiRead,
    Operation,
    Reconfig,
    RemoveWatches,
    Sasl,
    SetACL,
    SetData,
    SetWatches,
    Sync,
)

REQUEST_HEADER_BYTES = 8
MULTI_HEADER_BYTES = 9


def _ustring(text: str | None) -> int:
    return 4 + (0 if text is None else len(text.encode("utf-8", "surrogatepass")))


def _buffer(data: bytes | None) -> int:
    return 4 + (0 if data is None else len(data))


def _acl(acl: Iterable[ACL] | None) -> int:
    return 4 + sum(4 + _ustring(a.id.scheme) + _ustring(a.id.id) for a in acl or ())


def _strings(items: Iterable[str]) -> int:
    return 4 + sum(_ustring(s) for s in items)


def body_length(op: Operation) -> int:
    """Bytes of the request record that follows the request header."""
    if isinstance(op, Create):
        ttl = 8 if op.opcode == OpCode.createTTL else 0
        return _ustring(op.path) + _buffer(op.data) + _acl(op.acl) + 4 + ttl
    if isinstance(op, (Delete, Check, AddWatch, RemoveWatches, CheckWatches)):
        return _ustring(op.path) + 4
    if isinstance(op, (Exists, GetData, GetChildren)):
        return _ustring(op.path) + 1
    if isinstance(op, SetData):
        return _ustring(op.path) + _buffer(op.data) + 4
    if isinstance(op, (GetACL, Sync, GetAllChildrenNumber)):
        return _ustring(op.path)
    if isinstance(op, SetACL):
        return _ustring(op.path) + _acl(op.acl) + 4
    if isinstance(op, GetEphemerals):
        return _ustring(op.prefix_path)
    if isinstance(op, (Multi, MultiRead)):
        return sum(MULTI_HEADER_BYTES + body_length(o) for o in op.ops) + MULTI_HEADER_BYTES
    if isinstance(op, AddAuth):
        return 4 + _ustring(op.scheme) + _buffer(op.auth)
    if isinstance(op, Sasl):
        return _buffer(op.token)
    if isinstance(op, SetWatches):
        lists = [op.data, op.exist, op.child]
        if op.persistent or op.persistent_recursive:
            lists += [op.persistent, op.persistent_recursive]
        return 8 + sum(_strings(items) for items in lists)
    if isinstance(op, Reconfig):
        return (
            _ustring(op.joining_servers)
            + _ustring(op.leaving_servers)
            + _ustring(op.new_members)
            + 8
        )
    return 0  # ping, closeSession, whoAmI and unknown opcodes carry no body


def frame_length(op: Operation) -> int:
    """The length field of the frame that carries ``op``."""
    return REQUEST_HEADER_BYTES + body_length(op)
