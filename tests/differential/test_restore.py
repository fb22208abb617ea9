"""A server rebuilt from its snapshot and log is the server that wrote them.

Random sessions run through the reference core (the same scripts as the differential test);
at a random point the core takes a snapshot. Restoring from that snapshot plus the whole
log — and from the log alone — must give back the same tree (every Stat, data, ACL, child
and index), the same sessions and the same last zxid.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.core import ZooKeeperCore
from reference.persistence import SnapshotWriter, encode_txn
from spec.profiles import V3_9
from tests.differential.test_reference_vs_spec import Action, Pair, actions


def _same_server(restored: ZooKeeperCore, original: ZooKeeperCore) -> None:
    assert restored.last_zxid == original.last_zxid
    assert set(restored.tree.nodes) == set(original.tree.nodes)
    for path, node in original.tree.nodes.items():
        mine = restored.tree.nodes[path]
        assert (mine.stat(), mine.data, mine.acl, mine.children, mine.kind, mine.ttl) == (
            node.stat(),
            node.data,
            node.acl,
            node.children,
            node.kind,
            node.ttl,
        ), path
    assert set(restored.sessions) == set(original.sessions)
    for session_id, session in original.sessions.items():
        # A re-attach renegotiates the timeout without logging it, in ZooKeeper too, so only
        # the password (derived from the id) is compared.
        assert restored.sessions[session_id].password == session.password
    # A session's entry may stay, empty, after its last ephemeral went.
    assert {k: list(v) for k, v in restored.tree.ephemerals.items() if v} == {
        k: list(v) for k, v in original.tree.ephemerals.items() if v
    }
    assert restored.tree.containers == original.tree.containers
    assert restored.tree.ttls == original.tree.ttls


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, min_size=5, max_size=60), cut=st.integers(0, 1000))
def test_restore_from_snapshot_and_log_rebuilds_the_same_server(
    script: list[Action], cut: int
) -> None:
    pair = Pair(V3_9)
    log: list[bytes] = []
    snapshot: bytes | None = None
    for index, action in enumerate(script):
        pair.run(action)
        log.extend(encode_txn(txn) for txn in pair.take_log())
        if index == cut % len(script):
            snapshot = pair.core.snapshot()
    config, now = pair.core.config, pair.state.now
    _same_server(ZooKeeperCore.restore(config, now, snapshot, log), pair.core)
    _same_server(ZooKeeperCore.restore(config, now, None, log), pair.core)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(actions, min_size=5, max_size=60),
    cut=st.integers(0, 1000),
    budgets=st.lists(st.integers(0, 4), min_size=1, max_size=20),
)
def test_a_snapshot_written_in_slices_is_the_snapshot_at_its_start(
    script: list[Action], cut: int, budgets: list[int]
) -> None:
    # A few znodes at a time between requests that create, change and delete znodes (the
    # system znodes and those of the script), as the server writes one.
    pair = Pair(V3_9)
    start = cut % len(script)
    expected: bytes | None = None
    writer: SnapshotWriter | None = None
    done = False
    for index, action in enumerate(script):
        pair.run(action)
        pair.take_log()
        if index == start:
            expected = pair.core.snapshot()
            writer = pair.core.snapshot_writer()
        elif writer is not None and not done:
            done = writer.step(budgets[index % len(budgets)])
    assert writer is not None and expected is not None
    while not writer.step(2):
        pass
    assert writer.finish() == expected
    assert pair.core.tree.before_change is None
