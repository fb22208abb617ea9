"""Apache's transaction serialization and its mapping to zkref's txns
(``reference.quorum.apache_txn``)."""

from __future__ import annotations

import struct
import typing

import pytest

from reference import txn as zk
from reference.jute import JuteError
from reference.quorum import apache_txn as apache
from spec.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id
from spec.opcodes import OpCode

SESSION = 0x1000_0000_0000_0042
DIGEST_ACL = (ACL(31, Id("digest", "golden:hash=")),)


def header(type_: int, session_id: int = SESSION) -> zk.TxnHeader:
    return zk.TxnHeader(session_id, 7, 0x3_0000_0011, 1_700_000_000_000, type_)


def create(
    path: str, kind: str = "persistent", opcode: int = OpCode.create, **fields: typing.Any
) -> zk.CreateTxn:
    values: dict[str, typing.Any] = {
        "data": b"d",
        "acl": OPEN_ACL_UNSAFE,
        "ephemeral_owner": SESSION if kind == "ephemeral" else 0,
        "ttl": 5000 if kind == "ttl" else 0,
        "parent_cversion": 3,
    }
    values.update(fields)
    return zk.CreateTxn(
        path,
        values["data"],
        values["acl"],
        kind,
        values["ephemeral_owner"],
        values["ttl"],
        values["parent_cversion"],
        opcode,
    )


ZKREF_TXNS: list[zk.Txn] = [
    zk.Txn(header(OpCode.create), create("/p")),
    zk.Txn(header(OpCode.create), create("/null", data=None, acl=DIGEST_ACL)),
    zk.Txn(header(OpCode.create2), create("/e", "ephemeral", OpCode.create2)),
    zk.Txn(header(OpCode.createContainer), create("/c", "container", OpCode.createContainer)),
    zk.Txn(header(OpCode.createTTL), create("/t", "ttl", OpCode.createTTL)),
    zk.Txn(header(OpCode.delete), zk.DeleteTxn("/p")),
    zk.Txn(header(OpCode.deleteContainer, 0), zk.DeleteTxn("/c")),
    zk.Txn(header(OpCode.setData), zk.SetDataTxn("/p", b"new", 4)),
    zk.Txn(header(OpCode.setData), zk.SetDataTxn("/p", None, 5)),
    zk.Txn(header(OpCode.setACL), zk.SetACLTxn("/p", READ_ACL_UNSAFE, 2)),
    zk.Txn(header(OpCode.error), zk.ErrorTxn(-110)),
    zk.Txn(header(OpCode.createSession), zk.CreateSessionTxn(30000)),
    zk.Txn(header(OpCode.closeSession), zk.CloseSessionTxn(("/e", "/f/g"))),
    zk.Txn(header(OpCode.closeSession), zk.CloseSessionTxn(())),
    zk.Txn(
        header(OpCode.multi),
        zk.MultiTxn(
            (
                create("/m", "ephemeral"),
                create("/m/c", "container", OpCode.createContainer),
                create("/m/t", "ttl", OpCode.createTTL),
                create("/m/2", "persistent", OpCode.create2),
                zk.CheckTxn("/p", 2),
                zk.SetDataTxn("/p", b"m", 3),
                zk.DeleteTxn("/p"),
            )
        ),
    ),
    zk.Txn(
        header(OpCode.multi),
        zk.MultiTxn((create("/m"), zk.ErrorTxn(-103), zk.ErrorTxn(-2))),
    ),
]


def test_every_zkref_txn_kind_is_among_the_examples() -> None:
    bodies = {type(t.body) for t in ZKREF_TXNS}
    subs = {type(s) for t in ZKREF_TXNS if isinstance(t.body, zk.MultiTxn) for s in t.body.txns}
    assert bodies | {zk.CheckTxn} == set(typing.get_args(zk.TxnBody))
    assert subs == set(typing.get_args(zk.SubTxn))
    kinds = {t.body.kind for t in ZKREF_TXNS if isinstance(t.body, zk.CreateTxn)}
    assert kinds == {"persistent", "ephemeral", "container", "ttl"}


