"""Planted bugs: real ZAB bugs, each one deliberate deviation in the real code, switched on
only by the simulator to prove that its checks catch them (``zkref sim --plant NAME``).

Every switch is a module-level ``bool`` that is False in production: the code pays one
attribute read where the switch sits. Each entry of ``PLANTS`` names the bug, the Apache
ZooKeeper issue it comes from, and what it breaks. ``plant(name)`` turns one on,
``unplant_all()`` turns them all off.
"""

from __future__ import annotations

from typing import Final

# Follower: the txns of a DIFF are applied at NEWLEADER without being logged, so the ACK
# of NEWLEADER promises what the disk does not hold (ZK-3911, ZK-4646).
DIFF_TXNS_NOT_LOGGED = False
# Follower: currentEpoch is written at NEWLEADER before the txns synchronized are logged
# (ZK-4643): a crash between the two leaves a server of the new epoch without them.
CURRENT_EPOCH_BEFORE_TXNS = False
# Votes carry the last applied zxid instead of the last logged one (ZK-2845).
VOTE_APPLIED_ZXID = False
# Leader: a learner ahead of the leader's last committed zxid is sent a DIFF, not a TRUNC,
# so it keeps txns nobody committed (ZK-1154).
DIFF_INSTEAD_OF_TRUNC = False
# Follower: a SNAP is kept in memory only; the disk keeps the old state (ZK-3642, ZK-3104).
SNAP_NOT_PERSISTED = False
# Leader: proposals go only to learners that finished synchronizing, not to those being
# synchronized (the gap the Remix specification found in the ZAB paper's description).
LATE_FORWARDING = False
# Leader: discovery without Zab 1.0's two defences of an epoch: the new epoch is one more
# than the leader's own accepted epoch, not the largest of a quorum's, and a learner that
# answers that it accepted this epoch already (−1, from another leader) is counted. Either
# defence alone keeps a second leader from gathering a quorum for an epoch (quorums
# intersect); without both, two leaders can lead one epoch.
EPOCH_NOT_MAX_OVER_QUORUM = False
# Follower: a proposal is acked when it arrives, and logged only when it commits: a quorum
# of acks need not be a quorum of logs.
ACK_BEFORE_LOG = False
# Leader: half of the voters count as a quorum (an off-by-one in QuorumMaj).
HALF_IS_QUORUM = False
# Follower: a TRUNC is taken as a DIFF (the log is not truncated).
TRUNC_IGNORED = False

PLANTS: Final[dict[str, tuple[str, str]]] = {
    "diff-txns-not-logged": (
        "DIFF_TXNS_NOT_LOGGED",
        "ZK-3911/ZK-4646: NEWLEADER acked with the synced txns applied but never logged",
    ),
    "current-epoch-before-txns": (
        "CURRENT_EPOCH_BEFORE_TXNS",
        "ZK-4643: currentEpoch made durable before the synced txns",
    ),
    "vote-applied-zxid": (
        "VOTE_APPLIED_ZXID",
        "ZK-2845: votes carry the applied zxid, not the logged one",
    ),
    "diff-instead-of-trunc": (
        "DIFF_INSTEAD_OF_TRUNC",
        "ZK-1154: a learner ahead of the leader is DIFFed instead of TRUNCated",
    ),
    "snap-not-persisted": (
        "SNAP_NOT_PERSISTED",
        "ZK-3642/ZK-3104: a SNAP kept in memory only",
    ),
    "late-forwarding": (
        "LATE_FORWARDING",
        "Remix: proposals forwarded only to fully synchronized learners",
    ),
    "epoch-not-max-over-quorum": (
        "EPOCH_NOT_MAX_OVER_QUORUM",
        "Zab 1.0 discovery: new epoch not the quorum's max + 1, and a -1 ACKEPOCH counted",
    ),
    "ack-before-log": (
        "ACK_BEFORE_LOG",
        "a follower acks a proposal before logging it",
    ),
    "half-is-quorum": (
        "HALF_IS_QUORUM",
        "half of the voters counted as a quorum",
    ),
    "trunc-ignored": (
        "TRUNC_IGNORED",
        "a follower takes TRUNC as DIFF and keeps txns nobody committed",
    ),
}


def plant(name: str) -> None:
    """Switch one planted bug on (``KeyError`` for an unknown name)."""
    variable, _ = PLANTS[name]
    globals()[variable] = True


def unplant_all() -> None:
    """Every planted bug off (production)."""
    for variable, _ in PLANTS.values():
        globals()[variable] = False


def planted() -> list[str]:
    """The names of the bugs switched on."""
    return [name for name, (variable, _) in PLANTS.items() if globals()[variable]]
