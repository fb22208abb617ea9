"""How the transcripts print what quorum peers do: one line per message, txn or client frame.

Quorum packets are named by their ``Leader.java`` type and carry their zxid in hex, then
their data decoded (``reference.quorum.wire_payloads``); txns as ``zxid op path data``;
election notifications with ``FastLeaderElection.Notification``'s field names; client
frames decoded with the opcode of the request they answer. Times and byte counts that would
change with an unrelated encoding detail are left out, so a transcript changes only when
behaviour does.
"""

from __future__ import annotations

from reference import jute
from reference.persistence import Snapshot
from reference.quorum import apache_txn
from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import Notification, ServerState
from reference.quorum.wire import PacketSender, PacketType, QuorumPacket
from reference.quorum.wire_payloads import (
    ALREADY_ACKED_EPOCH,
    AckEpoch,
    ForwardedRequest,
    LeaderInfo,
    LearnerInfo,
    QuorumConfig,
    RevalidateRequest,
    RevalidateResponse,
    SessionTouches,
    decode_payload,
)
from reference.ready import (
    InstallSnapshot,
    Persist,
    TruncateLog,
    WriteAcceptedEpoch,
    WriteCurrentEpoch,
)
from reference.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    SubTxn,
    Txn,
    TxnBody,
)
from spec.errors import Code
from spec.opcodes import OpCode

DATA_SHOWN_BYTES_MAX = 24  # longer data is cut, with its length


def hex_zxid(zxid: int) -> str:
    """A zxid as ZooKeeper's logs print it; -1 (none) as -1."""
    return f"{zxid:#x}" if zxid >= 0 else str(zxid)


def session_text(session_id: int) -> str:
    return f"{session_id & 0xFFFF_FFFF_FFFF_FFFF:#x}"


def data_text(data: bytes | None) -> str:
    """Data as a quoted string (non-printable bytes escaped), cut when long."""
    if data is None:
        return "null"
    shown = data[:DATA_SHOWN_BYTES_MAX]
    text = "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in shown
    )
    if len(data) > DATA_SHOWN_BYTES_MAX:
        return f'"{text}..." ({len(data)} bytes)'
    return f'"{text}"'


def error_name(code: int) -> str:
    try:
        return Code(code).name
    except ValueError:
        return str(code)


def opcode_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name
    except ValueError:
        return f"opcode {opcode}"


def packet_name(type_: int) -> str:
    try:
        return PacketType(type_).name
    except ValueError:
        return f"packet type {type_}"


# --- txns ----------------------------------------------------------------------------------


def _sub_body(body: SubTxn) -> str:
    if isinstance(body, CreateTxn):
        kind = "" if body.kind == "persistent" else f" {body.kind}"
        return f"create {body.path} {data_text(body.data)}{kind}"
    if isinstance(body, DeleteTxn):
        return f"delete {body.path}"
    if isinstance(body, SetDataTxn):
        return f"setData {body.path} {data_text(body.data)} version={body.version}"
    if isinstance(body, CheckTxn):
        return f"check {body.path} version={body.version}"
    assert isinstance(body, ErrorTxn)
    return f"error {error_name(body.err)}"


def txn_body_text(body: TxnBody) -> str:
    if isinstance(body, SetACLTxn):
        return f"setACL {body.path} aversion={body.aversion}"
    if isinstance(body, MultiTxn):
        return "multi [" + ", ".join(_sub_body(sub) for sub in body.txns) + "]"
    if isinstance(body, CreateSessionTxn):
        return f"createSession timeout={body.timeout_ms}"
    if isinstance(body, CloseSessionTxn):
        owned = f" ephemerals={','.join(body.paths)}" if body.paths else ""
        return f"closeSession{owned}"
    return _sub_body(body)


def txn_text(txn: Txn) -> str:
    """``0x100000001 create /a "x" session=0x... cxid=1``."""
    header = txn.header
    return (
        f"{hex_zxid(header.zxid)} {txn_body_text(txn.body)} "
        f"session={session_text(header.session_id)} cxid={header.cxid}"
    )


def persist_text(item: Persist) -> str:
    if isinstance(item, Txn):
        return f"txn {txn_text(item)}"
    if isinstance(item, WriteAcceptedEpoch):
        return f"acceptedEpoch={item.epoch}"
    if isinstance(item, WriteCurrentEpoch):
        return f"currentEpoch={item.epoch}"
    if isinstance(item, TruncateLog):
        return f"truncate log after {hex_zxid(item.zxid)}"
    assert isinstance(item, InstallSnapshot)
    return f"snapshot at {hex_zxid(item.zxid)} (the log starts over)"


def snapshot_text(snapshot: Snapshot) -> str:
    paths = [p for p in snapshot.tree.nodes if not p.startswith("/zookeeper") and p != "/"]
    return f"snapshot {hex_zxid(snapshot.zxid)} znodes={','.join(paths) or '-'}"


# --- election --------------------------------------------------------------------------------


def notification_text(n: Notification) -> str:
    """``FastLeaderElection.Notification`` (the quorum configuration it carries is left out)."""
    return (
        f"vote leader={n.leader} zxid={hex_zxid(n.zxid)} peerEpoch={n.peerEpoch} "
        f"electionEpoch={n.electionEpoch} {ServerState(n.state).name}"
    )


# --- quorum packets -----------------------------------------------------------------------


