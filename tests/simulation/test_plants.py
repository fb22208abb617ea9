"""Every planted ZAB bug is caught: CI's proof that the simulator's checks have teeth.

Each plant (``reference.quorum.plants``) is pinned to a swarm seed whose world catches it:
the seed with the plant on must violate something, and the same seed with no plant must
violate nothing (so it is the plant that is caught, not the world). A pin that stops
catching after a change of the simulator is re-found with ``zkref sim --plant NAME`` (its
hunt prints the seed). The hunts themselves — up to 500 stories of the state machine, then
swarm seeds, within 5 CPU-minutes each — are run by hand (``docs/SIMULATION.md`` has the
command and the catch rates); tests/simulation/test_machine.py has the state machine catch
and shrink one.
"""

from __future__ import annotations

import pytest

from reference.quorum import plants
from simulation.machine import find
from simulation.swarm import run

# plant -> a swarm seed that catches it (the first from seed 0 on, found by hunting).
PINNED_SEEDS: dict[str, int] = {
    "diff-txns-not-logged": 1,
    "current-epoch-before-txns": 1,
    "vote-applied-zxid": 194,
    "diff-instead-of-trunc": 25,
    "snap-not-persisted": 1,
    "late-forwarding": 11,
    "ack-before-log": 1,
    "half-is-quorum": 0,
    "trunc-ignored": 5,
}
# plants no swarm seed from 0 to 400 catches: the state machine's seed, and what it finds.
MACHINE_PINS: dict[str, tuple[int, str]] = {
    "epoch-not-max-over-quorum": (11, "two leaders of one epoch"),
}


def test_every_plant_has_a_pinned_seed() -> None:
    assert set(PINNED_SEEDS) | set(MACHINE_PINS) == set(plants.PLANTS)
    assert len(plants.PLANTS) >= 10


@pytest.mark.parametrize("plant", sorted(PINNED_SEEDS))
def test_the_pinned_seed_catches_the_plant_and_nothing_without_it(plant: str) -> None:
    seed = PINNED_SEEDS[plant]
    try:
        plants.plant(plant)
        caught = run(seed)
    finally:
        plants.unplant_all()
    assert not caught.ok, (
        f"seed {seed} no longer catches {plant}: hunt a new one with zkref sim --plant {plant}"
    )
    clean = run(seed)
    assert clean.ok, clean.render(with_log=True)


@pytest.mark.parametrize("plant", sorted(MACHINE_PINS))
def test_the_state_machine_catches_the_plants_the_swarm_does_not(plant: str) -> None:
    seed, kind = MACHINE_PINS[plant]
    failure = find(plant, examples=500, seed=seed, shrink=False)
    assert failure is not None, f"{plant} not caught in 500 stories of seed {seed}"
    assert failure.kind == kind, failure.render()
