"""Every synchronization mode in both directions, forced and read back from both servers'
logs: a zkref leader synchronizing an Apache ZooKeeper 3.8 follower, and an Apache leader
synchronizing a zkref follower, by DIFF, SNAP and TRUNC.

One ensemble, Apache servers 1 and 2 and zkref server 3 (``sync_mix``); each test first
makes a server of the kind it needs lead (``ensure_leader``: kill -9 the leader and restart
it, leadership passes by ZAB's election), then:

* DIFF: a follower is killed, writes go on, it restarts: it lies inside the leader's
  history, so the leader sends the txns it lacks (``LearnerHandler.syncFollower``: the
  committed log covers its zxid).
* SNAP: a follower is killed and its data directory emptied (a lost disk), writes go on, it
  restarts with nothing: its zxid is before the leader's history, so the whole tree goes
  (Apache could DIFF from its on-disk log, but not past its size limit, which its
  preallocated log files always pass here).
* TRUNC: the leader gets a write its followers never see (both are stopped, SIGSTOP, and
  then killed with the proposal unread in their sockets; the leader logged it), and is
  killed. The followers restart and elect a new leader, which never heard of the write;
  the old leader restarts and follows it. Its log ends past the new leader's history, in
  the old epoch, so it is told to truncate it (``peerLastZxid > maxCommittedLog``). The
  write is then nowhere.

Afterwards every server holds the same tree, znode for znode and stat for stat
(``tree_of``), including the ephemeral and the digest-ACL znode the SNAP carried.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from tests.ensemble.failover import Writer
from tests.mixed.conftest import KAZOO_START_TIMEOUT_S
from tests.mixed.ensemble import APACHE, ZKREF, MixedEnsemble, mixed_ensemble

WRITES = 20
SESSION_TIMEOUT_S = 40.0  # the most tickTime=2000 allows: outlives a TRUNC's restarts
LOGGED_WITHIN_S = 10.0
STOPPED_WITHIN_S = 5.0
DIGEST_AUTH = ("digest", "user:secret")


@pytest.fixture(scope="module")
def sync_mix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixedEnsemble]:
    with mixed_ensemble(tmp_path_factory.mktemp("mixed-sync"), "AAZ") as ensemble:
        yield ensemble


# --- helpers ---------------------------------------------------------------------------------


def _kazoo(address: str, **kwargs: Any) -> Any:
    client = KazooClient(hosts=address, **kwargs)
    client.start(timeout=KAZOO_START_TIMEOUT_S)
    return client


def tree_of(mix: MixedEnsemble, sid: int) -> dict[str, tuple[bytes, tuple[int, ...]]]:
    """Every znode outside /zookeeper on one server (read there alone, after a sync): its
    data and its whole stat (with the credentials of ``_snapshot_contents``' ACL)."""
    client = _kazoo(mix[sid].address, auth_data=[DIGEST_AUTH])
    try:
        client.sync("/")
        tree: dict[str, tuple[bytes, tuple[int, ...]]] = {}
        stack = ["/"]
        while stack:
            path = stack.pop()
            data, stat = client.get(path)
            tree[path] = (data, tuple(stat))
            for child in client.get_children(path):
                child_path = f"{path.rstrip('/')}/{child}"
                if child_path != "/zookeeper":
                    stack.append(child_path)
        return tree
    finally:
        client.stop()
        client.close()


def _assert_every_server_holds_the_same_tree(mix: MixedEnsemble) -> dict[str, Any]:
    trees = {sid: tree_of(mix, sid) for sid in mix.running()}
    first = next(iter(trees.values()))
    for sid, tree in trees.items():
        assert tree == first, (
            f"server {sid} differs: {sorted(set(tree.items()) ^ set(first.items()))[:5]}"
        )
    return first


def _write(mix: MixedEnsemble, root: str, count: int = WRITES) -> list[str]:
    client = _kazoo(mix.connect_string)
    try:
        client.ensure_path(root)
        return [client.create(f"{root}/n-", b"x" * 10, sequence=True) for _ in range(count)]
    finally:
        client.stop()
        client.close()


def _others(mix: MixedEnsemble, sid: int) -> list[int]:
    return [other for other in sorted(mix.members) if other != sid]


def ensure_leader(mix: MixedEnsemble, kind: str) -> int:
    """Make a server of ``kind`` lead: kill -9 the leader and restart it until one does."""
    for _ in range(len(mix.members)):
        leader = mix.leader()
        if mix.kind_of(leader) == kind:
            return leader
        mix.kill(leader)
        mix.wait_formed()
        mix.restart(leader)
        mix.wait_formed()
    raise AssertionError(f"no {kind} server leads: {mix.modes()}")


def _sync_lines(mix: MixedEnsemble, leader: int, learner: int, since: dict[int, int]) -> str:
    """What the leader logged, since ``since``, about how it synchronized ``learner``.

    zkref: ``synchronizing learner N (last zxid Z) by MODE``. Apache: a LearnerHandler
    thread logs ``Synchronizing with Learner sid: N``, then on the same thread ``Sending
    DIFF``/``Sending TRUNC``/``Sending snapshot``."""
    text = mix.log_since(leader, since[leader])
    if mix.kind_of(leader) == ZKREF:
        return "\n".join(
            line for line in text.splitlines() if f"synchronizing learner {learner} " in line
        )
    threads = set(re.findall(rf"\[(LearnerHandler-[^\]]+)\] .*Learner sid: {learner} ", text))
    return "\n".join(
        line
        for line in text.splitlines()
        if any(f"[{thread}]" in line for thread in threads) and "Sending" in line
    )


def _learner_lines(mix: MixedEnsemble, learner: int, since: dict[int, int]) -> str:
    text = mix.log_since(learner, since[learner])
    markers = (
        ("synchronizes us by",)
        if mix.kind_of(learner) == ZKREF
        else ("Getting a diff", "Getting a snapshot", "Truncating log")
    )
    return "\n".join(line for line in text.splitlines() if any(m in line for m in markers))


def _offsets(mix: MixedEnsemble) -> dict[int, int]:
    return {sid: mix.log_size(sid) for sid in mix.members}


# What each side logs for each mode: (zkref leader, Apache leader, zkref learner, Apache learner)
MODE_LINES = {
    "DIFF": (" by DIFF", "Sending DIFF", " by DIFF", "Getting a diff"),
    "SNAP": (" by SNAP", "Sending snapshot", " by SNAP", "Getting a snapshot"),
    "TRUNC": (" by TRUNC", "Sending TRUNC", " by TRUNC", "Truncating log"),
}


def _check_mode(
    mix: MixedEnsemble, mode: str, leader: int, learner: int, since: dict[int, int]
) -> str:
    zkref_leader, apache_leader, zkref_learner, apache_learner = MODE_LINES[mode]
    said = _sync_lines(mix, leader, learner, since)
    expected = zkref_leader if mix.kind_of(leader) == ZKREF else apache_leader
    assert expected in said, f"the leader {leader} did not sync {learner} by {mode}: {said!r}"
    heard = _learner_lines(mix, learner, since)
    expected = zkref_learner if mix.kind_of(learner) == ZKREF else apache_learner
    assert expected in heard, f"the learner {learner} was not synced by {mode}: {heard!r}"
    summary = f"{mix.kind_of(leader)} {leader} -> {mix.kind_of(learner)} {learner}: {mode}"
    print(f"\n{summary}\n  leader: {said.strip()}\n  learner: {heard.strip()}")
    return summary


def _catch_up(
    mix: MixedEnsemble, mode: str, learner: int, wipe: bool
) -> tuple[int, dict[str, Any]]:
    """Kill ``learner`` (a follower), write, restart it; check it was synced by ``mode``."""
    leader = mix.leader()
    assert learner != leader
    mix.kill(learner)
    if wipe:
        mix.wipe(learner)
    root = f"/{mode.lower()}-{mix.kind_of(leader)}-to-{mix.kind_of(learner)}"
    written = _write(mix, root)
    since = _offsets(mix)
    mix.restart(learner)
    mix.wait_formed()
    assert mix.leader() == leader
    _check_mode(mix, mode, leader, learner, since)
    tree = _assert_every_server_holds_the_same_tree(mix)
    assert set(written) <= set(tree)
    return leader, tree


# --- DIFF and SNAP ---------------------------------------------------------------------------


def test_a_zkref_leader_synchronizes_an_apache_follower_by_diff(sync_mix: MixedEnsemble) -> None:
    ensure_leader(sync_mix, ZKREF)
    _catch_up(sync_mix, "DIFF", sync_mix.sids_of(APACHE)[0], wipe=False)


def _snapshot_contents(mix: MixedEnsemble, learner: int, root: str) -> Any:
    """An ephemeral of a live session and a znode under a digest ACL, so the snapshot
    carries sessions and an ACL beyond world:anyone; the session's owner client."""
    owner = _kazoo(mix[mix.leader()].address, auth_data=[DIGEST_AUTH])
    owner.ensure_path(root)
    owner.create(f"{root}/ephemeral", b"e", ephemeral=True)
    owner.create(f"{root}/private", b"p", acl=[make_digest_acl("user", "secret", all=True)])
    return owner


def _check_snapshot_contents(mix: MixedEnsemble, learner: int, root: str, owner: Any) -> None:
    reader = _kazoo(mix[learner].address, auth_data=[DIGEST_AUTH])
    try:
        reader.sync(root)
        stat = reader.exists(f"{root}/ephemeral")
        assert stat is not None and stat.ephemeralOwner == owner.client_id[0]
        acl, _ = reader.get_acls(f"{root}/private")
        assert [(a.id.scheme, a.perms) for a in acl] == [("digest", 31)], acl
        owner.stop()  # the session, which came in the snapshot, ends: its ephemeral goes
        owner.close()
        reader.sync(root)
        assert reader.exists(f"{root}/ephemeral") is None
    finally:
        reader.stop()
        reader.close()


def test_a_zkref_leader_synchronizes_an_apache_follower_by_snap(sync_mix: MixedEnsemble) -> None:
    ensure_leader(sync_mix, ZKREF)
    learner = sync_mix.sids_of(APACHE)[0]
    owner = _snapshot_contents(sync_mix, learner, "/snap-holds")
    _catch_up(sync_mix, "SNAP", learner, wipe=True)
    _check_snapshot_contents(sync_mix, learner, "/snap-holds", owner)


# --- TRUNC -----------------------------------------------------------------------------------


def _stop(mix: MixedEnsemble, sid: int) -> None:
    """SIGSTOP a member and wait until the kernel says it is stopped."""
    pid = mix[sid].pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + STOPPED_WITHIN_S
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        assert time.monotonic() < deadline, f"server {sid} did not stop"
        time.sleep(0.01)


def _kill_stopped(mix: MixedEnsemble, sid: int) -> None:
    """kill -9 a stopped member without letting it run first (``kill`` would SIGCONT it and
    it could read what waits in its sockets)."""
    member = mix[sid]
    assert member.process is not None
    os.kill(member.process.pid, signal.SIGKILL)
    member.process.wait(10)
    member.kill()  # reaped already: only closes its log


def _logged(directory: Path, marker: bytes) -> bool:
    """Whether some file under ``directory`` (a txn log, a database, its WAL) holds
    ``marker``."""
    for path in directory.rglob("*"):
        if not path.is_file() or path.stat().st_size == 0:
            continue
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if m.find(marker) >= 0:
                return True
    return False


def _truncate(mix: MixedEnsemble, old_leader_kind: str, new_leader_kind: str) -> None:
    old_leader = ensure_leader(mix, old_leader_kind)
    followers = _others(mix, old_leader)
    root = f"/trunc-{old_leader_kind}-by-{new_leader_kind}"
    committed = _write(mix, root, 3)
    # A session of its own on the old leader: its write will never be acknowledged.
    writer = _kazoo(mix[old_leader].address, timeout=SESSION_TIMEOUT_S)
    session = writer.client_id
    writer.sync(root)
    for sid in followers:
        _stop(mix, sid)
    marker = f"never committed: {root}".encode()
    writer.create_async(f"{root}/uncommitted", marker)
    deadline = time.monotonic() + LOGGED_WITHIN_S
    while not _logged(mix[old_leader].data_dir, marker):
        assert time.monotonic() < deadline, "the leader did not log the write"
        time.sleep(0.05)
    for sid in followers:
        _kill_stopped(mix, sid)
    mix.kill(old_leader)
    writer.stop()
    writer.close()
    # The followers come back without opening a session (a session is a txn of the new
    # epoch, and a learner's log ending in an older epoch than a txn it lacks gets SNAP).
    with ThreadPoolExecutor(len(followers)) as pool:
        list(pool.map(lambda sid: mix.restart(sid, open_session=False), followers))
    new_leader = mix.wait_formed()
    assert mix.kind_of(new_leader) == new_leader_kind, (new_leader, mix.modes())
    since = _offsets(mix)
    mix.restart(old_leader, open_session=False)
    mix.wait_formed()
    _check_mode(mix, "TRUNC", new_leader, old_leader, since)
    tree = _assert_every_server_holds_the_same_tree(mix)
    assert f"{root}/uncommitted" not in tree
    assert set(committed) <= set(tree)
    # End the session that wrote it (it would expire in a later epoch anyway).
    ender = _kazoo(mix.connect_string, client_id=session)
    ender.stop()
    ender.close()


def test_an_apache_leader_truncates_a_zkref_follower(sync_mix: MixedEnsemble) -> None:
    """zkref, the old leader, logged a write no one else saw; Apache leads next."""
    _truncate(sync_mix, ZKREF, APACHE)


def test_an_apache_leader_synchronizes_a_zkref_follower_by_diff(sync_mix: MixedEnsemble) -> None:
    ensure_leader(sync_mix, APACHE)
    _catch_up(sync_mix, "DIFF", sync_mix.sids_of(ZKREF)[0], wipe=False)


def test_an_apache_leader_synchronizes_a_zkref_follower_by_snap(sync_mix: MixedEnsemble) -> None:
    ensure_leader(sync_mix, APACHE)
    learner = sync_mix.sids_of(ZKREF)[0]
    owner = _snapshot_contents(sync_mix, learner, "/snap-holds-2")
    _catch_up(sync_mix, "SNAP", learner, wipe=True)
    _check_snapshot_contents(sync_mix, learner, "/snap-holds-2", owner)


def test_a_zkref_leader_truncates_an_apache_follower(sync_mix: MixedEnsemble) -> None:
    """Apache, the old leader, logged a write no one else saw; zkref leads next."""
    _truncate(sync_mix, APACHE, ZKREF)


# --- SNAP while writes go on -------------------------------------------------------------------


def _snap_under_writes(mix: MixedEnsemble, learner_kind: str) -> None:
    """A follower of ``learner_kind`` loses its disk and comes back while a client writes
    through the connect string: the leader's snapshot is taken while it commits (Apache's
    is fuzzy: ``LearnerHandler`` streams the live tree, so it may hold txns after the zxid
    it names, which come again as proposals)."""
    leader = mix.leader()
    learner = next(sid for sid in mix.sids_of(learner_kind) if sid != leader)

    async def run() -> tuple[set[str], str]:
        writer = Writer(mix.addresses)
        await writer.start()
        try:
            await writer.wait_acks(50, 30)
            await asyncio.to_thread(mix.kill, learner)
            await asyncio.to_thread(mix.wipe, learner)
            await writer.wait_acks(50, 30)
            since = _offsets(mix)
            await asyncio.to_thread(mix.restart, learner)
            await writer.wait_acks(50, 30)
            summary = await asyncio.to_thread(_check_mode, mix, "SNAP", leader, learner, since)
        finally:
            await writer.stop()
        return writer.acknowledged(), summary

    acknowledged, _ = asyncio.run(asyncio.wait_for(run(), 180))
    tree = _assert_every_server_holds_the_same_tree(mix)
    assert acknowledged <= set(tree), sorted(acknowledged - set(tree))[:5]


def test_an_apache_leader_synchronizes_a_zkref_follower_by_snap_while_writes_go_on(
    sync_mix: MixedEnsemble,
) -> None:
    ensure_leader(sync_mix, APACHE)
    _snap_under_writes(sync_mix, ZKREF)


def test_a_zkref_leader_synchronizes_an_apache_follower_by_snap_while_writes_go_on(
    sync_mix: MixedEnsemble,
) -> None:
    ensure_leader(sync_mix, ZKREF)
    _snap_under_writes(sync_mix, APACHE)
