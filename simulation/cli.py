"""``zkref sim``: the whole ensemble in one process, on a virtual clock.

Usage::

    zkref sim [--seed N] [--seeds K] [--replicas 3|5]      seeds N .. N+K-1 of the swarm
    zkref sim --plant NAME [--seed N] [--examples E] [--budget S]
    zkref sim --list-plants
    zkref sim --stories E [--seed N]                        the Hypothesis state machine
    zkref sim --speed                                       how fast it runs, busy and idle

Without ``--plant``, each seed is one world (``simulation.swarm``): a line per seed, and the
whole story of any seed that violates something, ending with the command that replays it.
Without ``--seed``, one seed is drawn at random and printed. Standard output depends on the
seeds only (the same seed twice prints the same bytes); the CPU time and the speed figures go
to standard error.

``--plant NAME`` switches one planted ZAB bug on (``reference.quorum.plants``) and runs until
it is caught: first up to ``--examples`` stories of the Hypothesis state machine
(``simulation.machine``), which shrinks what it finds to the fewest steps, then swarm seeds
from ``--seed`` on, until ``--budget`` CPU-seconds are spent.

Exit status: 0 when nothing was violated (for ``--plant``: the bug went uncaught within the
budget), 1 on a violation (for ``--plant``: caught), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Sequence

from reference.quorum import plants
from simulation import speed
from simulation.machine import find
from simulation.swarm import RARE_PATHS, RunResult, run

EXIT_OK = 0
EXIT_VIOLATION = 1
EXIT_USAGE = 2
DEFAULT_BUDGET_S = 300.0
DEFAULT_EXAMPLES = 500


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run zkref's ensemble in a deterministic simulation, under faults.",
    )
    parser.add_argument("--seed", type=int, help="the first seed (default: a random one)")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (default 1)")
    parser.add_argument(
        "--replicas", type=int, choices=(3, 5), help="ensemble size (default: drawn per seed)"
    )
    parser.add_argument("--plant", metavar="NAME", help="switch a planted bug on; run to catch it")
    parser.add_argument("--list-plants", action="store_true", help="list the planted bugs")
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        help=f"with --plant: state-machine stories first (default {DEFAULT_EXAMPLES})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"with --plant: CPU-seconds in all (default {DEFAULT_BUDGET_S:.0f})",
    )
    parser.add_argument(
        "--stories",
        type=int,
        metavar="E",
        help="run E stories of the Hypothesis state machine instead of swarm seeds",
    )
    parser.add_argument("--log", action="store_true", help="print every seed's fault log")
    parser.add_argument(
        "--speed", action="store_true", help="measure the simulation's speed, busy and idle"
    )
    return parser


def main(argv: Sequence[str], prog: str = "zkref sim") -> int:
    parser = _parser(prog)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    if args.seeds < 1 or (args.stories is not None and args.stories < 1) or args.examples < 0:
        print(f"{prog}: --seeds, --stories and --examples must be positive", file=sys.stderr)
        return EXIT_USAGE
    # The simulated servers log as real ones do; thousands of elections are noise here.
    logging.getLogger("zkref").setLevel(logging.CRITICAL)
    if args.list_plants:
        for name, (_, description) in plants.PLANTS.items():
            print(f"{name:28} {description}")
        return EXIT_OK
    if args.plant is not None and args.plant not in plants.PLANTS:
        print(f"{prog}: no planted bug named {args.plant!r} (see --list-plants)", file=sys.stderr)
        return EXIT_USAGE
    if args.speed:
        _out(speed.measure().render())
        return EXIT_OK
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    if args.plant is not None:
        return _hunt(args.plant, seed, args.examples, args.budget, args.replicas)
    if args.stories is not None:
        return _stories(args.stories, seed)
    return _seeds(seed, args.seeds, args.replicas, args.log)


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _seeds(first: int, count: int, replicas: int | None, with_log: bool) -> int:
    """Run seeds ``first`` .. ``first + count - 1``; print one line each, and every failure."""
    failures: list[int] = []
    totals = _Totals()
    for seed in range(first, first + count):
        result = run(seed, replicas)
        totals.add(result)
        if result.ok:
            _out(result.render(with_log=with_log) if with_log else result.render().splitlines()[0])
        else:
            failures.append(seed)
            _out(result.render(with_log=True))
    _out(totals.coverage_line())
    _err(totals.speed_line())
    if failures:
        _out(f"{len(failures)} of {count} seeds violated something: {failures}")
        return EXIT_VIOLATION
    _out(f"{count} seeds, nothing violated")
    return EXIT_OK


def _stories(examples: int, seed: int) -> int:
    started = time.process_time()
    _out(f"state machine: up to {examples} stories, seed {seed}")
    failure = find(None, examples, seed)
    _err(f"{time.process_time() - started:.1f} CPU-s")
    if failure is None:
        _out(f"{examples} stories, nothing violated")
        return EXIT_OK
    _out(failure.render())
    _out(f"reproduce with: zkref sim --stories {examples} --seed {seed}")
    return EXIT_VIOLATION


def _hunt(plant: str, seed: int, examples: int, budget_s: float, replicas: int | None) -> int:
    """Run with ``plant`` on until it is caught or the budget is spent."""
    started = time.process_time()
    _out(f"plant {plant}: {plants.PLANTS[plant][1]}")
    if examples:
        _out(f"state machine: up to {examples} stories, seed {seed}")
        failure = find(plant, examples, seed)
        if failure is not None:
            _out(f"caught by the state machine: {failure.render()}")
            _out(f"reproduce with: zkref sim --plant {plant} --seed {seed} --examples {examples}")
            _err(f"{time.process_time() - started:.1f} CPU-s")
            return EXIT_VIOLATION
        _out(f"state machine: not caught in {examples} stories")
    plants.plant(plant)
    try:
        current = seed
        while time.process_time() - started < budget_s:
            result = run(current, replicas)
            _out(result.render().splitlines()[0])
            if not result.ok:
                _out(f"caught by the swarm at seed {current}:")
                _out(result.render(with_log=True))
                _out(f"reproduce with: zkref sim --plant {plant} --seed {current} --examples 0")
                _err(f"{time.process_time() - started:.1f} CPU-s")
                return EXIT_VIOLATION
            current += 1
    finally:
        plants.unplant_all()
    _out(f"plant {plant}: not caught within {budget_s:.0f} CPU-s (seeds {seed}..{current - 1})")
    return EXIT_OK


class _Totals:
    """Counts over a run of seeds: the rare paths taken, and the speed."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.operations = 0
        self.simulated_ms = 0
        self.sim_cpu_s = 0.0
        self.check_cpu_s = 0.0

    def add(self, result: RunResult) -> None:
        for name, value in result.counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        self.operations += result.operations
        self.simulated_ms += result.simulated_ms
        self.sim_cpu_s += result.sim_cpu_s
        self.check_cpu_s += result.cpu_s - result.sim_cpu_s

    def coverage_line(self) -> str:
        taken = ", ".join(f"{name} {self.counters.get(name, 0)}" for name in RARE_PATHS)
        return f"rare paths: {taken}"

    def speed_line(self) -> str:
        ops_per_s = self.operations / self.sim_cpu_s if self.sim_cpu_s else 0.0
        ratio = self.simulated_ms / 1000 / self.sim_cpu_s if self.sim_cpu_s else 0.0
        return (
            f"speed: {self.operations} client operations in {self.sim_cpu_s:.1f} CPU-s "
            f"simulating ({ops_per_s:.0f} per CPU-s), {self.simulated_ms / 1000:.0f} s "
            f"simulated ({ratio:.0f}x real time); the history checks took "
            f"{self.check_cpu_s:.1f} CPU-s"
        )
