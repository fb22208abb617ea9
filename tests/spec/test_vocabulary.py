"""Tests of the shared vocabulary: errors, opcodes, events and the Stat."""

from __future__ import annotations

import dataclasses

from spec.errors import Code, ZooKeeperError
from spec.events import AddWatchMode, EventType, KeeperState, WatcherType, WatchEvent
from spec.opcodes import WRITE_OPCODES, OpCode, Xid
from spec.stat import Stat, client_cversion, int32, int64

# --- error codes --------------------------------------------------------------------------


def test_error_code_values() -> None:
    assert {c.name: c.value for c in Code} == {
        "OK": 0,
        "SYSTEMERROR": -1,
        "RUNTIMEINCONSISTENCY": -2,
        "DATAINCONSISTENCY": -3,
        "CONNECTIONLOSS": -4,
        "MARSHALLINGERROR": -5,
        "UNIMPLEMENTED": -6,
        "OPERATIONTIMEOUT": -7,
        "BADARGUMENTS": -8,
        "UNKNOWNSESSION": -12,
        "NEWCONFIGNOQUORUM": -13,
        "RECONFIGINPROGRESS": -14,
        "APIERROR": -100,
        "NONODE": -101,
        "NOAUTH": -102,
        "BADVERSION": -103,
        "NOCHILDRENFOREPHEMERALS": -108,
        "NODEEXISTS": -110,
        "NOTEMPTY": -111,
        "SESSIONEXPIRED": -112,
        "INVALIDCALLBACK": -113,
        "INVALIDACL": -114,
        "AUTHFAILED": -115,
        "SESSIONMOVED": -118,
        "NOTREADONLY": -119,
        "EPHEMERALONLOCALSESSION": -120,
        "NOWATCHER": -121,
        "REQUESTTIMEOUT": -122,
        "RECONFIGDISABLED": -123,
        "SESSIONCLOSEDREQUIRESASLAUTH": -124,
        "QUOTAEXCEEDED": -125,
        "THROTTLEDOP": -127,
    }


def test_codes_at_or_below_apierror_are_api_errors() -> None:
    assert Code.APIERROR.is_api_error
    assert Code.NONODE.is_api_error
    assert Code.THROTTLEDOP.is_api_error
    assert not Code.OK.is_api_error
    assert not Code.MARSHALLINGERROR.is_api_error
    assert not Code.RECONFIGINPROGRESS.is_api_error


def test_zookeeper_error_carries_its_code_and_detail() -> None:
    error = ZooKeeperError(Code.NONODE, "/a")
    assert (error.code, error.detail, str(error)) == (Code.NONODE, "/a", "NONODE: /a")
    assert str(ZooKeeperError(Code.NOAUTH)) == "NOAUTH"


# --- opcodes ------------------------------------------------------------------------------


def test_opcode_values() -> None:
    assert {o.name: o.value for o in OpCode} == {
        "notification": 0,
        "create": 1,
        "delete": 2,
        "exists": 3,
        "getData": 4,
        "setData": 5,
        "getACL": 6,
        "setACL": 7,
        "getChildren": 8,
        "sync": 9,
        "ping": 11,
        "getChildren2": 12,
        "check": 13,
        "multi": 14,
        "create2": 15,
        "reconfig": 16,
        "checkWatches": 17,
        "removeWatches": 18,
        "createContainer": 19,
        "deleteContainer": 20,
        "createTTL": 21,
        "multiRead": 22,
        "auth": 100,
        "setWatches": 101,
        "sasl": 102,
        "getEphemerals": 103,
        "getAllChildrenNumber": 104,
        "setWatches2": 105,
        "addWatch": 106,
        "whoAmI": 107,
        "createSession": -10,
        "closeSession": -11,
        "error": -1,
    }


def test_write_opcodes() -> None:
    assert {o.name for o in WRITE_OPCODES} == {
        "create",
        "create2",
        "createContainer",
        "createTTL",
        "delete",
        "setData",
        "setACL",
        "multi",
        "reconfig",
        "createSession",
        "closeSession",
        "deleteContainer",
    }


def test_reserved_xids() -> None:
    assert (Xid.NOTIFICATION, Xid.PING, Xid.AUTH, Xid.SET_WATCHES) == (-1, -2, -4, -8)


# --- watch events -------------------------------------------------------------------------


def test_event_enums() -> None:
    assert {e.name: e.value for e in EventType} == {
        "None_": -1,
        "NodeCreated": 1,
        "NodeDeleted": 2,
        "NodeDataChanged": 3,
        "NodeChildrenChanged": 4,
        "DataWatchRemoved": 5,
        "ChildWatchRemoved": 6,
        "PersistentWatchRemoved": 7,
    }
    assert int(KeeperState.SyncConnected) == 3
    assert int(KeeperState.Expired) == -112
    assert [(w.name, w.value) for w in WatcherType] == [
        ("Children", 1),
        ("Data", 2),
        ("Any", 3),
        ("Persistent", 4),
        ("PersistentRecursive", 5),
    ]
    assert [(m.name, m.value) for m in AddWatchMode] == [
        ("PERSISTENT", 0),
        ("PERSISTENT_RECURSIVE", 1),
    ]


def test_watch_event_is_a_frozen_value() -> None:
    event = WatchEvent(1, EventType.NodeCreated, "/a", 7)
    assert event == WatchEvent(1, EventType.NodeCreated, "/a", 7)
    assert dataclasses.is_dataclass(event)
    assert [f.name for f in dataclasses.fields(event)] == ["session_id", "type", "path", "zxid"]


# --- the Stat -----------------------------------------------------------------------------


def test_stat_fields_in_wire_order() -> None:
    assert [f.name for f in dataclasses.fields(Stat)] == [
        "czxid",
        "mzxid",
        "ctime",
        "mtime",
        "version",
        "cversion",
        "aversion",
        "ephemeralOwner",
        "dataLength",
        "numChildren",
        "pzxid",
    ]


def test_java_int_and_long_wrapping() -> None:
    assert int32(2**31 - 1) == 2**31 - 1
    assert int32(2**31) == -(2**31)
    assert int32(-1) == -1
    assert int32(2**32 + 5) == 5
    assert int64(2**63) == -(2**63)
    assert int64(2**64 - 1) == -1


def test_client_cversion_is_twice_the_creates_minus_the_children() -> None:
    assert client_cversion(0, 1) == -1  # a fresh root
    assert client_cversion(0, 2) == -2  # a fresh /zookeeper
    assert client_cversion(2, 1) == 3  # create n-, create x, delete x
    assert client_cversion(2**30, 0) == -(2**31)  # int32 arithmetic wraps
