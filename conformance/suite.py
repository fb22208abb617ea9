"""Running the whole conformance suite against a server: scenarios, then the model checker.

``run_suite(options)`` detects the profile to hold the server to from its ``srvr`` answer
(``Zookeeper version: 3.8.0-...`` → 3.8; unless ``options.profile`` says otherwise), runs every
scenario of ``conformance.scenarios`` (one chapter after another) and then the Hypothesis
stateful model checker (``conformance.model``), and returns a ``SuiteReport``: passed / failed
per chapter with the evidence of each failure, how many scenarios and model-checker steps ran,
and the time taken. ``render()`` is for people, ``to_json()`` for programs.

Every wait is bounded: each scenario by ``SCENARIO_TIMEOUT_S``, each model-checker request by
the client's request timeout, the model checker as a whole by ``options.duration_s``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.model import ModelResult, run_model
from conformance.scenarios import CHAPTERS, REGISTRY, ScenarioResult, Target, run_one
from spec.profiles import PROFILES, Profile, profile_for_version

SRVR_TIMEOUT_S = 5.0
DEFAULT_EXAMPLES = 100
DEFAULT_DURATION_S = 60.0


class SuiteError(RuntimeError):
    """The suite could not run at all (no server answered, unknown profile)."""


@dataclass
class SuiteOptions:
    hosts: tuple[str, ...]
    profile: str | None = None
    examples: int = DEFAULT_EXAMPLES
    duration_s: float = DEFAULT_DURATION_S
    reap_wait_s: float = 8.0
    chapters: tuple[str, ...] = ()  # empty: all
    model: bool = True
    seed: int | None = None  # the model checker's; None: a random one (reported)


@dataclass
class SuiteReport:
    hosts: tuple[str, ...]
    profile: str
    server_version: str
    scenarios: list[ScenarioResult] = field(default_factory=list)
    model: ModelResult | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if s.status == "failed"]

    @property
    def passed(self) -> bool:
        return not self.failed and (self.model is None or self.model.passed)

    def counts(self) -> dict[str, int]:
        out = {"scenarios": 0, "passed": 0, "failed": 0, "skipped": 0}
        for result in self.scenarios:
            out[result.status] += 1
            out["scenarios"] += result.status != "skipped"
        out["model_examples"] = self.model.examples if self.model else 0
        out["model_steps"] = self.model.steps if self.model else 0
        out["model_operations"] = self.model.operations if self.model else 0
        return out

    def chapters(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for result in self.scenarios:
            row = out.setdefault(result.chapter, {"passed": 0, "failed": 0, "skipped": 0})
            row[result.status] += 1
        return out

    def render(self) -> str:
        lines = [
            f"conformance of {','.join(self.hosts)} (version {self.server_version!r}) "
            f"under profile {self.profile}",
            "",
        ]
        for chapter, row in self.chapters().items():
            mark = "FAILED" if row["failed"] else "passed"
            lines.append(
                f"  {chapter:<10} {mark:<7} {row['passed']} passed, {row['failed']} failed, "
                f"{row['skipped']} skipped"
            )
        if self.model is not None:
            mark = "passed" if self.model.passed else "FAILED"
            lines.append(
                f"  {'model':<10} {mark:<7} {self.model.examples} examples, "
                f"{self.model.steps} steps, {self.model.operations} operations "
                f"(seed {self.model.seed})"
            )
        for result in self.failed:
            lines += ["", f"FAILED {result.chapter}/{result.name}: {result.doc}", result.evidence]
        if self.model is not None and not self.model.passed:
            lines += ["", "FAILED model checker:", self.model.evidence]
        if self.model is not None and self.model.log:
            lines += ["", "model checker notes:", *(f"  {note}" for note in self.model.log)]
        skipped = [s for s in self.scenarios if s.status == "skipped"]
        if skipped:
            lines += ["", "skipped:"]
            lines += [f"  {s.chapter}/{s.name}: {s.evidence}" for s in skipped]
        counts = self.counts()
        lines += [
            "",
            f"{counts['scenarios']} scenarios ({counts['passed']} passed, {counts['failed']} "
            f"failed, {counts['skipped']} skipped), {counts['model_steps']} model-checker steps "
            f"in {counts['model_examples']} examples; {self.seconds:.1f} s: "
            + ("PASSED" if self.passed else "FAILED"),
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "hosts": list(self.hosts),
            "profile": self.profile,
            "server_version": self.server_version,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "chapters": self.chapters(),
            "scenarios": [s.to_json() for s in self.scenarios],
            "model": self.model.to_json() if self.model else None,
        }


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


def run_suite(
    options: SuiteOptions, progress: Callable[[str], None] = lambda _: None
) -> SuiteReport:
    started = time.perf_counter()
    profile, version = resolve_profile(options)
    progress(f"server version {version!r}: profile {profile.name}")
    target = Target(options.hosts, profile, reap_wait_s=options.reap_wait_s)
    report = SuiteReport(options.hosts, profile.name, version)
    chosen = [s for s in REGISTRY if not options.chapters or s.chapter in options.chapters]
    chosen.sort(key=lambda s: CHAPTERS.index(s.chapter) if s.chapter in CHAPTERS else 99)
    for serial, item in enumerate(chosen):
        result = asyncio.run(run_one(item, target, serial))
        report.scenarios.append(result)
        progress(f"{result.status:<7} {item.chapter}/{item.name} ({result.seconds:.2f} s)")
    if options.model:
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
