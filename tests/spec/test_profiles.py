"""Tests of ``spec.profiles``: where Apache ZooKeeper 3.8 and 3.9 differ as clients see it.

Each profile field gets one test showing the difference through ``step``; the detailed
rules live in the chapters' own tests. Whether V3_8 is what Apache ZooKeeper 3.8 does is a
question for a real server, which the conformance suite answers (``tests/conformance/
test_suite.py`` holds Apache ZooKeeper 3.8 to it); what Apache's 3.8 jar itself states (its
version, its watcher types) is checked here against ``tests.spec.apache``.
"""

from __future__ import annotations

import dataclasses

import pytest

from spec.acl import ACL, ANYONE_ID_UNSAFE, Id, Perms
from spec.errors import Code
from spec.events import AddWatchMode, WatcherType
from spec.profiles import PROFILES, V3_8, V3_9, Profile, profile_for_version
from spec.requests import (
    AddWatch,
    Check,
    CheckWatches,
    CreateResult,
    Exists,
    GetData,
    Multi,
    MultiResponse,
    RemoveWatches,
    SetACL,
    SetData,
)
from spec.state import Config, initial_state
from tests.spec.apache import THREE_NINE_WATCHER_TYPES
from tests.spec.apache import load as load_apache_facts
from tests.spec.helpers import PROFILES as BOTH
from tests.spec.helpers import Server, body, create, create2, events_of, reply_of

FACTS = load_apache_facts()


def test_every_profile_field_is_a_behaviour_one_line_has_and_the_other_lacks() -> None:
    # The values are Apache's behaviour, so only a server can vouch for them: the conformance
    # suite holds Apache ZooKeeper 3.8 to V3_8 (tests/conformance/test_suite.py) and each
    # field's difference is shown through ``step`` below. What holds here is the design.
    assert PROFILES == {"3.8": V3_8, "3.9": V3_9}
    fields = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    # Two fields name what 3.8 does and 3.9 no longer does (quirks of 3.8's watch manager).
    only_3_8 = {"null_path_watch_breaks_modes", "check_watches_walks_parents"}
    for name in fields:
        expected = name in only_3_8
        assert getattr(V3_8, name) is expected and getattr(V3_9, name) is not expected, name


def test_apaches_3_8_jar_is_served_the_3_8_profile() -> None:
    assert profile_for_version(FACTS["version"]) is V3_8


def test_the_3_8_profile_refuses_exactly_the_watcher_types_apaches_3_8_jar_lacks() -> None:
    in_jar = FACTS["Watcher.WatcherType"]
    for profile in BOTH:
        server = Server(profile)
        sid = server.connect()
        server.ok(sid, create("/a"))
        server.ok(sid, AddWatch("/a", AddWatchMode.PERSISTENT))
        server.ok(sid, GetData("/a", watch=True))
        accepted = {
            t.name
            for t in WatcherType
            if server.err(sid, CheckWatches("/a", t)) != Code.MARSHALLINGERROR
        }
        expected = set(in_jar) | (set(THREE_NINE_WATCHER_TYPES) if profile is V3_9 else set())
        assert accepted == expected, profile.name


def test_zkref_serves_the_3_9_profile_by_default() -> None:
    assert Config().profile is V3_9
    assert initial_state().config.profile is V3_9


@pytest.mark.parametrize(
    ("version", "profile"),
    [
        ("3.8.0-11+deb12u2", V3_8),
        ("3.8.4", V3_8),
        ("3.9.0", V3_9),
        ("3.9.3-1234abc, built on 2024", V3_9),
        (" 3.9.5 ", V3_9),
        ("3.10.0", V3_9),
        ("4.0.1", V3_9),
        ("3.7.2", V3_8),
        ("3.5", V3_8),
        ("garbage", V3_8),
        ("", V3_8),
    ],
)
def test_profile_for_version(version: str, profile: Profile) -> None:
    assert profile_for_version(version) is profile


# --- one observable difference per field --------------------------------------------------


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_notification_zxid_is_a_wire_difference_only(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    server.ok(sid, create("/a"))
    server.ok(sid, GetData("/a", watch=True))
    outcome = server.ok(sid, SetData("/a", b""))
    assert outcome.events[0].zxid == reply_of(outcome).zxid
    assert profile.notification_zxid is (profile is V3_9)


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_multi_create2_result(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    response = body(server.call(sid, Multi((create2("/a"), create("/b")))), MultiResponse)
    stat = server.stat("/a") if profile.multi_create2_result else None
    assert response.results == (CreateResult("/a", stat), CreateResult("/b", None))


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_exists_checks_read(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    server.ok(sid, create("/a", acl=(ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    code = server.err(sid, Exists("/a", watch=True))
    assert code == (Code.NOAUTH if profile.exists_checks_read else Code.OK)
    watched = bool(server.watches(sid, "/a")[0])
    assert watched is not profile.exists_checks_read


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_watch_mode_set(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    server.ok(sid, create("/a"))
    server.ok(sid, AddWatch("/a", AddWatchMode.PERSISTENT))
    server.ok(sid, GetData("/a", watch=True))
    server.ok(sid, SetData("/a", b"1"))
    # 3.9 kept the persistent watch beside the standard one; 3.8 replaced it.
    second = server.ok(sid, SetData("/a", b"2"))
    assert bool(events_of(second)) is profile.watch_mode_set


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_persistent_watcher_types(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    server.ok(sid, AddWatch("/a", AddWatchMode.PERSISTENT))
    expected = Code.OK if profile.persistent_watcher_types else Code.MARSHALLINGERROR
    assert server.err(sid, CheckWatches("/a", WatcherType.Persistent)) == expected
    assert server.err(sid, RemoveWatches("/a", WatcherType.Persistent)) == expected


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_ipv6_acl(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect(client_address="::1")
    code = server.err(sid, create("/a", acl=(ACL(Perms.ALL, Id("ip", "::1/128")),)))
    assert code == (Code.OK if profile.ipv6_acl else Code.INVALIDACL)
    if profile.ipv6_acl:
        assert server.err(sid, GetData("/a")) == Code.OK
        other = server.connect(client_address="::2")
        assert server.err(other, GetData("/a")) == Code.NOAUTH


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_exists_rejects_nul_in_both_profiles(profile: Profile) -> None:
    server = Server(profile)
    sid = server.connect()
    assert server.err(sid, Exists("/\u0000")) == Code.BADARGUMENTS


# --- what both profiles share -------------------------------------------------------------


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_both_profiles_filter_events_by_read_permission(profile: Profile) -> None:
    server = Server(profile)
    writer = server.connect()
    watcher = server.connect()
    server.ok(writer, create("/a"))
    server.ok(watcher, GetData("/a", watch=True))
    server.ok(writer, SetACL("/a", (ACL(Perms.WRITE, ANYONE_ID_UNSAFE),)))
    assert server.ok(writer, SetData("/a", b"")).events == ()


@pytest.mark.parametrize("profile", BOTH, ids=lambda p: p.name)
def test_both_profiles_answer_a_standalone_check_unimplemented_and_close(
    profile: Profile,
) -> None:
    server = Server(profile)
    sid = server.connect()
    outcome = server.call(sid, Check("/", -1))
    reply = reply_of(outcome)
    assert (reply.zxid, reply.err, reply.body) == (-1, Code.UNIMPLEMENTED, None)
    assert outcome.close and outcome.zxids == ()
