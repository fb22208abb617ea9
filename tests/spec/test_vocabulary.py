"""Tests of the shared vocabulary: errors, opcodes, events, create modes, ACLs and the Stat.

Every value is checked against Apache ZooKeeper's own, never against a copy typed here: the
constants its 3.8 jar states (``tests.spec.apache``: read from the classes by reflection,
recorded once, and re-read from the installed jars by the last test) and the records of its
``zookeeper.jute`` (``tests.support.jute_schema``).
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, IntFlag

import pytest

from spec import acl
from spec.acl import ACL, Id, Perms
from spec.errors import Code, ZooKeeperError
from spec.events import AddWatchMode, EventType, KeeperState, WatcherType, WatchEvent
from spec.modes import CreateMode
from spec.opcodes import WRITE_OPCODES, OpCode, Xid
from spec.stat import Stat, client_cversion, int32, int64
from tests.spec import apache
from tests.support.jute_schema import SCHEMA, signature

FACTS = apache.load()


def names_and_values(enum: type[IntEnum] | type[IntFlag]) -> dict[str, int]:
    """Every member of an enum (flag combinations too) as Apache names it (``None_`` is
    Python's spelling of ``None``)."""
    return {name.rstrip("_"): int(member) for name, member in enum.__members__.items()}


# --- error codes --------------------------------------------------------------------------


def test_error_codes_are_keeper_exception_codes() -> None:
    assert names_and_values(Code) == FACTS["KeeperException.Code"]


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


def test_opcodes_are_zoodefs_opcodes() -> None:
    assert names_and_values(OpCode) == FACTS["ZooDefs.OpCode"]


def test_write_opcodes_are_those_apache_accepts_and_runs_through_the_quorum() -> None:
    kinds = FACTS["Request"]
    through_quorum = {name for name, kind in kinds.items() if kind["valid"] and kind["quorum"]}
    # 3.8.0's Request.isValid still let a standalone check through (it then logged a txn it
    # could not replay, ZOOKEEPER-2623); 3.8.5 and 3.9.3 refuse it, as the spec does
    # (spec/profiles.py, spec/DIVERGENCES.md).
    assert {o.name for o in WRITE_OPCODES} == through_quorum - {"check"}


def test_reserved_xids_are_client_cnxns() -> None:
    ours = {
        "NOTIFICATION_XID": Xid.NOTIFICATION,
        "PING_XID": Xid.PING,
        "AUTHPACKET_XID": Xid.AUTH,
        "SET_WATCHES_XID": Xid.SET_WATCHES,
    }
    assert ours == FACTS["ClientCnxn xids"]


# --- watch events -------------------------------------------------------------------------


def test_event_types_are_apaches() -> None:
    assert names_and_values(EventType) == FACTS["Watcher.Event.EventType"]


def test_keeper_states_are_apaches() -> None:
    assert names_and_values(KeeperState) == FACTS["Watcher.Event.KeeperState"]


def test_watcher_types_are_3_8s_and_the_two_3_9_added() -> None:
    assert names_and_values(WatcherType) == {
        **FACTS["Watcher.WatcherType"],
        **apache.THREE_NINE_WATCHER_TYPES,
    }


def test_add_watch_modes_are_apaches() -> None:
    assert names_and_values(AddWatchMode) == FACTS["AddWatchMode"]


def test_watch_event_is_a_frozen_value() -> None:
    event = WatchEvent(1, EventType.NodeCreated, "/a", 7)
    assert event == WatchEvent(1, EventType.NodeCreated, "/a", 7)
    assert dataclasses.is_dataclass(event)
    assert [f.name for f in dataclasses.fields(event)] == ["session_id", "type", "path", "zxid"]


# --- create modes and ACLs ---------------------------------------------------------------


def test_create_modes_are_apaches_flags_and_kinds() -> None:
    ours = {
        mode.name: {
            "flag": int(mode),
            "ephemeral": mode.is_ephemeral,
            "sequential": mode.is_sequential,
            "container": mode.is_container,
            "ttl": mode.is_ttl,
        }
        for mode in CreateMode
    }
    assert ours == FACTS["CreateMode"]


def test_permissions_are_zoodefs_perms() -> None:
    assert names_and_values(Perms) == FACTS["ZooDefs.Perms"]
    names = ("READ", "WRITE", "CREATE", "DELETE", "ADMIN")
    bits = (acl.READ, acl.WRITE, acl.CREATE, acl.DELETE, acl.ADMIN)
    assert bits == tuple(FACTS["ZooDefs.Perms"][name] for name in names)


def as_apache(entries: tuple[ACL, ...]) -> list[list[object]]:
    return [[entry.perms, [entry.id.scheme, entry.id.id]] for entry in entries]


def test_well_known_ids_and_acls_are_zoodefs_ids() -> None:
    ids = FACTS["ZooDefs.Ids"]
    assert [acl.ANYONE_ID_UNSAFE.scheme, acl.ANYONE_ID_UNSAFE.id] == ids["ANYONE_ID_UNSAFE"]
    assert [acl.AUTH_IDS.scheme, acl.AUTH_IDS.id] == ids["AUTH_IDS"]
    assert as_apache(acl.OPEN_ACL_UNSAFE) == ids["OPEN_ACL_UNSAFE"]
    assert as_apache(acl.CREATOR_ALL_ACL) == ids["CREATOR_ALL_ACL"]
    assert as_apache(acl.READ_ACL_UNSAFE) == ids["READ_ACL_UNSAFE"]


# --- records ------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [Stat, Id, ACL], ids=lambda r: r.__name__)
def test_spec_records_have_zookeeper_jutes_fields_in_wire_order(record: type[object]) -> None:
    ours = [field.name for field in dataclasses.fields(record)]  # type: ignore[arg-type]
    assert ours == list(SCHEMA[record.__name__].field_names)


# 3.9's schema declares the readOnly flag that 3.8 read and wrote by hand after the record.
THREE_NINE_FIELDS = {"ConnectRequest": ("readOnly", "z"), "ConnectResponse": ("readOnly", "z")}


def test_the_zookeeper_jute_copy_declares_the_records_of_apaches_jar() -> None:
    jar = {name.rsplit(".", 1)[-1]: record for name, record in FACTS["records"].items()}
    assert set(jar) == set(SCHEMA)
    for name, record in jar.items():
        fields, sig = list(record["fields"]), record["signature"]
        if name in THREE_NINE_FIELDS:
            field, code = THREE_NINE_FIELDS[name]
            fields.append(field)
            sig = sig[:-1] + code + ")"
        assert f"{SCHEMA[name].module}.{name}" in FACTS["records"], name
        assert list(SCHEMA[name].field_names) == fields, name
        assert signature(name) == sig, name


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


# --- the recorded facts are the jars' -----------------------------------------------------


@pytest.mark.slow
def test_the_recorded_facts_are_what_the_installed_jars_say() -> None:
    why_not = apache.missing()
    if why_not is not None:
        pytest.skip(why_not)
    assert apache.extract() == FACTS, "regenerate with: python -m tests.spec.apache"
