"""The ensemble as a Hypothesis state machine: stories of requests and faults that shrink.

Where the swarm (``simulation.swarm``) draws a whole world from one seed, ``EnsembleMachine``
lets Hypothesis choose every step: a client's request (creates, ephemeral and sequential
ones included, setData, delete, multi, reads with watches, sync, closeSession), a client
moving its session to another server, a crash, a
restart, a crash at a chosen moment of the protocol (``MOMENTS``), every server
power-cycled at once, a pause, a resume, a partition, a one-way cut, a heal, time passing,
or the next few deliveries one event at a time (a crash between a durable write and its
acknowledgement is two steps apart). After every event the white-box invariants hold
(``simulation.invariants``, and each session's reads never go back in time); at the end the
network is healed, every server restarted, a leader must serve and commit a write (the
swarm's liveness phase), and the conformance checker must find the recorded history
allowed. A failure shrinks to the shortest story Hypothesis can find, printed as the steps
that replay it (``run_state_machine_as_test``).

``find(plant, examples, seed)`` runs the machine and returns the shrunk failure, if any; the
pytest entry point (tests/simulation) runs it with no plant.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.checker import check
from reference.quorum import plants
from reference.quorum.follower import FollowerPhase
from reference.quorum.peer import QuorumPeer
from simulation.clients import SessionClient
from simulation.cluster import Cluster, Faults
from simulation.invariants import InvariantViolation
from simulation.swarm import Parameters, build, liveness
from simulation.workload import operations
from spec import requests as rq

REPLICAS = 3
CLIENTS = 3
STEPS_MAX = 60
TICK_MS = 100
# The story's worlds: a network with a little jitter, disks of uneven speed (so that which
# write is durable when a crash comes varies), sessions that outlive a few elections.
WORLD = Parameters(
    replicas=REPLICAS,
    tick_time_ms=TICK_MS,
    faults=Faults(latency_ms=1, jitter_ms=5, election_loss=0.0, fsync_ms=1, fsync_jitter_ms=20),
    clients=CLIENTS,
    in_flight_max=3,
    op_interval_ms=5,
    safety_ms=0,
    fault_interval_ms=0,
    crash_weight=0.0,
    pause_weight=0.0,
    partition_weight=0.0,
    cut_weight=0.0,
)
SERVERS = st.integers(1, REPLICAS)
CRASH_AT_EVENTS_MAX = 5_000


def _leader_agreed_not_established(peer: QuorumPeer, cluster: Cluster) -> bool:
    leader = peer.leader
    return leader is not None and leader.election_finished and not leader.established


def _follower_synchronizing(peer: QuorumPeer, cluster: Cluster) -> bool:
    follower = peer.follower
    return follower is not None and (
        FollowerPhase.SYNC_WAIT <= follower.phase <= FollowerPhase.UPTODATE_WAIT
    )


def _leader_log_ahead(peer: QuorumPeer, cluster: Cluster) -> bool:
    leader = peer.leader
    if leader is None or not leader.established:
        return False
    others = [
        r.peer.log_last
        for sid, r in cluster.replicas.items()
        if r.peer is not None and r.peer is not peer
    ]
    return bool(others) and peer.log_last > max(others)


# Where ``crash_at`` may crash a server.
MOMENTS: dict[str, Callable[[QuorumPeer, Cluster], bool]] = {
    "leader between ACKEPOCH and NEWLEADER quorums": _leader_agreed_not_established,
    "follower synchronizing": _follower_synchronizing,
    "leader's log ahead of every follower's": _leader_log_ahead,
}


class EnsembleMachine(RuleBasedStateMachine):
    """Three servers and three clients, every step chosen by Hypothesis (module docstring)."""

    examples = 0  # worlds built (Hypothesis examples tried), for reports

    def __init__(self) -> None:
        super().__init__()
        type(self).examples += 1
        world = build(0, WORLD)
        self.cluster, self.zab, self.recorder, self.clients, self.rng = world
        # Start from a serving ensemble: the first election is not the story.
        self.cluster.run_until(self.cluster.stable, 20_000)

    # --- clients -------------------------------------------------------------------------

    def _client(self, index: int) -> SessionClient:
        client = self.clients[index]
        if client.done:
            client = SessionClient(
                self.cluster,
                f"{client.name}'",
                list(self.cluster.voters),
                self.recorder,
                self.rng,
                client.timeout_ms,
            )
            self.clients[index] = client
        return client

    @rule(client=st.integers(0, CLIENTS - 1), op=operations())
    def request(self, client: int, op: rq.Operation) -> None:
        session = self._client(client)
        if len(session.pending) < WORLD.in_flight_max:
            session.submit(op)

    @rule(client=st.integers(0, CLIENTS - 1), sid=SERVERS)
    def move(self, client: int, sid: int) -> None:
        self._client(client).move_to(sid)

    @rule(client=st.integers(0, CLIENTS - 1))
    def close_session(self, client: int) -> None:
        self._client(client).submit(rq.CloseSession())

    # --- faults --------------------------------------------------------------------------

    @rule(sid=SERVERS)
    def crash(self, sid: int) -> None:
        self.cluster.crash(sid)

    @rule(sid=SERVERS)
    def restart(self, sid: int) -> None:
        if not self.cluster.running(sid):
            self.cluster.start(sid)

    @rule(moment=st.sampled_from(sorted(MOMENTS)))
    def crash_at(self, moment: str) -> None:
        """Run, event by event (at most ``CRASH_AT_EVENTS_MAX``), until some server is at
        ``moment``, and crash it there: the narrow windows a story of single deliveries
        rarely lands in (a leader between its quorum of ACKEPOCHs and NEWLEADER's, a
        follower in the middle of its synchronization, a leader whose log is ahead of
        every follower's)."""
        at = MOMENTS[moment]
        for _ in range(CRASH_AT_EVENTS_MAX):
            for sid, replica in self.cluster.replicas.items():
                peer = replica.peer
                if peer is not None and at(peer, self.cluster):
                    self.cluster.crash(sid)
                    return
            if not self.cluster.step():
                return

    @rule()
    def power_cycle(self) -> None:
        """Every server loses power at once and comes back (a rack or a data centre): what
        each disk had not made durable is gone, and every server restarts from its disk."""
        for sid in self.cluster.voters:
            self.cluster.crash(sid)
        for sid in self.cluster.voters:
            self.cluster.start(sid)

    @rule(sid=SERVERS)
    def pause(self, sid: int) -> None:
        self.cluster.pause(sid)

    @rule(sid=SERVERS)
    def resume(self, sid: int) -> None:
        self.cluster.resume(sid)

    @rule(minority=st.sets(SERVERS, min_size=1, max_size=REPLICAS // 2))
    def partition(self, minority: set[int]) -> None:
        rest = set(self.cluster.voters) - minority
        self.cluster.partition(minority, rest)

    @rule(source=SERVERS, to=SERVERS)
    def cut(self, source: int, to: int) -> None:
        if source != to:
            self.cluster.cut(source, to)

    @rule()
    def heal(self) -> None:
        self.cluster.heal()

    # --- time ----------------------------------------------------------------------------

    @rule(ms=st.sampled_from((1, 3, 10, 30, 100, 300, 1000, 3000)))
    def advance(self, ms: int) -> None:
        self.cluster.run_for(ms)

    @precondition(lambda self: bool(self.cluster._events))
    @rule(events=st.integers(1, 8))
    def deliver(self, events: int) -> None:
        """The next few events, one at a time (the finest interleaving)."""
        for _ in range(events):
            if not self.cluster.step():
                break

    # --- checks --------------------------------------------------------------------------

    @invariant()
    def replicas_agree(self) -> None:
        # Also checked after every event; here for the steps that ran none.
        self.zab.check_replicas(
            {sid: r.peer for sid, r in self.cluster.replicas.items() if r.peer is not None}
        )

    def teardown(self) -> None:
        """Heal, require a serving leader and a committed write, then judge the history."""
        liveness(self.cluster, self.zab, self.clients, self.rng, lambda _: None)
        verdict = check(self.recorder.history())
        if verdict.violations:
            raise InvariantViolation("history", verdict.render())


@dataclass
class MachineFailure:
    """What the machine found: the violation and the shrunk steps that replay it."""

    kind: str
    detail: str
    steps: list[str]
    examples: int
    cpu_s: float

    def render(self) -> str:
        lines = [f"VIOLATION ({self.kind}) after {self.examples} examples, {self.cpu_s:.1f} CPU-s"]
        lines.append(self.detail)
        lines.append("shrunk steps:")
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)


def find(
    plant: str | None = None,
    examples: int = 500,
    seed: int = 0,
    steps: int = STEPS_MAX,
    shrink: bool = True,
) -> MachineFailure | None:
    """Run the machine for up to ``examples`` stories (seeded: the same seed, the same
    stories) with ``plant`` switched on; the failure (shrunk, unless ``shrink`` is False:
    a check that only asks whether it is caught), or None."""
    plants.unplant_all()
    if plant is not None:
        plants.plant(plant)

    class Run(EnsembleMachine):
        examples = 0

    # What hypothesis.seed() sets on a test; run_state_machine_as_test copies it.
    Run._hypothesis_internal_use_seed = seed
    reported: list[object] = []
    started = time.process_time()
    try:
        with with_reporter(reported.append):
            run_state_machine_as_test(  # type: ignore[no-untyped-call]
                Run,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    deadline=None,
                    database=None,
                    derandomize=False,
                    phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
                    suppress_health_check=list(HealthCheck),
                    verbosity=Verbosity.normal,
                    report_multiple_bugs=False,
                ),
            )
    except InvariantViolation as violation:
        return MachineFailure(
            violation.kind,
            violation.detail,
            _steps(reported, violation),
            Run.examples,
            time.process_time() - started,
        )
    except Exception as error:  # an exception out of the real code is a finding too
        return MachineFailure(
            type(error).__name__,
            "".join(traceback.format_exception(error, limit=-4, chain=False)).rstrip(),
            _steps(reported, error),
            Run.examples,
            time.process_time() - started,
        )
    finally:
        plants.unplant_all()
    return None


def _steps(reported: list[object], error: BaseException) -> list[str]:
    """The steps of Hypothesis's falsifying example (reported, or noted on the exception)."""
    texts = [*reported, *getattr(error, "__notes__", [])]
    lines = [line for text in texts for line in str(text).splitlines()]
    return [line.strip() for line in lines if line.strip().startswith("state")] or lines