def _request_text(request: ForwardedRequest) -> str:
    """A forwarded client request (``Request`` as ``Learner.request`` writes it)."""
    kind = request.type
    who = f"session={session_text(request.sessionId)} cxid={request.cxid}"
    if kind == OpCode.createSession:
        timeout = int.from_bytes(request.request[:4], "big", signed=True)
        return f"createSession timeout={timeout} {who}"
    if kind == OpCode.closeSession:
        return f"closeSession {who}"
    head = request.cxid.to_bytes(4, "big", signed=True) + kind.to_bytes(4, "big", signed=True)
    try:
        decoded = jute.decode_request(head + request.request)
    except jute.JuteError:
        return f"{opcode_name(kind)} (undecodable) {who}"
    record = decoded.record if isinstance(decoded, jute.Request) else None
    return f"{opcode_name(kind)}{_request_record_text(record)} {who}"


def _request_record_text(record: object) -> str:
    if isinstance(record, jute.CreateRequest):
        return f" {record.path} {data_text(record.data)}"
    if isinstance(record, jute.SetDataRequest):
        return f" {record.path} {data_text(record.data)} version={record.version}"
    path = getattr(record, "path", None)
    return f" {path}" if isinstance(path, str) else ""


def packet_text(packet: QuorumPacket, sender: PacketSender) -> str:
    """``PROPOSAL 0x100000001 create /a "x" session=0x... cxid=1``; undecodable data is said."""
    name = packet_name(packet.type)
    if packet.type in (PacketType.UPTODATE, PacketType.SYNC) and packet.data is None:
        return name
    head = f"{name} {hex_zxid(packet.zxid)}"
    try:
        payload = decode_payload(packet, sender)
    except (jute.JuteError, apache_txn.UnmappableTxn) as error:
        return f"{head} (bad data: {error})"
    if payload is None:
        return head
    if isinstance(payload, LearnerInfo):
        return (
            f"{head} sid={payload.serverid} protocolVersion={_hex_or_none(payload.protocolVersion)}"
            f" configVersion={payload.configVersion}"
        )
    if isinstance(payload, LeaderInfo):
        return f"{head} protocolVersion={payload.protocolVersion:#x}"
    if isinstance(payload, AckEpoch):
        already = " (already accepted)" if payload.currentEpoch == ALREADY_ACKED_EPOCH else ""
        return f"{head} currentEpoch={payload.currentEpoch}{already}"
    if isinstance(payload, QuorumConfig):
        return head
    if isinstance(payload, apache_txn.TxnEntry):
        try:
            txn = apache_txn.to_zkref(payload)
        except apache_txn.UnmappableTxn as error:
            return f"{head} (unmappable txn: {error})"
        text = txn_text(txn)
        return f"{name} {text}"
    if isinstance(payload, ForwardedRequest):
        return f"{name} {_request_text(payload)}"
    if isinstance(payload, SessionTouches):
        touches = " ".join(f"{session_text(t.sessionId)}:{t.timeout}" for t in payload.touches)
        return f"{head} touches=[{touches}]"
    if isinstance(payload, RevalidateRequest):
        return f"{name} session={session_text(payload.sessionId)} timeout={payload.timeout}"
    if isinstance(payload, RevalidateResponse):
        verdict = "valid" if payload.valid else "invalid"
        return f"{name} session={session_text(payload.sessionId)} {verdict}"
    return f"{head} {payload!r}"


def _hex_or_none(value: int | None) -> str:
    return "none" if value is None else f"{value:#x}"


def apache_snapshot_text(snapshot: ApacheSnapshot) -> str:
    """The snapshot after SNAP: its znodes (outside /zookeeper) and sessions."""
    paths = [
        node.path
        for node in snapshot.nodes
        if node.path and node.path != "/" and not node.path.startswith("/zookeeper")
    ]
    sessions = " ".join(session_text(s.sessionId) for s in snapshot.sessions)
    return f"snapshot znodes={','.join(paths) or '-'} sessions=[{sessions}]"


# --- client frames -------------------------------------------------------------------------


def connect_response_text(payload: bytes) -> str:
    response = jute.decode_connect_response(payload)
    if response.timeOut <= 0:
        return "ConnectResponse session expired (timeout 0)"
    return f"ConnectResponse session={session_text(response.sessionId)} timeout={response.timeOut}"


def reply_text(payload: bytes, opcode: int | None) -> str:
    """A reply frame; ``opcode`` is the request it answers (None: a notification or ping)."""
    xid = int.from_bytes(payload[:4], "big", signed=True)
    if xid == -1:
        reply = jute.decode_reply(payload, OpCode.notification)
        event = reply.record
        assert isinstance(event, jute.WatcherEvent)
        return f"WatchedEvent type={event.type} path={event.path}"
    if opcode is None:
        return f"reply xid={xid} (to no request we sent)"
    reply = jute.decode_reply(payload, opcode)
    header = reply.header
    text = f"reply xid={xid} zxid={hex_zxid(header.zxid)} {error_name(header.err)}"
    record = reply.record
    if isinstance(record, jute.CreateResponse):
        text += f" path={record.path}"
    elif isinstance(record, jute.GetDataResponse):
        text += f" data={data_text(record.data)} mzxid={hex_zxid(record.stat.mzxid)}"
    elif isinstance(record, jute.SetDataResponse):
        text += f" version={record.stat.version}"
    elif isinstance(record, jute.SyncResponse):
        text += f" path={record.path}"
    return f"{text} ({opcode_name(opcode)})"
