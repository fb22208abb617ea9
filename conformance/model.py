"""The Hypothesis stateful model checker: random sessions and requests, judged by the spec.

``ModelMachine`` (a ``hypothesis.stateful.RuleBasedStateMachine``) drives a few sessions
against the server under test, under a root path of its own: creates in every mode
(persistent, ephemeral, sequential, container and TTL; on a server without TTL nodes a TTL
create is still sent, and the spec, told the server's settings, expects UNIMPLEMENTED),
setData and delete with right and wrong versions, reads that arm every kind of watch,
addWatch (persistent and recursive), removeWatches, multi and multiRead, sync, closing a
session (a new one takes its place) and losing a connection (the session re-attaches and
re-arms its watches), and pipelined bursts of creates, sets, deletes and reads on one
connection. Every request and notification is recorded in one history that starts
with a snapshot of the tree; after every step the history so far is replayed through the
spec by ``conformance.checker.check`` under the server's profile, so a reply or an event the
spec does not give fails the step that showed it, and the whole history is checked once more
at the end of each example.

When the suite controls the ensemble (``run_model(..., nemesis=ensemble)``, a
``conformance.ensemble.LocalEnsemble``: ``zkref conformance --ensemble KIND --model``), the
nemesis is a rule like any other, interleaved with the sessions' requests: kill -9 of a
server, its restart on the same data directory, SIGSTOP and SIGCONT, a partition of a random
minority from the majority (the proxies between the servers), and healing. At most a minority
of the servers is hurt at once (killed, paused or cut off), so requests go on being answered;
a request that meets a fault is recorded with an unknown outcome and the session re-attaches
elsewhere. Each example ends with everything healed, resumed and restarted, and waits until
one leader is followed by every server, so the next example starts on a whole ensemble.

Not generated: setACL (a race in Apache ZooKeeper, ``spec/DIVERGENCES.md`` §8), addAuth
(§9), checkWatches under profile 3.8 (§7), session expiry (slow; the ``sessions`` scenarios
cover it).

Bounded: every request by the client's request timeout, every step by ``STEP_TIMEOUT_S``,
the whole run by its duration (no example starts after it). No shrinking: the server is
live, so a failure is reported with the steps of the example that showed it.

Seeded: every run has a seed (``seed``, or a random one), reported with the result. The same
seed against a server that answers the same way generates the same steps, because no draw's
shape depends on an answer (``_pick_path`` draws an index); so a failure found with seed N
is replayed with ``--seed N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import random
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky, FlakyStrategyDefinition
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    precondition,
    rule,
)

from conformance.checker import check
from conformance.client import Client, ClientError, ConnectionLoss
from conformance.history import HistoryRecorder
from conformance.scenarios.base import Target, delete_tree, helper, recorded_start
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode

STEPS_PER_EXAMPLE = 30
SESSIONS = 3
STEP_TIMEOUT_S = 15.0
NAMES = ["a", "a/b", "a/b/c", "b", "c", "k", "k/x"]
DATA = [None, b"", b"x", b"yy"]
VERSIONS = [-1, -1, 0, 1, 2]
TTL_MS = 600_000
PICKS = 64

SERVERS_MAX = 5  # the nemesis rules draw a server index below this (modulo the size)
HEAL_TIMEOUT_S = 120.0  # after an example: one leader followed by every server
NEW_SESSION_WAIT_S = 10.0  # under the nemesis: how long a new session may take

T = TypeVar("T")


class EnsembleControl(Protocol):
    """What the nemesis rules need of an ensemble the suite started
    (``conformance.ensemble.LocalEnsemble`` has it)."""

    sids: list[int]
    paused: set[int]

    def running(self) -> list[int]: ...

    def kill(self, sid: int) -> None: ...

    def restart(self, sid: int) -> None: ...

    def pause(self, sid: int) -> None: ...

    def resume(self, sid: int) -> None: ...

    def partition(self, *groups: Iterable[int]) -> None: ...

    def heal(self) -> None: ...

    def wait_formed(self, timeout_s: float = ...) -> int: ...


@dataclass
class ModelResult:
    seed: int = 0
    examples: int = 0
    steps: int = 0
    operations: int = 0
    passed: bool = True
    evidence: str = ""
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    # Every step's description, the example's root path written as ``<root>``.
    trace: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "examples": self.examples,
            "steps": self.steps,
            "operations": self.operations,
            "passed": self.passed,
            "evidence": self.evidence,
            "seconds": round(self.seconds, 3),
            "notes": self.log,
        }


class _OutOfTime(Exception):
    """The run's duration is over: no new example starts."""


