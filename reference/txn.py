"""Transactions: what a prepared write changes, fully determined, ready to log and apply.

A request is *prepared* once (``reference.prep``: checks, zxid, time, sequence number) into a
``Txn``; applying a ``Txn`` (``reference.datatree``) can no longer fail and gives the same
result on every replica and on every replay from the log. These mirror ZooKeeper's
``org.apache.zookeeper.txn`` records (CreateTxn, DeleteTxn, SetDataTxn, ErrorTxn, MultiTxn,
CreateSessionTxn, CloseSessionTxn, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.acl import ACL


@dataclass(frozen=True, slots=True)
class TxnHeader:
    """Who asked (session, cxid), when (time, ms), at which zxid, and the txn type (opcode)."""

    session_id: int
    cxid: int
    zxid: int
    time: int
    type: int


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class DeleteTxn:
    path: str


@dataclass(frozen=True, slots=True)
class SetDataTxn:
    path: str
    data: bytes | None
    version: int


@dataclass(frozen=True, slots=True)
class SetACLTxn:
    path: str
    acl: tuple[ACL, ...]
    aversion: int


@dataclass(frozen=True, slots=True)
class CheckTxn:
    path: str
    version: int


@dataclass(frozen=True, slots=True)
class ErrorTxn:
    err: int


@dataclass(frozen=True, slots=True)
class MultiTxn:
    txns: tuple[SubTxn, ...]


@dataclass(frozen=True, slots=True)
class CreateSessionTxn:
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class CloseSessionTxn:
    """Close the header's session; ``paths`` are its ephemerals, deleted in this order."""

    paths: tuple[str, ...]


SubTxn = CreateTxn | DeleteTxn | SetDataTxn | CheckTxn | ErrorTxn
TxnBody = SubTxn | SetACLTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn


@dataclass(frozen=True, slots=True)
class Txn:
    header: TxnHeader
    body: TxnBody
