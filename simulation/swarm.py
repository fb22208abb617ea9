"""One seed, one simulated world: a VOPR-style run of a whole ensemble under faults.

``run(seed)`` draws everything from the seed — the ensemble size, the tick, the network's
latency and jitter, how often election messages are lost, how slow the disks are, how many
clients and how often they ask, how often servers crash, pause, or get cut off — then:

1. **Safety phase**: clients work while faults come and go; after every event the white-box
   invariants (``simulation.invariants``) must hold.
2. **Liveness phase**: every fault is healed (the network whole, paused servers resumed,
   crashed ones restarted); within ``LIVENESS_BOUND_MS`` of virtual time there must be one
   established leader with every server serving, and a write through it must commit.
3. **Judgement**: the leader holds every committed txn, and the conformance checker finds
   the whole recorded history allowed by ZooKeeper's guarantees.

The same seed gives the same run, event for event (``RunResult.render`` is byte-identical).
A failure says what was violated and how to replay it: ``zkref sim --seed N``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.checker import check
from conformance.history import Header, HistoryRecorder, ServerSettings
from reference.quorum.election import MAX_NOTIFICATION_INTERVAL_MS
from reference.quorum.peer import QuorumPeer
from reference.txn import CloseSessionTxn, CreateSessionTxn, Txn
from simulation.clients import SessionClient
from simulation.cluster import Cluster, Faults
from simulation.invariants import Invariants, InvariantViolation
from simulation.workload import random_op
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE

# Virtual time allowed for a healed ensemble to serve again. A server whose notifications
# went unanswered backs off up to maxNotificationInterval (60 s) before it sends them again
# (FastLeaderElection.lookForLeader's back-off, kept by zkref), and every vote it receives
# restarts that wait: after a heal the servers that backed off may first elect among
# themselves (up to 60 s until the first of them sends), while a straggler whose newer round
# they did not need answers them and then waits its full interval again before it asks who
# leads (the state machine found such a story: 97 s). Two intervals, then an election and a
# synchronization.
LIVENESS_BOUND_MS = 2 * MAX_NOTIFICATION_INTERVAL_MS + 30_000


# The rare paths a seed budget must take (``zkref sim`` counts them; a CI budget in which
# one never happens fails): synchronization by TRUNC and by SNAP, an election while a
# follower synchronizes, a re-attach the leader revalidates, a session expired by a later
# leader than the one it was created under, a DIFF while proposals are in flight.
RARE_PATHS = (
    "TRUNC sent",
    "SNAP sent",
    "election during sync",
    "REVALIDATE answered",
    "session expired across a leader change",
    "DIFF with proposals in flight",
)


@dataclass(frozen=True)
class Parameters:
    """What a seed draws."""

    replicas: int
    tick_time_ms: int
    faults: Faults
    clients: int
    in_flight_max: int
    op_interval_ms: int
    safety_ms: int
    fault_interval_ms: int
    crash_weight: float
    pause_weight: float
    partition_weight: float
    cut_weight: float

    @classmethod
    def draw(cls, seed: int, replicas: int | None = None) -> Parameters:
        rng = random.Random(f"parameters-{seed}")
        tick = rng.choice((50, 100, 200))
        return cls(
            replicas=replicas or rng.choice((3, 3, 5)),
            tick_time_ms=tick,
            faults=Faults(
                latency_ms=rng.randint(0, 3),
                jitter_ms=rng.choice((0, 2, tick // 10, tick // 4)),
                election_loss=rng.choice((0.0, 0.0, 0.05, 0.2)),
                fsync_ms=rng.randint(0, 3),
                fsync_jitter_ms=rng.choice((0, 2, tick // 5)),
            ),
            clients=rng.randint(2, 6),
            in_flight_max=rng.randint(1, 3),
            op_interval_ms=rng.choice((2, 5, 20)),
            safety_ms=tick * rng.choice((40, 80, 160)),
            # Faults a few ticks apart at the most (the ensemble barely settles between them)
            # to tens of ticks (time to elect, sync and work).
            fault_interval_ms=tick * rng.choice((5, 20, 60)),
            crash_weight=rng.choice((0.0, 1.0, 2.0)),
            pause_weight=rng.choice((0.0, 0.5, 1.0)),
            partition_weight=rng.choice((0.0, 1.0, 2.0)),
            cut_weight=rng.choice((0.0, 0.5)),
        )


@dataclass
class RunResult:
    seed: int
    parameters: Parameters
    violation: str | None = None
    kind: str | None = None
    log: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    operations: int = 0
    acknowledged_writes: int = 0
    simulated_ms: int = 0
    cpu_s: float = 0.0  # all of it
    sim_cpu_s: float = 0.0  # the simulation alone (without the history check)
    history_verdict: str = ""

    @property
    def ok(self) -> bool:
        return self.violation is None

    def render(self, with_log: bool = False) -> str:
        p = self.parameters
        lines = [
            f"seed {self.seed}: {p.replicas} replicas, tick {p.tick_time_ms} ms, "
            f"{p.clients} clients, {self.operations} operations "
            f"({self.acknowledged_writes} writes acknowledged), "
            f"{self.simulated_ms / 1000:.1f} s simulated",
            "events: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counters.items())),
        ]
        if self.history_verdict:
            lines.append(f"history: {self.history_verdict}")
        if with_log or self.violation:
            lines.extend(f"  {line}" for line in self.log)
        if self.violation:
            lines.append(f"VIOLATION ({self.kind}): {self.violation}")
            lines.append(f"reproduce with: zkref sim --seed {self.seed}")
        else:
            lines.append("ok")
        return "\n".join(lines)


class _Observer:
    """Connects a peer to the invariants, and counts the rare paths it takes."""

    def __init__(
        self, invariants: Invariants, peer: QuorumPeer, cluster: Cluster, created: dict[int, int]
    ) -> None:
        self.invariants = invariants
        self.peer = peer
        self.cluster = cluster
        self.created = created  # session id -> the epoch its createSession committed in

    def applied(self, sid: int, txn: Txn, previous_zxid: int) -> None:
        self.invariants.applied(sid, txn, previous_zxid)
        epoch = txn.header.zxid >> 32
        if isinstance(txn.body, CreateSessionTxn):
            self.created.setdefault(txn.header.session_id, epoch)
        elif (
            isinstance(txn.body, CloseSessionTxn)
            and self.peer.leader is not None  # counted once, on the leader
            and txn.header.cxid == 0  # an expiry: the leader's closeSession has cxid 0
            and self.created.get(txn.header.session_id, epoch) < epoch
        ):
            # decided by a later leader than the one the session was created under
            self.cluster.count("session expired across a leader change")

    def epoch_agreed(self, sid: int, epoch: int) -> None:
        self.invariants.epoch_agreed(sid, epoch)

    def established(self, sid: int, epoch: int) -> None:
        self.invariants.established(sid, epoch, self.peer)


def build(
    seed: int, parameters: Parameters
) -> tuple[Cluster, Invariants, HistoryRecorder, list[SessionClient], random.Random]:
    """The world of a seed: the cluster with its invariants attached, and its clients."""
    p = parameters
    invariants = Invariants()
    cluster = Cluster(
        p.replicas,
        tick_time_ms=p.tick_time_ms,
        seed=seed,
        faults=p.faults,
        session_timeout_ms=(2 * p.tick_time_ms, 20 * p.tick_time_ms),
    )

    created: dict[int, int] = {}

    def attach(sid: int, peer: QuorumPeer) -> None:
        peer.observer = _Observer(invariants, peer, cluster, created)

    cluster.on_peer = attach
    for sid, replica in cluster.replicas.items():
        assert replica.peer is not None
        attach(sid, replica.peer)
        replica.disk.on_durable = lambda item, prev, behind, sid=sid: invariants.durable(
            sid, item, prev, behind
        )

    def after_event(cluster: Cluster) -> None:
        invariants.check_replicas(
            {sid: r.peer for sid, r in cluster.replicas.items() if r.peer is not None}
        )

    cluster.after_event = after_event
    hosts = tuple(f"server{sid}" for sid in cluster.voters)
    recorder = HistoryRecorder(
        header=Header(profile="3.9", hosts=hosts, settings=ServerSettings(), started_ns=0)
    )
    rng = random.Random(f"world-{seed}")
    timeout = 10 * p.tick_time_ms
    clients = [
        SessionClient(cluster, f"c{i}", list(cluster.voters), recorder, rng, timeout)
        for i in range(p.clients)
    ]
    return cluster, invariants, recorder, clients, rng


def run(
    seed: int,
    replicas: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one seed (see the module docstring)."""
    parameters = Parameters.draw(seed, replicas)
    result = RunResult(seed, parameters)
    started = time.process_time()
    cluster, invariants, recorder, clients, rng = build(seed, parameters)
    start_ms = cluster.now
    log = result.log

    def note(text: str) -> None:
        log.append(f"{(cluster.now - start_ms) / 1000:8.3f}s {text}")

    try:
        _safety(cluster, clients, rng, parameters, note)
        liveness(cluster, invariants, clients, rng, note)
    except InvariantViolation as violation:
        result.violation = violation.detail
        result.kind = violation.kind
    result.simulated_ms = cluster.now - start_ms
    result.counters = dict(cluster.counters)
    for replica in cluster.replicas.values():
        peer = replica.peer
        if peer is not None:
            for mode, count in peer.syncs_sent.items():
                result.counters[f"{mode} sync led"] = (
                    result.counters.get(f"{mode} sync led", 0) + count
                )
    result.sim_cpu_s = time.process_time() - started
    history = recorder.history()
    result.operations = len(history.ops)
    result.acknowledged_writes = sum(len(c.acknowledged_writes) for c in clients)
    if result.violation is None:
        verdict = check(history)
        result.history_verdict = verdict.status
        # UNDECIDED (too many outcomes unknown for the bounded search) is no violation.
        if verdict.violations:
            result.violation = verdict.render().splitlines()[0] + "\n" + verdict.render()
            result.kind = "history"
    result.cpu_s = time.process_time() - started
    if progress is not None:
        progress(result.render().splitlines()[0])
    return result


