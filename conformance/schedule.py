"""The nemesis's schedule: which fault, when, against whom, for how long — all from a seed.

``draw_schedule(seed, faults, duration_s, size)`` draws a list of ``FaultPlan``s, one fault
at a time (as Jepsen's nemeses alternate start and stop): a quiet gap, a fault held for a
while, undone, a gap, the next. The same seed, faults, duration and size give the same
schedule, so a run is replayed with ``--seed N``; ``render`` prints it before the run starts.

Targets are written as roles (``the leader``, ``a follower``) where the role is what the fault
is about; they are resolved when the fault starts, from what ``srvr`` says then, and the
report names the server that was hit. Where a choice is needed (which follower, which servers
form the minority) it is the plan's ``choice``, a number drawn with the rest, so the same
ensemble state gives the same victim.

Fault kinds (``FAULTS``) and their variants:

* ``kill``: kill -9, restarted on the same data directory when the fault ends — the leader,
  a follower, any server, or (five servers) a minority including the leader;
* ``pause``: SIGSTOP, SIGCONT when it ends — the leader, a follower, any server;
* ``partition``: the network cut (``conformance.proxy``), healed when it ends — a random
  minority from the majority (``majority``), the leader alone (``leader``), the leader unable
  to send to anyone while it still hears them (``leader-mute``, one-way), or unable to hear
  while its messages still arrive (``leader-deaf``, one-way).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

FAULTS: Final = ("kill", "pause", "partition")
VARIANTS: Final[dict[str, tuple[str, ...]]] = {
    "kill": ("leader", "follower", "any", "minority"),
    "pause": ("leader", "follower", "any"),
    "partition": ("majority", "leader", "leader-mute", "leader-deaf"),
}
# Seconds: the first fault waits for the workload to start; the last ends this long before
# the run does, so every fault is undone while clients still work.
WARMUP_S: Final = 3.0
QUIET_END_S: Final = 3.0
# Gap before a fault and how long it is held, in ticks: from a blip to several times the
# syncLimit (5 ticks), so that some faults are ridden out and others force an election.
GAP_TICKS: Final = (2.0, 8.0)
HOLD_TICKS: Final = (1.0, 15.0)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """One fault of a schedule: ``kind`` ``variant`` starting ``at_s`` seconds into the run
    and undone ``hold_s`` later; ``choice`` picks among equals."""

    at_s: float
    kind: str
    variant: str
    hold_s: float
    choice: int

    @property
    def end_s(self) -> float:
        return self.at_s + self.hold_s

    def describe(self) -> str:
        what = {
            ("kill", "leader"): "kill -9 the leader",
            ("kill", "follower"): "kill -9 a follower",
            ("kill", "any"): "kill -9 a server",
            ("kill", "minority"): "kill -9 a minority with the leader",
            ("pause", "leader"): "pause the leader",
            ("pause", "follower"): "pause a follower",
            ("pause", "any"): "pause a server",
            ("partition", "majority"): "partition a minority from the majority",
            ("partition", "leader"): "partition the leader from the rest",
            ("partition", "leader-mute"): "cut every link from the leader (one-way)",
            ("partition", "leader-deaf"): "cut every link to the leader (one-way)",
        }[(self.kind, self.variant)]
        return f"{what} for {self.hold_s:.1f} s"

    def to_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 3),
            "kind": self.kind,
            "variant": self.variant,
            "hold_s": round(self.hold_s, 3),
            "choice": self.choice,
        }


def draw_schedule(
    seed: int,
    faults: tuple[str, ...],
    duration_s: float,
    size: int,
    tick_time_ms: int = 1000,
) -> list[FaultPlan]:
    """The faults of a run (see the module docstring); empty if ``faults`` is."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    rng = random.Random(f"nemesis-schedule-{seed}")
    tick_s = tick_time_ms / 1000
    plans: list[FaultPlan] = []
    now = WARMUP_S
    kinds = sorted(set(faults), key=FAULTS.index)
    while kinds:
        gap = rng.uniform(*GAP_TICKS) * tick_s
        hold = rng.uniform(*HOLD_TICKS) * tick_s
        kind = rng.choice(kinds)
        variants = [v for v in VARIANTS[kind] if v != "minority" or size >= 5]
        variant = rng.choice(variants)
        choice = rng.randrange(1 << 30)
        at = now + gap
        if at + hold > duration_s - QUIET_END_S:
            break
        plans.append(FaultPlan(round(at, 3), kind, variant, round(hold, 3), choice))
        now = at + hold
    return plans


def render(plans: list[FaultPlan]) -> list[str]:
    """One line per fault: when it starts, what it is, how long it is held."""
    return [f"{plan.at_s:8.1f} s  {plan.describe()}" for plan in plans]


__all__ = ["FAULTS", "VARIANTS", "FaultPlan", "draw_schedule", "render"]
