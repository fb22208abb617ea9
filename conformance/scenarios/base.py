"""What a scenario is, the context it runs in, and how one is run and judged.

A scenario is a small async function performing one documented behaviour of one spec chapter
against a live server. It talks through ``conformance.client.Client`` sessions made by its
``Ctx`` (all recorded in one history), asserts the facts that matter for that behaviour (error
codes, Stat fields relative to the zxids it observed, event types, paths and order), and when
it ends the whole history — every reply and every notification — is replayed through
``spec.machine.step`` by ``conformance.checker.check`` under the server's profile. Either
kind of disagreement fails the scenario, with its evidence.

Every scenario works under a root path of its own (``ctx.root``) that is deleted at the end,
and every wait is bounded: the scenario as a whole by ``SCENARIO_TIMEOUT_S`` (a reaping
scenario by that and the reaping it waits for, ``Target.reap_wait_s``).

Not every scenario applies to every server. A scenario states what it ``needs`` of the
server's settings (``Target.settings``, learned or told: ``conformance.suite``), and
``run_one`` reports it without running it when the server does not have that:

* ``skipped`` — a deliberate divergence of the profile (``spec/DIVERGENCES.md``), or a
  scenario about a setting the server does not have (createTTL refused, on a server with TTL
  nodes);
* ``not_enabled`` — a feature the server has switched off (TTL nodes: Apache ZooKeeper's
  default), "not enabled on this server", never a failure;
* ``not_checked`` — a reaping the server's container check interval makes slower than the
  suite may wait (``Target.reap_wait_max_s``); the reason names the option that would check it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.checker import check
from conformance.client import Client, ClientError, Notification, ProtocolViolation
from conformance.compare import code_name
from conformance.history import Header, HistoryRecorder, ServerSettings
from conformance.snapshot import SnapshotError, take_snapshot
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.profiles import Profile

SCENARIO_TIMEOUT_S = 30.0
EVENT_TIMEOUT_S = 5.0
DIGEST_AUTH = b"user:pass"  # the identity every helper client adds, so cleanup can delete
# A reaping is due within one container check interval; this much more is allowed for a
# loaded machine.
REAP_SLACK_S = 5.0
SNAPSHOT_ATTEMPTS = 3
REAP_WAIT_MAX_S = 10.0  # the longest the suite waits for a reaping, unless told otherwise
CONTAINER_CHECK_INTERVAL_MS = 60_000  # Apache ZooKeeper's znode.container.checkIntervalMs

# What a scenario may need of the server's settings (``Scenario.needs``).
TTL_NODES = "ttl nodes"  # zookeeper.extendedTypesEnabled=true
NO_TTL_NODES = "no ttl nodes"  # zookeeper.extendedTypesEnabled=false (the default)
REAPING = "reaping"  # a container check interval the suite can wait for

# Every status a scenario result may have; all but "failed" are a pass for the verdict.
STATUSES = ("passed", "failed", "skipped", "not_enabled", "not_checked", "not_run")


class ScenarioFailure(AssertionError):
    """The server did not do what the scenario documents."""


@dataclass(frozen=True)
class Target:
    """The server under test, the settings it was found (or said) to have, and what the
    suite holds it to. ``settings`` go into every history's header, so the checker replays
    under them; the container check interval only decides which reapings the suite waits
    for (the checker places reapings by search, whenever they happened)."""

    hosts: tuple[str, ...]
    profile: Profile
    settings: ServerSettings = field(default_factory=ServerSettings)
    container_check_interval_ms: int = CONTAINER_CHECK_INTERVAL_MS  # znode.container...
    reap_wait_max_s: float = REAP_WAIT_MAX_S
    session_timeout_ms: int = 4000
    request_timeout_s: float = 5.0
    # The checker's mode (conformance.checker.MODES): the guarantee histories are held to.
    mode: str = "zookeeper"

    @property
    def extended_types(self) -> bool:
        """TTL nodes are enabled (``zookeeper.extendedTypesEnabled``)."""
        return self.settings.extended_types_enabled

    @property
    def reap_wait_s(self) -> float:
        """How long a reaping may take on this server: one check interval, and some slack."""
        return self.container_check_interval_ms / 1000 + REAP_SLACK_S

    def unmet(self, needs: tuple[str, ...]) -> tuple[str, str] | None:
        """(status, reason) if the server lacks something in ``needs``, else None."""
        if TTL_NODES in needs and not self.extended_types:
            return (
                "not_enabled",
                "TTL nodes are not enabled on this server (zookeeper.extendedTypesEnabled=false, "
                "Apache ZooKeeper's default)",
            )
        if NO_TTL_NODES in needs and self.extended_types:
            return (
                "skipped",
                "TTL nodes are enabled on this server; this scenario is about a server "
                "without them",
            )
        if REAPING in needs and self.reap_wait_s > self.reap_wait_max_s:
            need = math.ceil(self.reap_wait_s)
            return (
                "not_checked",
                f"containers are reaped every {self.container_check_interval_ms} ms on this "
                f"server (znode.container.checkIntervalMs), so a reaping may take {need} s, "
                f"longer than the suite waits ({self.reap_wait_max_s:g} s): check it with "
                f"--reap-wait {need}, or with --container-check-interval MS if the server "
                f"reaps more often",
            )
        return None


ScenarioFn = Callable[["Ctx"], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    chapter: str
    name: str
    doc: str
    fn: ScenarioFn
    skip: Mapping[str, str] = field(default_factory=dict)  # profile name -> reason
    needs: tuple[str, ...] = ()  # TTL_NODES, NO_TTL_NODES, REAPING


REGISTRY: list[Scenario] = []


def scenario(
    chapter: str, *, skip: Mapping[str, str] | None = None, needs: tuple[str, ...] = ()
) -> Callable[[ScenarioFn], ScenarioFn]:
    """Register a scenario of ``chapter``; its docstring is the behaviour it documents."""

    def register(fn: ScenarioFn) -> ScenarioFn:
        doc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        REGISTRY.append(Scenario(chapter, fn.__name__, doc, fn, dict(skip or {}), needs))
        return fn

    return register


@dataclass
class ScenarioResult:
    chapter: str
    name: str
    doc: str
    status: str  # one of STATUSES
    seconds: float
    evidence: str = ""  # why it failed, or why it did not run
    operations: int = 0
    # The wire-protocol violation that failed it, if one did (the suite stops there).
    protocol_violation: str = ""

    def __post_init__(self) -> None:
        assert self.status in STATUSES, self.status

    def to_json(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "name": self.name,
            "doc": self.doc,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "evidence": self.evidence,
            "operations": self.operations,
            "protocol_violation": self.protocol_violation,
        }


class Ctx:
    """What a scenario gets: recorded clients, a root of its own, and assertions."""

    def __init__(self, target: Target, recorder: HistoryRecorder, root: str) -> None:
        self.target = target
        self.profile = target.profile
        self.recorder = recorder
        self.root = root
        self.clients: list[Client] = []

    def path(self, *names: str) -> str:
        return "/".join([self.root, *names])

    async def client(self, name: str = "c", **options: Any) -> Client:
        options.setdefault("session_timeout_ms", self.target.session_timeout_ms)
        options.setdefault("request_timeout_s", self.target.request_timeout_s)
        client = Client(
            list(self.target.hosts),
            name=f"{name}{len(self.clients)}",
            recorder=self.recorder,
            **options,
        )
        self.clients.append(client)
        await client.start()
        return client

    @staticmethod
    def expect(condition: object, what: str) -> None:
        if not condition:
            raise ScenarioFailure(what)

    async def call(self, client: Client, op: rq.Operation, err: int = Code.OK) -> rq.Reply:
        """Send ``op``; the reply must carry ``err``."""
        reply = await client.call(op)
        if reply.err != err:
            raise ScenarioFailure(
                f"{_op_text(op)}: {code_name(err)} expected, {code_name(reply.err)} observed"
            )
        return reply

    async def ok(self, client: Client, op: rq.Operation) -> rq.Reply:
        return await self.call(client, op, Code.OK)

    async def create(
        self, client: Client, path: str, data: bytes | None = b"", flags: int = 0, **kw: Any
    ) -> rq.Reply:
        return await self.ok(client, rq.Create(path, data, OPEN_ACL_UNSAFE, flags, **kw))

    async def event(
        self, client: Client, event_type: int, path: str, timeout_s: float = EVENT_TIMEOUT_S
    ) -> Notification:
        """The next notification of ``client`` must be ``event_type`` on ``path``."""
        try:
            note = await client.next_notification(timeout_s=timeout_s)
        except TimeoutError:
            raise ScenarioFailure(
                f"{client.name}: expected event type {event_type} on {path}, none arrived "
                f"within {timeout_s} s"
            ) from None
        if (note.type, note.path) != (event_type, path):
            raise ScenarioFailure(
                f"{client.name}: expected event type {event_type} on {path}, "
                f"got type {note.type} on {note.path}"
            )
        return note

    async def no_event(self, client: Client, within_s: float = 0.3) -> None:
        """No notification arrives on ``client`` (checked after a round trip and a pause)."""
        await client.call(rq.Exists("/"))
        await asyncio.sleep(within_s)
        with contextlib.suppress(TimeoutError):
            note = await client.next_notification(timeout_s=0.01)
            raise ScenarioFailure(
                f"{client.name}: no event expected, got type {note.type} on {note.path}"
            )

    async def eventually(
        self, probe: Callable[[], Awaitable[bool]], within_s: float, what: str
    ) -> None:
        deadline = time.monotonic() + within_s
        while not await probe():
            if time.monotonic() > deadline:
                raise ScenarioFailure(f"{what}: not within {within_s} s")
            await asyncio.sleep(0.2)


def _op_text(op: rq.Operation) -> str:
    path = getattr(op, "path", None)
    return f"{type(op).__name__}({path})" if path is not None else type(op).__name__


def header_for(target: Target, note: str) -> Header:
    return Header(
        profile=target.profile.name,
        hosts=target.hosts,
        settings=target.settings,
        fresh=False,
        note=note,
    )


async def helper(target: Target, name: str) -> Client:
    """An unrecorded session with the digest identity the scenarios use."""
    client = Client(
        list(target.hosts),
        name=name,
        session_timeout_ms=target.session_timeout_ms,
        request_timeout_s=target.request_timeout_s,
        reconnect=False,
    )
    await client.start()
    await client.call(rq.AddAuth("digest", DIGEST_AUTH))
    return client


async def delete_tree(client: Client, root: str) -> None:
    """Delete ``root`` and everything under it (bounded by the client's request timeout)."""
    for _ in range(3):
        reply = await client.call(rq.GetChildren(root))
        if reply.err == Code.NONODE:
            return
        body = reply.body
        if isinstance(body, rq.GetChildrenResponse):
            for name in body.children:
                await delete_tree(client, f"{root}/{name}")
        if (await client.call(rq.Delete(root))).err in (Code.OK, Code.NONODE):
            return


async def recorded_start(target: Target, note: str) -> HistoryRecorder:
    """A recorder whose history starts with a snapshot of the server's whole tree.

    The tree must hold still while it is read; the server's own reaper may move it (a
    container emptied by the last clean-up), so a snapshot is taken again, up to
    ``SNAPSHOT_ATTEMPTS`` times.
    """
    reader = await helper(target, "snapshot")
    try:
        for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
            try:
                snapshot = await take_snapshot(reader)
                break
            except SnapshotError:
                if attempt == SNAPSHOT_ATTEMPTS:
                    raise
    finally:
        await reader.close()
    recorder = HistoryRecorder(header=header_for(target, note))
    recorder.record(snapshot)
    return recorder


def judge(recorder: HistoryRecorder, target: Target) -> str:
    """'' if the history is allowed under the target's profile and mode, else the verdict's
    text."""
    verdict = check(recorder.history(), target.profile, target.mode)
    return "" if verdict.allowed else verdict.render()


def inapplicable(item: Scenario, target: Target) -> tuple[str, str] | None:
    """(status, reason) if ``item`` does not apply to ``target``, else None."""
    reason = item.skip.get(target.profile.name)
    if reason is not None:
        return "skipped", reason
    return target.unmet(item.needs)


def scenario_timeout_s(item: Scenario, target: Target) -> float:
    """How long ``item`` may run: ``SCENARIO_TIMEOUT_S``, and for a reaping scenario also
    the reaping it waits for (a minute and more against a stock server, ``--reap-wait``)."""
    return SCENARIO_TIMEOUT_S + (target.reap_wait_s if REAPING in item.needs else 0.0)


async def run_one(item: Scenario, target: Target, serial: int) -> ScenarioResult:
    started = time.perf_counter()
    violation = ""

    def result(status: str, evidence: str = "", operations: int = 0) -> ScenarioResult:
        seconds = time.perf_counter() - started
        return ScenarioResult(
            item.chapter, item.name, item.doc, status, seconds, evidence, operations, violation
        )

    unmet = inapplicable(item, target)
    if unmet is not None:
        return result(*unmet)
    root = f"/conformance-{item.chapter}-{item.name}-{serial}-{time.monotonic_ns() % 10**9}"
    timeout_s = scenario_timeout_s(item, target)
    ctx: Ctx | None = None
    evidence = ""
    try:
        recorder = await asyncio.wait_for(recorded_start(target, item.name), SCENARIO_TIMEOUT_S)
        ctx = Ctx(target, recorder, root)
        setup = await ctx.client("setup")
        await ctx.create(setup, root)
        await asyncio.wait_for(item.fn(ctx), timeout_s)
    except ScenarioFailure as failure:
        evidence = str(failure)
    except TimeoutError:
        evidence = f"the scenario did not finish within {timeout_s:g} s"
    except ProtocolViolation as error:
        violation = error.detail
    except SnapshotError as error:
        evidence = f"could not read the tree before the scenario: {error}"
    except (ClientError, OSError) as error:
        evidence = f"{type(error).__name__}: {error}"
    except Exception:  # a scenario or checker bug is a failure with its traceback
        evidence = traceback.format_exc()
    finally:
        if ctx is not None:
            for client in ctx.clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 10)
    if ctx is not None and not violation:
        # A client whose violation the scenario did not wait for (a second session, say).
        violation = next((c.protocol_violation for c in ctx.clients if c.protocol_violation), "")
    if violation:
        # The server answers out of order or in frames that do not decode: nothing it says
        # on this connection can be trusted, and the cleanup would only wait for it.
        evidence = f"the server broke the wire protocol: {violation}"
        if ctx is not None:
            evidence += "\n" + history_excerpt(ctx.recorder)
        return result("failed", evidence)
    with contextlib.suppress(Exception):
        cleaner = await helper(target, "cleanup")
        try:
            await asyncio.wait_for(delete_tree(cleaner, root), 20)
        finally:
            await cleaner.close()
    if ctx is None:
        return result("failed", evidence or "could not start")
    history = ctx.recorder.history()
    if not evidence:
        try:
            evidence = await asyncio.to_thread(judge, ctx.recorder, target)
            if evidence:
                evidence = "the history disagrees with the spec:\n" + evidence
        except Exception:
            evidence = "the checker failed:\n" + traceback.format_exc()
    if evidence:
        evidence += "\n" + history_excerpt(ctx.recorder)
    return result("failed" if evidence else "passed", evidence, len(history.ops))


def history_excerpt(recorder: HistoryRecorder, limit: int = 30) -> str:
    """The last requests, connections and disconnections of a history, for a person."""
    history = recorder.history()
    lines: list[tuple[int, str]] = []
    for op in history.ops:
        err = code_name(op.reply.err) if op.reply is not None else op.outcome
        lines.append(
            (op.invoke_ns, f"  op {op.id} {op.client} conn {op.conn} {_op_text(op.op)} -> {err}")
        )
    for conn in history.connects:
        lines.append(
            (
                conn.invoke_ns,
                f"  connect conn {conn.conn} {conn.client} session "
                f"0x{conn.requested_session_id:x} -> {conn.outcome} 0x{conn.session_id:x}",
            )
        )
    for gone in history.disconnects:
        lines.append((gone.time_ns, f"  disconnect conn {gone.conn} {gone.client}: {gone.reason}"))
    lines.sort(key=lambda line: line[0])
    return "history (last events):\n" + "\n".join(text for _, text in lines[-limit:])