class ModelFailure(AssertionError):
    pass


class ModelMachine(RuleBasedStateMachine):
    TARGET: ClassVar[Target]
    DEADLINE: ClassVar[float]
    RESULT: ClassVar[ModelResult]
    # The ensemble, when the suite controls it: then the nemesis rules run.
    NEMESIS: ClassVar[EnsembleControl | None] = None

    def __init__(self) -> None:
        super().__init__()
        if time.monotonic() > self.DEADLINE:
            raise _OutOfTime
        self.result = self.RESULT
        self.result.examples += 1
        self.loop = asyncio.new_event_loop()
        self.steps: list[str] = []
        self.known: set[str] = set()
        self.root = f"/conformance-model-{time.monotonic_ns() % 10**12}"
        self.sessions: list[Client] = []
        self.cut_off: set[int] = set()  # the minority of the partition in force, if any
        self.recorder: HistoryRecorder = self._run(recorded_start(self.TARGET, "model checker"))
        for number in range(SESSIONS):
            self.sessions.append(self._run(self._new_session(number)))
        self._call(0, rq.Create(self.root, b"", OPEN_ACL_UNSAFE, 0))

    # --- plumbing ------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, STEP_TIMEOUT_S))

    async def _new_session(self, number: int) -> Client:
        client = Client(
            list(self.TARGET.hosts),
            name=f"m{number}",
            recorder=self.recorder,
            session_timeout_ms=self.TARGET.session_timeout_ms,
            request_timeout_s=self.TARGET.request_timeout_s,
        )
        if self.NEMESIS is None:
            await client.start()
            return client
        # Under the nemesis no server may take sessions for a while (the leader was just
        # killed, and the others elect): try again, within the step's bound.
        deadline = time.monotonic() + NEW_SESSION_WAIT_S
        while True:
            try:
                await client.start()
                return client
            except ConnectionLoss:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _call(self, session: int, op: rq.Operation) -> rq.Reply | None:
        client = self.sessions[session]
        try:
            reply = self._run(client.call(op))
        except (ClientError, TimeoutError):
            return None
        created = getattr(reply.body, "path", None)
        if reply.err == 0 and isinstance(op, rq.Create) and isinstance(created, str):
            self.known.add(created)
        return reply

    def _step(self, text: str, action: Callable[[], object]) -> None:
        self.steps.append(text)
        self.result.trace.append(text.replace(self.root, "<root>"))
        self.result.steps += 1
        action()
        self._judge()

    def _judge(self) -> None:
        verdict = check(self.recorder.history(), self.TARGET.profile, self.TARGET.mode)
        if not verdict.allowed:
            evidence = (
                "steps of the failing example:\n  "
                + "\n  ".join(self.steps)
                + "\n"
                + verdict.render()
            )
            if self.result.passed:
                self.result.passed = False
                self.result.evidence = evidence
            raise ModelFailure(evidence)

    def _pick_path(self, data: st.DataObject) -> str:
        """A fixed name or a znode created earlier. The draw's shape must not depend on the
        server's answers (Hypothesis replays choice sequences), so it is an index."""
        choices = sorted({self._path(n) for n in NAMES} | self.known)
        return choices[data.draw(st.integers(0, PICKS - 1)) % len(choices)]

    # --- rules ---------------------------------------------------------------------------

    @rule(
        session=st.integers(0, SESSIONS - 1),
        name=st.sampled_from(NAMES),
        payload=st.sampled_from(DATA),
        mode=st.sampled_from(["p", "e", "ps", "es", "p2", "container", "ttl", "ttls"]),
    )
    def create(self, session: int, name: str, payload: bytes | None, mode: str) -> None:
        path = self._path(name)
        flags = {"p": 0, "e": 1, "ps": 2, "es": 3, "p2": 0, "container": 4, "ttl": 5, "ttls": 6}
        if mode == "container":
            op = rq.Create(path, payload, OPEN_ACL_UNSAFE, 4, OpCode.createContainer)
        elif mode in ("ttl", "ttls"):
            op = rq.Create(path, payload, OPEN_ACL_UNSAFE, flags[mode], OpCode.createTTL, TTL_MS)
        else:
            opcode = OpCode.create2 if mode == "p2" else OpCode.create
            op = rq.Create(path, payload, OPEN_ACL_UNSAFE, flags[mode], opcode)
        self._step(f"m{session}: create {path} {mode}", lambda: self._call(session, op))

    @rule(
        session=st.integers(0, SESSIONS - 1),
        data=st.data(),
        payload=st.sampled_from(DATA),
        version=st.sampled_from(VERSIONS),
    )
    def set_data(
        self, session: int, data: st.DataObject, payload: bytes | None, version: int
    ) -> None:
        path = self._pick_path(data)
        op = rq.SetData(path, payload, version)
        self._step(f"m{session}: setData {path} v{version}", lambda: self._call(session, op))

    @rule(session=st.integers(0, SESSIONS - 1), data=st.data(), version=st.sampled_from(VERSIONS))
    def delete(self, session: int, data: st.DataObject, version: int) -> None:
        path = self._pick_path(data)
        op = rq.Delete(path, version)
        self._step(f"m{session}: delete {path} v{version}", lambda: self._call(session, op))

    @rule(
        session=st.integers(0, SESSIONS - 1),
        data=st.data(),
        kind=st.sampled_from(["getData", "exists", "getChildren", "getChildren2"]),
        watch=st.booleans(),
    )
    def read(self, session: int, data: st.DataObject, kind: str, watch: bool) -> None:
        path = self._pick_path(data)
        op: rq.Operation
        if kind == "getData":
            op = rq.GetData(path, watch)
        elif kind == "exists":
            op = rq.Exists(path, watch)
        else:
            op = rq.GetChildren(path, watch, kind == "getChildren2")
        self._step(f"m{session}: {kind} {path} watch={watch}", lambda: self._call(session, op))

    @rule(session=st.integers(0, SESSIONS - 1), data=st.data(), mode=st.sampled_from([0, 1]))
    def add_watch(self, session: int, data: st.DataObject, mode: int) -> None:
        path = data.draw(st.sampled_from([self.root, *(self._path(n) for n in NAMES)]))
        op = rq.AddWatch(path, mode)
        self._step(f"m{session}: addWatch {path} mode {mode}", lambda: self._call(session, op))

    @rule(session=st.integers(0, SESSIONS - 1), data=st.data(), kind=st.sampled_from([1, 2, 3]))
    def remove_or_check_watches(self, session: int, data: st.DataObject, kind: int) -> None:
        path = self._pick_path(data)
        op: rq.Operation = rq.RemoveWatches(path, kind)
        if self.TARGET.profile.name != "3.8" and data.draw(st.booleans()):
            op = rq.CheckWatches(path, kind)
        self._step(
            f"m{session}: {type(op).__name__} {path} type {kind}", lambda: self._call(session, op)
        )

    @rule(session=st.integers(0, SESSIONS - 1), data=st.data())
    def multi(self, session: int, data: st.DataObject) -> None:
        ops: list[rq.Operation] = []
        for _ in range(data.draw(st.integers(0, 3))):
            path = self._pick_path(data)
            kind = data.draw(st.sampled_from(["create", "eph", "set", "delete", "check"]))
            if kind in ("create", "eph"):
                ops.append(rq.Create(path, b"m", OPEN_ACL_UNSAFE, 1 if kind == "eph" else 0))
            elif kind == "set":
                ops.append(rq.SetData(path, b"m", data.draw(st.sampled_from(VERSIONS))))
            elif kind == "delete":
                ops.append(rq.Delete(path, -1))
            else:
                ops.append(rq.Check(path, data.draw(st.sampled_from(VERSIONS))))
        read = data.draw(st.booleans()) and not ops
        op: rq.Operation = (
            rq.MultiRead((rq.GetData(self._pick_path(data)), rq.GetChildren(self.root)))
            if read
            else rq.Multi(tuple(ops))
        )
        text = ", ".join(f"{type(o).__name__} {getattr(o, 'path', '')}" for o in ops)
        self._step(f"m{session}: {type(op).__name__} [{text}]", lambda: self._call(session, op))

    @rule(session=st.integers(0, SESSIONS - 1), data=st.data(), size=st.integers(2, 5))
    def pipelined_burst(self, session: int, data: st.DataObject, size: int) -> None:
        """Several requests in flight on one connection: answered in order, FIFO applied."""
        ops = [self._draw_simple_op(data) for _ in range(size)]

        async def burst() -> None:
            client = self.sessions[session]
            futures = [await client.submit(op) for op in ops]
            for future in futures:
                with contextlib.suppress(ClientError):
                    reply = await future
                    created = getattr(reply.body, "path", None)
                    if reply.err == 0 and isinstance(created, str):
                        self.known.add(created)

        def action() -> None:
            with contextlib.suppress(ClientError, TimeoutError):
                self._run(burst())

        text = ", ".join(f"{type(o).__name__} {getattr(o, 'path', '')}" for o in ops)
        self._step(f"m{session}: pipelined [{text}]", action)

    def _draw_simple_op(self, data: st.DataObject) -> rq.Operation:
        path = self._pick_path(data)
        kind = data.draw(st.sampled_from(["create", "seq", "set", "delete", "get", "children"]))
        if kind in ("create", "seq"):
            flags = data.draw(st.sampled_from([0, 1])) | (2 if kind == "seq" else 0)
            return rq.Create(path, data.draw(st.sampled_from(DATA)), OPEN_ACL_UNSAFE, flags)
        if kind == "set":
            return rq.SetData(path, b"p", data.draw(st.sampled_from(VERSIONS)))
        if kind == "delete":
            return rq.Delete(path, data.draw(st.sampled_from(VERSIONS)))
        if kind == "get":
            return rq.GetData(path, data.draw(st.booleans()))
        return rq.GetChildren(path, data.draw(st.booleans()))

    @rule(session=st.integers(0, SESSIONS - 1))
    def sync(self, session: int) -> None:
        self._step(f"m{session}: sync", lambda: self._call(session, rq.Sync(self.root)))

    @rule(session=st.integers(0, SESSIONS - 1))
    def close_session(self, session: int) -> None:
        def action() -> None:
            with contextlib.suppress(ClientError, TimeoutError):
                self._run(self.sessions[session].close())
            self.sessions[session] = self._run(self._new_session(session))

        self._step(f"m{session}: closeSession, new session", action)

    @rule(session=st.integers(0, SESSIONS - 1))
    def reconnect(self, session: int) -> None:
        def action() -> None:
            client = self.sessions[session]
            self._run(client.drop_connection("model checker: dropped"))
            with contextlib.suppress(ClientError, TimeoutError):
                self._run(client.wait_connected(5))

        self._step(f"m{session}: connection lost, re-attach", action)

    # --- the nemesis (only when the suite controls the ensemble) --------------------------

    def _ensemble(self) -> EnsembleControl:
        assert self.NEMESIS is not None
        return self.NEMESIS

    def _server(self, index: int) -> int:
        sids = self._ensemble().sids
        return sids[index % len(sids)]

    def _hurt(self) -> set[int]:
        """Servers killed, paused or cut off now."""
        ensemble = self._ensemble()
        down = set(ensemble.sids) - set(ensemble.running())
        return down | set(ensemble.paused) | self.cut_off

    def _may_hurt(self, more: set[int]) -> bool:
        """At most a minority hurt at once, so that a quorum goes on serving."""
        return len(self._hurt() | more) <= (len(self._ensemble().sids) - 1) // 2

    def _nemesis_step(self, text: str, action: Callable[[], None]) -> None:
        self.steps.append(text)
        self.result.trace.append(text)
        self.result.steps += 1
        action()
        self._judge()

    @precondition(lambda self: self.NEMESIS is not None)
    @rule(kind=st.sampled_from(["kill", "pause", "partition"]), pick=st.integers(0, PICKS - 1))
    def nemesis_fault(self, kind: str, pick: int) -> None:
        """Hurt a server (or a minority, for a partition) among those that may be hurt now:
        ``pick`` chooses, so the draw does not depend on the ensemble's state."""
        ensemble = self._ensemble()
        running = [sid for sid in ensemble.sids if sid in ensemble.running()]
        if kind == "partition":
            limit = (len(ensemble.sids) - 1) // 2
            groups = [
                set(group)
                for size in range(1, limit + 1)
                for group in itertools.combinations(ensemble.sids, size)
                if not self.cut_off and self._may_hurt(set(group))
            ]
            if not groups:
                self._nemesis_step("nemesis: no partition possible now", lambda: None)
                return
            minority = groups[pick % len(groups)]
            rest = sorted(set(ensemble.sids) - minority)

            def cut() -> None:
                ensemble.partition(sorted(minority), rest)
                self.cut_off = minority

            names = ",".join(str(sid) for sid in sorted(minority))
            self._nemesis_step(f"nemesis: partition {names} from the rest", cut)
            return
        if kind == "kill":
            candidates = [sid for sid in running if sid in self._hurt() or self._may_hurt({sid})]
        else:
            candidates = [
                sid
                for sid in running
                if sid not in ensemble.paused and (sid in self._hurt() or self._may_hurt({sid}))
            ]
        if not candidates:
            self._nemesis_step(f"nemesis: no server to {kind} now", lambda: None)
            return
        sid = candidates[pick % len(candidates)]
        if kind == "kill":
            self._nemesis_step(f"nemesis: kill -9 server {sid}", lambda: ensemble.kill(sid))
        else:
            self._nemesis_step(f"nemesis: pause server {sid}", lambda: ensemble.pause(sid))

    @precondition(lambda self: self.NEMESIS is not None)
    @rule(pick=st.integers(0, PICKS - 1))
    def nemesis_repair(self, pick: int) -> None:
        """Undo one fault in force: restart a killed server, resume a paused one, or heal the
        partition (``pick`` chooses)."""
        ensemble = self._ensemble()
        repairs: list[tuple[str, Callable[[], None]]] = []
        for sid in ensemble.sids:
            if sid not in ensemble.running():
                repairs.append((f"restart server {sid}", functools.partial(ensemble.restart, sid)))
            elif sid in ensemble.paused:
                repairs.append((f"resume server {sid}", functools.partial(ensemble.resume, sid)))
        if self.cut_off:

            def heal() -> None:
                ensemble.heal()
                self.cut_off = set()

            repairs.append(("heal the network", heal))
        if not repairs:
            self._nemesis_step("nemesis: nothing to repair", lambda: None)
            return
        text, action = repairs[pick % len(repairs)]
        self._nemesis_step(f"nemesis: {text}", action)

    def _heal_all(self) -> None:
        """Everything whole again, and one leader followed by every server (bounded)."""
        ensemble = self._ensemble()
        ensemble.heal()
        self.cut_off = set()
        for sid in list(ensemble.paused):
            ensemble.resume(sid)
        for sid in set(ensemble.sids) - set(ensemble.running()):
            ensemble.restart(sid)
        ensemble.wait_formed(HEAL_TIMEOUT_S)

    # --- the end of an example -----------------------------------------------------------

    def teardown(self) -> None:
        try:
            if self.NEMESIS is not None:
                self._heal_all()
            for client in self.sessions:
                with contextlib.suppress(Exception):
                    self._run(client.close())
            with contextlib.suppress(Exception):
                self._run(self._cleanup())
            self.result.operations += len(self.recorder.history().ops)
            if self.result.passed:
                self._judge()
        finally:
            self.loop.close()

    async def _cleanup(self) -> None:
        cleaner = await helper(self.TARGET, "cleanup")
        try:
            await delete_tree(cleaner, self.root)
        finally:
            await cleaner.close()


