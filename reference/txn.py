"""Transactions: what a prepared write changes, fully determined, ready to log and apply.

A request is *prepared* once (``reference.prep``: checks, zxid, time, sequence number) into a
``Txn``; applying a ``Txn`` (``reference.datatree``) can no longer fail and gives the same
result on every replica and on every replay from the log. These mirror ZooKeeper's
``org.apache.zookeeper.txn`` records (CreateTxn, DeleteTxn, SetDataTxn, ErrorTxn, MultiTxn,
CreateSessionTxn, CloseSessionTxn, ...).
"""

from __future__ import annotations

from spec.acl import ACL
from spec.record import record


@record
class TxnHeader:
    """Who asked (session, cxid), when (time, ms), at which zxid, and the txn type (opcode)."""

    session_id: int
    cxid: int
    zxid: int
    time: int
    type: int


@record
class CreateTxn:
    """Create ``path``; ``kind`` is persistent/ephemeral/container/ttl (``spec.modes.NodeKind``
    value); ``parent_cversion`` is the parent's stored child-create count after this create."""

    path: str
    data: bytes | None
    acl: tuple[ACL, ...]
    kind: str
    ephemeral_owner: int
    ttl: int
    parent_cversion: int
    opcode: int  # the effective create opcode: decides the shape of the reply


@record
class DeleteTxn:
    path: str


@record
class SetDataTxn:
    path: str
    data: bytes | None
    version: int


@record
class SetACLTxn:
    path: str
    acl: tuple[ACL, ...]
    aversion: int


@record
class CheckTxn:
    path: str
    version: int


@record
class ErrorTxn:
    err: int


@record
class MultiTxn:
    txns: tuple[SubTxn, ...]


@record
class CreateSessionTxn:
    timeout_ms: int


@record
class CloseSessionTxn:
    """Close the header's session; ``paths`` are its ephemerals, deleted in this order."""

    paths: tuple[str, ...]


SubTxn = CreateTxn | DeleteTxn | SetDataTxn | CheckTxn | ErrorTxn
TxnBody = SubTxn | SetACLTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn


@record
class Txn:
    header: TxnHeader
    body: TxnBody