@pytest.mark.parametrize("txn", ZKREF_TXNS, ids=lambda t: type(t.body).__name__)
@pytest.mark.parametrize("digest", [None, apache.TxnDigest(2, -123456789)])
def test_every_zkref_txn_maps_to_apache_bytes_and_back(
    txn: zk.Txn, digest: apache.TxnDigest | None
) -> None:
    entry = apache.from_zkref(txn, digest)
    decoded = apache.decode_txn_entry(apache.encode_txn_entry(entry))
    assert decoded == entry
    assert apache.to_zkref(decoded) == txn


def test_a_reconfig_txn_is_read_and_refused_for_zkref_has_a_static_configuration() -> None:
    """Apache logs a reconfig as the setData of /zookeeper/config; applied as that, zkref
    would go on counting the old servers' votes while the others count the new ones."""
    reconfig = apache.TxnEntry(
        zk.TxnHeader(1, 2, 0x100000003, 1_000, OpCode.reconfig),
        apache.SetDataTxn("/zookeeper/config", b"server.1=x\nversion=100000003", 1),
        None,
    )
    decoded = apache.decode_txn_entry(apache.encode_txn_entry(reconfig))
    assert decoded == reconfig
    with pytest.raises(apache.UnmappableTxn, match="dynamic reconfiguration"):
        apache.to_zkref(decoded)


def test_the_create_kind_is_the_record_class_or_the_ephemeral_flag() -> None:
    records = [
        apache.from_zkref(zk.Txn(header(t.body.opcode), t.body)).txn
        for t in ZKREF_TXNS[:5]
        if isinstance(t.body, zk.CreateTxn)
    ]
    assert records == [
        apache.CreateTxn("/p", b"d", OPEN_ACL_UNSAFE, False, 3),
        apache.CreateTxn("/null", None, DIGEST_ACL, False, 3),
        apache.CreateTxn("/e", b"d", OPEN_ACL_UNSAFE, True, 3),
        apache.CreateContainerTxn("/c", b"d", OPEN_ACL_UNSAFE, 3),
        apache.CreateTTLTxn("/t", b"d", OPEN_ACL_UNSAFE, 3, 5000),
    ]


def test_a_multi_holds_each_sub_record_serialized_on_its_own() -> None:
    entry = apache.from_zkref(ZKREF_TXNS[-2])
    assert isinstance(entry.txn, apache.MultiTxn)
    assert [sub.type for sub in entry.txn.txns] == [1, 19, 21, 15, 13, 5, 2]
    assert apache.decode_sub_txn(entry.txn.txns[4]) == apache.CheckVersionTxn("/p", 2)
    assert entry.txn.txns[4].data == struct.pack(">i2si", 2, b"/p", 2)


def test_the_layout_is_header_record_digest() -> None:
    entry = apache.TxnEntry(header(OpCode.delete), apache.DeleteTxn("/a"), apache.TxnDigest(2, 5))
    assert apache.encode_txn_entry(entry) == (
        struct.pack(">qiqqi", SESSION, 7, 0x3_0000_0011, 1_700_000_000_000, 2)
        + struct.pack(">i2s", 2, b"/a")
        + struct.pack(">iq", 2, 5)
    )


def test_a_closesession_without_a_record_reads_as_apache_reads_it() -> None:
    bare = struct.pack(">qiqqi", SESSION, 0, 5, 6, OpCode.closeSession)
    assert apache.decode_txn_entry(bare) == apache.TxnEntry(header_of(bare), None, None)
    # With closeSessionTxn disabled and digests on, the digest is read as a record and
    # runs out: no record, no digest.
    with_digest = bare + struct.pack(">iq", 2, 9)
    assert apache.decode_txn_entry(with_digest) == apache.TxnEntry(header_of(bare), None, None)
    with pytest.raises(apache.UnmappableTxn, match="without paths"):
        apache.to_zkref(apache.TxnEntry(header_of(bare), None, None))


