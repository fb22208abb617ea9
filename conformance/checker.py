"""The history checker: is this history allowed by ZooKeeper's guarantees?

``check(history, profile, mode)`` judges a ``conformance.history.History`` with ``spec/`` as
the sequential model and returns a ``conformance.verdict.Verdict``:

1. *Structural checks* (``conformance.ordering``): the zxids of writes are unique and ordered
   consistently with real time; replies on a connection come back in request order; a
   session's zxids never go backwards (across reconnects too); no reply claims a zxid from
   the future; reads are held to real time as the mode says (below); sequence numbers are
   never reused; ephemerals do not outlive their sessions; one transaction has one time.
2. *Replay* (``conformance.replay``): every write, at its zxid, and every read, at the zxid its
   reply carries, through ``spec.machine.step``; each reply must be the spec's, and each
   connection's notifications must be exactly the events the spec sends it, each before any
   reply that shows the state after its change. Transactions nobody observed (new sessions,
   expiries, reaping, requests whose outcome is unknown) are placed in the zxid gaps by a
   bounded search; if the search runs out the verdict is *undecided*.
3. *Explanation* (``conformance.explain``): the first observation the replay cannot explain
   becomes a violation with the few operations that show it.

Modes are the guarantees of ``spec.ensemble.Guarantee``, weakest first:

* ``"zookeeper"``: what an Apache ZooKeeper ensemble promises — writes in one order that
  respects real time, every session's replies in that order and never going back. A sync is
  held to nothing more: a leader cut off in a minority answers syncs until it notices
  (ZOOKEEPER-1675), so "sync, then read" can miss an acknowledged write.
* ``"sync-linearizable"``: also, a sync and every read sent after a successful sync of its
  session see every write completed before the sync was sent — what zkref promises with
  ``quorumSync=true``, and any single server.
* ``"linearizable"``: also, every read sees every write completed before it was sent — one
  server's promise (a history whose clients all talk to one server that kept its leader).

Profiles: ``"3.8"`` or ``"3.9"`` (``spec.profiles``); by default the history header's, else
3.9.

What the checker must not do: trust the server. Everything it concludes is from the history
and the spec; a history it cannot read is ``HistoryFormatError`` (bad input), never a verdict.
"""

from __future__ import annotations

import time

from conformance.explain import explain
from conformance.history import History, HistoryFormatError, Snapshot
from conformance.index import HistoryIndex
from conformance.ordering import structural_checks
from conformance.replay import replay_all
from conformance.verdict import Undecided, UnknownOutcome, Verdict, Violation
from spec.ensemble import Guarantee
from spec.modes import NodeKind
from spec.paths import ROOT, parent_path
from spec.profiles import PROFILES, V3_9, Profile
from spec.state import Config, Session, State, Znode, initial_state
from spec.zxid import zxid_epoch

MODES = tuple(guarantee.value for guarantee in Guarantee)


def resolve_profile(history: History, profile: Profile | str | None) -> Profile:
    """The profile asked for, else the history's, else 3.9."""
    if isinstance(profile, Profile):
        return profile
    name = profile or history.header.profile
    if name is None:
        return V3_9
    if name not in PROFILES:
        raise HistoryFormatError(f"unknown profile {name!r}; known: {sorted(PROFILES)}")
    return PROFILES[name]


def config_for(history: History, profile: Profile) -> Config:
    settings = history.header.settings
    return Config(
        extended_types_enabled=settings.extended_types_enabled,
        reconfig_enabled=settings.reconfig_enabled,
        super_digest=settings.super_digest,
        jute_max_buffer=settings.jute_max_buffer,
        container_max_never_used_interval_ms=settings.container_max_never_used_interval_ms,
        profile=profile,
    )


def base_state(history: History, config: Config) -> State:
    """The spec's state when the history began: a fresh server, or the recorded snapshot."""
    if history.snapshot is not None:
        return _from_snapshot(history.snapshot, config)
    if not history.header.fresh:
        raise HistoryFormatError(
            "the history neither starts on a fresh server nor records a snapshot of the tree: "
            "the checker cannot know the state before it"
        )
    return initial_state(config)


