"""Running the whole conformance suite against a server: scenarios, then the model checker.

``run_suite(options)`` detects the profile to hold the server to from its ``srvr`` answer
(``Zookeeper version: 3.8.0-...`` → 3.8; unless ``options.profile`` says otherwise), learns
the server's settings (``learn_settings``), runs every scenario of ``conformance.scenarios``
(one chapter after another) and then the Hypothesis stateful model checker
(``conformance.model``), and returns a ``SuiteReport``: passed / failed per chapter with the
evidence of each failure, how many scenarios and model-checker steps ran, and the time taken.
``render()`` is for people, ``to_json()`` for programs.

Server settings that change what clients see are learned where one request tells, and taken
as options where none can: TTL nodes (``zookeeper.extendedTypesEnabled``) by what a createTTL
answers — OK (then the node is deleted) or UNIMPLEMENTED — unless ``extended_types`` says;
the container check interval, ``maxNeverUsedIntervalMs`` and ``jute.maxbuffer`` are options
with Apache ZooKeeper's defaults (no request shows them short of waiting a minute).

A server that breaks the wire protocol (a reply out of order, a frame that does not decode)
fails the scenario that saw it at once, and the suite stops there: the remaining scenarios
are reported "not run" and the model checker does not start, because nothing such a server
answers can be judged.

Every wait is bounded: each scenario by ``SCENARIO_TIMEOUT_S``, each model-checker request by
the client's request timeout, the model checker as a whole by ``options.duration_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.checker import MODES
from conformance.client import Client, ClientError, ProtocolViolation
from conformance.compare import code_name
from conformance.history import ServerSettings
from conformance.model import ModelResult, run_model
from conformance.scenarios import CHAPTERS, REGISTRY, ScenarioResult, Target, run_one
from conformance.scenarios.base import (
    CONTAINER_CHECK_INTERVAL_MS,
    REAP_WAIT_MAX_S,
    STATUSES,
)
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode
from spec.profiles import PROFILES, Profile, profile_for_version

SRVR_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 15.0
PROBE_TTL_MS = 60_000  # if the probe's TTL node outlives the probe, the server reaps it
DEFAULT_EXAMPLES = 100
DEFAULT_DURATION_S = 60.0
# How each status reads in the report.
STATUS_TEXT = {
    "passed": "passed",
    "failed": "failed",
    "skipped": "skipped",
    "not_enabled": "not enabled on this server",
    "not_checked": "not checked",
    "not_run": "not run",
}


class SuiteError(RuntimeError):
    """The suite could not run at all (no server answered, unknown profile)."""


@dataclass
class SuiteOptions:
    hosts: tuple[str, ...]
    profile: str | None = None
    examples: int = DEFAULT_EXAMPLES
    duration_s: float = DEFAULT_DURATION_S
    reap_wait_s: float = REAP_WAIT_MAX_S  # the longest the suite waits for a reaping
    chapters: tuple[str, ...] = ()  # empty: all
    model: bool = True
    seed: int | None = None  # the model checker's; None: a random one (reported)
    # The server's settings; None: learned from the server (a createTTL probe).
    extended_types: bool | None = None
    container_check_interval_ms: int = CONTAINER_CHECK_INTERVAL_MS
    container_max_never_used_interval_ms: int = 0
    jute_max_buffer: int = 0xFFFFF
    # The guarantee every history is checked against (conformance.checker.MODES).
    mode: str = "zookeeper"


@dataclass
class SuiteReport:
    hosts: tuple[str, ...]
    profile: str
    server_version: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    model: ModelResult | None = None
    seconds: float = 0.0
    # How the server's settings were learned or told, one line each (for people).
    settings: list[str] = field(default_factory=list)
    # Why the suite stopped early (a wire-protocol violation), if it did.
    stopped: str = ""
    mode: str = "zookeeper"  # the guarantee the histories were checked against

    @property
    def failed(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if s.status == "failed"]

    @property
    def passed(self) -> bool:
        return not self.stopped and not self.failed and (self.model is None or self.model.passed)

    def counts(self) -> dict[str, int]:
        """Scenarios by status; ``scenarios`` is all of them, whatever their status."""
        out = {"scenarios": len(self.scenarios), **{status: 0 for status in STATUSES}}
        for result in self.scenarios:
            out[result.status] += 1
        assert out["scenarios"] == sum(out[status] for status in STATUSES)
        out["model_examples"] = self.model.examples if self.model else 0
        out["model_steps"] = self.model.steps if self.model else 0
        out["model_operations"] = self.model.operations if self.model else 0
        return out

    def chapters(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for result in self.scenarios:
            row = out.setdefault(result.chapter, {status: 0 for status in STATUSES})
            row[result.status] += 1
        return out

    def render(self) -> str:
        lines = [
            f"conformance of {','.join(self.hosts)} (version {self.server_version!r}) "
            f"under profile {self.profile}, mode {self.mode}",
            *(f"  {line}" for line in self.settings),
            "",
        ]
        for chapter, row in self.chapters().items():
            if row["failed"]:
                mark = "FAILED"
            elif row["passed"]:
                mark = "passed"
            else:  # nothing ran: say why in one word
                mark = next(status for status in STATUSES if row[status]).replace("_", " ")
            lines.append(f"  {chapter:<10} {mark:<11} {_tally(row)}")
        if self.model is not None:
            mark = "passed" if self.model.passed else "FAILED"
            lines.append(
                f"  {'model':<10} {mark:<11} {self.model.examples} examples, "
                f"{self.model.steps} steps, {self.model.operations} operations "
                f"(seed {self.model.seed})"
            )
        if self.stopped:
            lines += ["", f"STOPPED: {self.stopped}"]
        for result in self.failed:
            lines += ["", f"FAILED {result.chapter}/{result.name}: {result.doc}", result.evidence]
        if self.model is not None and not self.model.passed:
            lines += ["", "FAILED model checker:", self.model.evidence]
        if self.model is not None and self.model.log:
            lines += ["", "model checker notes:", *(f"  {note}" for note in self.model.log)]
        for status in ("skipped", "not_enabled", "not_checked"):
            results = [s for s in self.scenarios if s.status == status]
            if results:
                lines += ["", f"{STATUS_TEXT[status]}:"]
                lines += [f"  {s.chapter}/{s.name}: {s.evidence}" for s in results]
        not_run = sum(1 for s in self.scenarios if s.status == "not_run")
        if not_run:
            lines += ["", f"not run: {not_run} scenarios, because the suite stopped first"]
        counts = self.counts()
        lines += [
            "",
            f"{counts['scenarios']} scenarios ({_tally(counts)}), {counts['model_steps']} "
            f"model-checker steps in {counts['model_examples']} examples; {self.seconds:.1f} s: "
            + ("PASSED" if self.passed else "FAILED"),
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": list(self.hosts),
            "profile": self.profile,
            "mode": self.mode,
            "server_version": self.server_version,
            "settings": self.settings,
            "passed": self.passed,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "chapters": self.chapters(),
            "scenarios": [s.to_json() for s in self.scenarios],
            "model": self.model.to_json() if self.model else None,
        }


def _tally(row: dict[str, int]) -> str:
    """``3 passed, 0 failed`` and then every other status that occurs."""
    parts = [f"{row['passed']} passed", f"{row['failed']} failed"]
    parts += [f"{row[status]} {STATUS_TEXT[status]}" for status in STATUSES[2:] if row[status]]
    return ", ".join(parts)


def four_letter_word(host: str, word: str, timeout_s: float = SRVR_TIMEOUT_S) -> str:
    """Send a four-letter word to ``host:port`` and read the answer until the server closes."""
    name, _, port = host.rpartition(":")
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((name.strip("[]"), int(port)), timeout=timeout_s) as conn:
        conn.sendall(word.encode())
        chunks = []
        while time.monotonic() < deadline:
            chunk = conn.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_version(hosts: tuple[str, ...]) -> str:
    """The version from the first ``srvr`` answer (``Zookeeper version: X, built on ...``)."""
    errors = []
    for host in hosts:
        try:
            answer = four_letter_word(host, "srvr")
        except OSError as error:
            errors.append(f"{host}: {error}")
            continue
        for line in answer.splitlines():
            if line.lower().startswith("zookeeper version:"):
                return line.split(":", 1)[1].strip().split(",")[0].strip()
        errors.append(f"{host}: no version in the srvr answer {answer[:80]!r}")
    raise SuiteError("cannot read the server version: " + "; ".join(errors))


def resolve_profile(options: SuiteOptions) -> tuple[Profile, str]:
    try:
        version = server_version(options.hosts)
    except SuiteError:
        if options.profile is None:
            raise
        version = "unknown"
    if options.profile is not None:
        if options.profile not in PROFILES:
            raise SuiteError(f"unknown profile {options.profile!r}; known: {sorted(PROFILES)}")
        return PROFILES[options.profile], version
    return profile_for_version(version), version


class ServerBrokeProtocol(Exception):
    """The server broke the wire protocol while the suite was learning its settings."""


async def _probe_ttl_nodes(hosts: tuple[str, ...]) -> tuple[bool, str]:
    """Whether the server creates TTL nodes, from what one createTTL answers.

    OK: a TTL node was made (it is deleted again); UNIMPLEMENTED: TTL nodes are off, as in a
    stock Apache ZooKeeper (``PrepRequestProcessor.validateCreateRequest`` refuses every TTL
    mode before looking at anything else). Any other answer leaves the question open.
    """
    client = Client(list(hosts), name="probe", reconnect=False)
    path = f"/conformance-probe-ttl-{time.monotonic_ns() % 10**12}"
    await client.start()
    try:
        op = rq.Create(path, b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, PROBE_TTL_MS)
        reply = await client.call(op)
        if reply.err == Code.OK:
            await client.call(rq.Delete(path))
            return (
                True,
                "TTL nodes on: a createTTL was answered OK (zookeeper.extendedTypesEnabled)",
            )
        if reply.err == Code.UNIMPLEMENTED:
            return False, (
                "TTL nodes off: a createTTL was answered UNIMPLEMENTED "
                "(zookeeper.extendedTypesEnabled)"
            )
        raise SuiteError(
            f"cannot tell whether TTL nodes are enabled: a createTTL of {path} was answered "
            f"{code_name(reply.err)}; say so with --extended-types on|off"
        )
    finally:
        with contextlib.suppress(ClientError):
            await client.close()


def learn_settings(options: SuiteOptions) -> tuple[ServerSettings, list[str]]:
    """The server's settings that change what clients see, and a line per setting saying
    what it is and how the suite knows. Raises ``ServerBrokeProtocol`` if the probe saw the
    server break the wire protocol, ``SuiteError`` if it could not tell."""
    lines: list[str] = []
    if options.extended_types is None:
        try:
            extended, line = asyncio.run(
                asyncio.wait_for(_probe_ttl_nodes(options.hosts), PROBE_TIMEOUT_S)
            )
        except ProtocolViolation as violation:
            raise ServerBrokeProtocol(violation.detail) from None
        except (ClientError, TimeoutError, OSError) as error:
            raise SuiteError(
                f"cannot tell whether TTL nodes are enabled: the createTTL probe failed "
                f"({type(error).__name__}: {error}); say so with --extended-types on|off"
            ) from None
        lines.append(line)
    else:
        extended = options.extended_types
        lines.append(f"TTL nodes {'on' if extended else 'off'}, as told (--extended-types)")

    def source(value: object, default: object, option: str) -> str:
        if value == default:
            return f"Apache ZooKeeper's default, assumed; say otherwise with {option}"
        return f"as told by {option}"

    interval = options.container_check_interval_ms
    lines.append(
        f"containers reaped every {interval} ms (znode.container.checkIntervalMs): "
        + source(interval, CONTAINER_CHECK_INTERVAL_MS, "--container-check-interval")
    )
    never_used = options.container_max_never_used_interval_ms
    lines.append(
        "containers that never had a child "
        + (f"reaped after {never_used} ms" if never_used else "kept")
        + " (znode.container.maxNeverUsedIntervalMs): "
        + source(never_used, 0, "--container-max-never-used")
    )
    lines.append(
        f"jute.maxbuffer {options.jute_max_buffer} bytes: "
        + source(options.jute_max_buffer, 0xFFFFF, "--jute-maxbuffer")
    )
    settings = ServerSettings(
        extended_types_enabled=extended,
        jute_max_buffer=options.jute_max_buffer,
        container_max_never_used_interval_ms=never_used,
    )
    return settings, lines


def run_suite(
    options: SuiteOptions, progress: Callable[[str], None] = lambda _: None
) -> SuiteReport:
    started = time.perf_counter()
    if options.mode not in MODES:
        raise ValueError(f"unknown mode {options.mode!r}; known: {', '.join(MODES)}")
    profile, version = resolve_profile(options)
    progress(f"server version {version!r}: profile {profile.name}, mode {options.mode}")
    report = SuiteReport(options.hosts, profile.name, version, mode=options.mode)
    chosen = [s for s in REGISTRY if not options.chapters or s.chapter in options.chapters]
    chosen.sort(key=lambda s: CHAPTERS.index(s.chapter) if s.chapter in CHAPTERS else 99)
    try:
        settings, report.settings = learn_settings(options)
    except ServerBrokeProtocol as violation:
        report.stopped = (
            f"the server broke the wire protocol while the suite learned its settings: {violation}"
        )
        settings = ServerSettings()
    for line in report.settings:
        progress(f"server setting: {line}")
    target = Target(
        options.hosts,
        profile,
        settings,
        container_check_interval_ms=options.container_check_interval_ms,
        reap_wait_max_s=options.reap_wait_s,
        mode=options.mode,
    )
    for serial, item in enumerate(chosen):
        if report.stopped:
            reason = "the suite stopped before it (see STOPPED)"
            report.scenarios.append(
                ScenarioResult(item.chapter, item.name, item.doc, "not_run", 0.0, reason)
            )
            continue
        result = asyncio.run(run_one(item, target, serial))
        report.scenarios.append(result)
        progress(f"{result.status:<7} {item.chapter}/{item.name} ({result.seconds:.2f} s)")
        if result.protocol_violation:
            report.stopped = (
                f"the server broke the wire protocol in {item.chapter}/{item.name} "
                f"({result.protocol_violation}): nothing it answers can be judged"
            )
            progress(f"stopping: {report.stopped}")
    if options.model and not report.stopped:
        progress(f"model checker: up to {options.examples} examples, {options.duration_s:.0f} s")
        report.model = run_model(
            target, options.examples, options.duration_s, progress, options.seed
        )
        progress(
            f"model checker: {'passed' if report.model.passed else 'FAILED'}, "
            f"{report.model.examples} examples, {report.model.steps} steps"
        )
    report.seconds = time.perf_counter() - started
    return report