def header_of(data: bytes) -> zk.TxnHeader:
    return zk.TxnHeader(*struct.unpack_from(">qiqqi", data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            struct.pack(">qiqqi", 1, 0, 5, 6, OpCode.check) + struct.pack(">i1si", 1, b"/", 0),
            "unsupported txn type 13",
        ),
        (struct.pack(">qiqqi", 1, 0, 5, 6, OpCode.getData), "unsupported txn type 4"),
        (struct.pack(">qiqqi", 1, 0, 5, 6, OpCode.createSession) + b"\x00\x00", "truncated"),
        (struct.pack(">qiqqii", 1, 0, 5, 6, OpCode.error, 0) + b"\x00" * 5, "bytes after"),
        (struct.pack(">qiqqii", 1, 0, 5, 6, OpCode.multi, -1), "null MultiTxn"),
        (struct.pack(">qiqqii", 1, 0, 5, 6, OpCode.delete, -1), "null ustring"),
    ],
)
def test_a_txn_apache_does_not_read_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(JuteError, match=reason):
        apache.decode_txn_entry(data)


def test_a_sub_txn_type_apache_does_not_apply_is_refused_when_mapped() -> None:
    multi = apache.TxnEntry(
        header(OpCode.multi),
        apache.MultiTxn((apache.encode_sub_txn(OpCode.setACL, apache.DeleteTxn("/a")),)),
        None,
    )
    with pytest.raises(JuteError, match="invalid type of multi op 7"):
        apache.to_zkref(apache.decode_txn_entry(apache.encode_txn_entry(multi)))


def test_what_the_other_side_cannot_carry_is_refused() -> None:
    with pytest.raises(apache.UnmappableTxn, match="top-level check"):
        apache.from_zkref(zk.Txn(header(OpCode.check), zk.CheckTxn("/p", 1)))
    foreign = create("/e", "ephemeral", ephemeral_owner=SESSION + 1)
    with pytest.raises(apache.UnmappableTxn, match="owned by"):
        apache.from_zkref(zk.Txn(header(OpCode.create), foreign))
    with pytest.raises(apache.UnmappableTxn, match="null ACL"):
        apache.to_zkref(
            apache.TxnEntry(
                header(OpCode.create), apache.CreateTxn("/a", b"", None, False, 1), None
            )
        )
    with pytest.raises(apache.UnmappableTxn, match="null paths2Delete"):
        apache.to_zkref(
            apache.TxnEntry(header(OpCode.closeSession), apache.CloseSessionTxn(None), None)
        )


def test_a_failed_multi_from_an_apache_committed_log_is_read_as_apache_reads_it() -> None:
    """An Apache leader's DIFF carries a failed multi as its committed log holds it after
    ``DataTree.processTxn`` turned every sub-txn into an error in place: type error, the
    original record's bytes (here a check of /nemesis/shared/b: 25 bytes). Apache's learner
    reads the first four bytes as the error code; a zkref follower refused the packet ("21
    bytes after a multi sub-txn") and looked for a leader again and again (a nemesis run
    against Apache servers 1 and 2 and zkref server 3)."""
    check = apache.encode_sub_txn(OpCode.check, apache.CheckVersionTxn("/nemesis/shared/b", 2))
    assert len(check.data) == 25
    mutated = apache.Txn(OpCode.error, check.data)
    failed = apache.encode_sub_txn(OpCode.error, apache.ErrorTxn(-103))  # BADVERSION
    entry = apache.TxnEntry(header(OpCode.multi), apache.MultiTxn((mutated, failed)), None)
    decoded = apache.decode_txn_entry(apache.encode_txn_entry(entry))
    txn = apache.to_zkref(decoded)
    assert isinstance(txn.body, zk.MultiTxn)
    assert txn.body.txns == (zk.ErrorTxn(len("/nemesis/shared/b")), zk.ErrorTxn(-103))
    # Any other sub-txn must be exactly its record.
    longer = apache.Txn(OpCode.check, check.data + b"\x00")
    with pytest.raises(JuteError, match="1 bytes after a multi sub-txn"):
        apache.decode_sub_txn(longer)