def _from_snapshot(snapshot: Snapshot, config: Config) -> State:
    state = initial_state(config, epoch=zxid_epoch(snapshot.zxid))
    state.last_zxid = snapshot.zxid
    children: dict[str, set[str]] = {n.path: set() for n in snapshot.nodes}
    for node in snapshot.nodes:
        if node.path != ROOT:
            parent = parent_path(node.path)
            if parent not in children:
                raise HistoryFormatError(f"snapshot: {node.path} has no parent {parent}")
            children[parent].add(node.path.rsplit("/", 1)[1])
    nodes: dict[str, Znode] = {}
    for node in snapshot.nodes:
        stat = node.stat
        owner = stat.ephemeralOwner
        nodes[node.path] = Znode(
            data=node.data,
            acl=node.acl,
            czxid=stat.czxid,
            mzxid=stat.mzxid,
            pzxid=stat.pzxid,
            ctime=stat.ctime,
            mtime=stat.mtime,
            version=stat.version,
            child_creates=(stat.cversion + stat.numChildren) // 2,
            aversion=stat.aversion,
            kind=NodeKind.EPHEMERAL if owner else NodeKind.PERSISTENT,
            ephemeral_owner=owner,
            children=frozenset(children[node.path]),
        )
        if owner and owner not in state.sessions:
            # A session from before the history: it may end during it (a candidate).
            state.sessions[owner] = Session(owner, bytes(16), 0, 1 << 62, connected=False)
    if ROOT not in nodes:
        raise HistoryFormatError("snapshot: no root znode")
    state.nodes = nodes
    return state


def check(
    history: History, profile: Profile | str | None = None, mode: str = "zookeeper"
) -> Verdict:
    """Decide whether ``history`` is allowed (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    started = time.perf_counter()
    chosen = resolve_profile(history, profile)
    config = config_for(history, chosen)
    base = base_state(history, config)
    index = HistoryIndex(history, config)
    verdict = Verdict(chosen.name, mode, index=index)
    verdict.violations.extend(structural_checks(index, mode))
    result = replay_all(index, base, chosen.notification_zxid)
    if result.failure is not None:
        violation = explain(index, result.replay, result.failure, mode)
        if result.undecided:
            verdict.undecided.append(
                Undecided(
                    f"could not decide: {violation.summary} — unless requests whose outcome is "
                    f"unknown took effect in a way the bounded search did not try",
                    violation.ops
                    + tuple(op.id for op in index.ops if op.outcome == "unknown")[:10],
                )
            )
        elif not _already_reported(verdict.violations, violation):
            verdict.violations.append(violation)
    placed = {
        p.candidate.op.id: p.zxid for p in result.replay.placements if p.candidate.op is not None
    }
    for op in index.ops:
        if op.outcome == "unknown" and op.is_write:
            zxid = placed.get(op.id)
            verdict.unknown_outcomes.append(
                UnknownOutcome(op.id, "took effect" if zxid else "no effect observed", zxid)
            )
    verdict.stats = {
        "operations": len(index.ops),
        "writes": len(index.writes),
        "reads": sum(1 for o in index.ops if o.positioned and not o.is_write),
        "unknown outcomes": sum(1 for o in index.ops if o.outcome == "unknown"),
        "notifications": len(history.notifications),
        "sessions": len(index.sessions),
        "connections": len(index.connections),
        "replayed": result.replay.observations,
        "replays": result.runs,
        "trials": result.replay.trials,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return verdict


def _already_reported(found: list[Violation], violation: Violation) -> bool:
    """The replay often re-discovers what a structural check already explained better."""
    mine = set(violation.ops)
    return any(
        (v.kind == violation.kind and mine & set(v.ops)) or (mine and mine <= set(v.ops))
        for v in found
    )


def check_index(history: History, profile: Profile | str | None = None) -> HistoryIndex:
    """The index a verdict's operation ids refer to (for rendering)."""
    chosen = resolve_profile(history, profile)
    return HistoryIndex(history, config_for(history, chosen))


__all__ = ["MODES", "check", "check_index"]