def _safety(
    cluster: Cluster,
    clients: list[SessionClient],
    rng: random.Random,
    p: Parameters,
    note: Callable[[str], None],
) -> None:
    end = cluster.now + p.safety_ms
    next_fault = cluster.now + rng.randint(1, p.fault_interval_ms)
    next_op = cluster.now
    voters = list(cluster.voters)
    weights = [p.crash_weight, p.pause_weight, p.partition_weight, p.cut_weight, 1.0]
    while cluster.now < end:
        if cluster.now >= next_op:
            client = rng.choice(clients)
            if client.done:
                clients[clients.index(client)] = SessionClient(
                    cluster, f"{client.name}'", voters, client.recorder, rng, client.timeout_ms
                )
            elif client.ready and len(client.pending) < p.in_flight_max:
                client.submit(random_op(rng))
            next_op = cluster.now + rng.randint(1, p.op_interval_ms)
        if cluster.now >= next_fault:
            _fault(cluster, rng, weights, note)
            next_fault = cluster.now + rng.randint(1, p.fault_interval_ms)
        cluster.run_for(min(next_op, next_fault, end) - cluster.now)


def _fault(
    cluster: Cluster, rng: random.Random, weights: list[float], note: Callable[[str], None]
) -> None:
    voters = list(cluster.voters)
    kind = rng.choices(("crash", "pause", "partition", "cut", "heal"), weights)[0]
    down = [s for s in voters if not cluster.running(s)]
    paused = [s for s in voters if cluster.replicas[s].paused]
    if kind == "crash":
        if down and rng.random() < 0.6:
            sid = rng.choice(down)
            cluster.start(sid)
            note(f"restart {sid}")
        else:
            sid = rng.choice(voters)
            if cluster.running(sid):
                cluster.crash(sid)
                note(f"crash {sid}")
    elif kind == "pause":
        if paused and rng.random() < 0.6:
            sid = rng.choice(paused)
            cluster.resume(sid)
            note(f"resume {sid}")
        else:
            sid = rng.choice(voters)
            if cluster.running(sid) and not cluster.replicas[sid].paused:
                cluster.pause(sid)
                note(f"pause {sid}")
    elif kind == "partition":
        shuffled = voters[:]
        rng.shuffle(shuffled)
        cut_at = rng.randint(1, len(voters) - 1)
        groups = (set(shuffled[:cut_at]), set(shuffled[cut_at:]))
        cluster.partition(*groups)
        note(f"partition {sorted(groups[0])} | {sorted(groups[1])}")
    elif kind == "cut":
        source, target = rng.sample(voters, 2)
        cluster.cut(source, target)
        note(f"cut {source} -> {target}")
    else:
        cluster.heal()
        note("heal")