def run_model(
    target: Target,
    examples: int,
    duration_s: float,
    progress: Callable[[str], None] = lambda _: None,
    seed: int | None = None,
    nemesis: EnsembleControl | None = None,
) -> ModelResult:
    """Run up to ``examples`` examples of the model checker, none starting after the
    duration, from ``seed`` (a random seed if None; either way it is in the result); with
    ``nemesis``, the ensemble the suite controls, its faults are rules too."""
    result = ModelResult(seed=random.randrange(2**32) if seed is None else seed)
    progress(f"model checker: seed {result.seed}")
    started = time.monotonic()

    class Machine(ModelMachine):
        TARGET = target
        DEADLINE = started + duration_s
        RESULT = result
        NEMESIS = nemesis

    chosen = settings(
        max_examples=max(examples, 1),
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    try:
        test = get_state_machine_test(Machine, settings=chosen)  # type: ignore[no-untyped-call]
        hypothesis_seed(result.seed)(test)()
    except _OutOfTime:
        progress("model checker: duration reached")
    except ModelFailure:
        pass
    except (Flaky, FlakyStrategyDefinition) as error:
        # Only a failure (already recorded with its evidence) or the server's answers
        # steering generation lead here; neither is a new finding.
        result.log.append(f"hypothesis: {type(error).__name__}: {error}")
        for cause in getattr(error, "exceptions", ()):
            result.log.append(f"  the first run raised {type(cause).__name__}: {cause}")
    except Exception as error:  # client or checker bugs
        if result.passed:
            result.passed = False
            result.evidence = f"{type(error).__name__}: {error}"
    result.seconds = time.monotonic() - started
    return result