def liveness(
    cluster: Cluster,
    invariants: Invariants,
    clients: list[SessionClient],
    rng: random.Random,
    note: Callable[[str], None],
) -> None:
    cluster.heal()
    # A healed network loses nothing any more (the faults stop; the latency stays).
    cluster.faults = replace(cluster.faults, election_loss=0.0)
    for sid in cluster.voters:
        if cluster.replicas[sid].paused:
            cluster.resume(sid)
        if not cluster.running(sid):
            cluster.start(sid)
    note("liveness: healed, resumed, restarted every server")
    if not cluster.run_until(cluster.stable, LIVENESS_BOUND_MS):
        raise InvariantViolation(
            "no leader after healing",
            f"within {LIVENESS_BOUND_MS} ms: leaders {cluster.leaders()}, serving "
            f"{cluster.serving()}",
        )
    (leader,) = cluster.leaders()
    note(f"liveness: server {leader} leads")
    writer = SessionClient(
        cluster, "liveness", [leader], clients[0].recorder, rng, clients[0].timeout_ms
    )
    if not cluster.run_until(lambda: writer.ready or writer.done, LIVENESS_BOUND_MS):
        raise InvariantViolation("no session after healing", f"server {leader} took none")
    writer.submit(rq.Create("/liveness", b"", OPEN_ACL_UNSAFE, 0))
    if not cluster.run_until(lambda: bool(writer.acknowledged_writes), LIVENESS_BOUND_MS):
        raise InvariantViolation("no write after healing", f"server {leader} committed none")
    note("liveness: a write committed")
    invariants.check_durability(leader, cluster.peer(leader))
    for sid in cluster.serving():
        invariants.check_digest(sid, cluster.peer(sid))
