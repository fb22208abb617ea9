"""The model checker is seeded: the same seed generates the same steps, and says which it used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.history import ServerSettings
from conformance.model import run_model
from conformance.nemesis import ZkrefNode
from conformance.scenarios.base import Target
from spec.profiles import V3_9
from tests.conformance.servers import zkref

# Hypothesis starts every run with its simplest example (the same for every seed), so the
# seed shows from the second example on.
EXAMPLES = 3
DURATION_S = 30.0


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    node: ZkrefNode
    with zkref(Path(tmp_path_factory.mktemp("zkref-model"))) as node:
        yield Target((node.address,), V3_9, ServerSettings(extended_types_enabled=True))


def test_the_same_seed_generates_the_same_steps(target: Target) -> None:
    first = run_model(target, EXAMPLES, DURATION_S, seed=7)
    again = run_model(target, EXAMPLES, DURATION_S, seed=7)
    assert first.passed and again.passed, first.evidence or again.evidence
    assert first.seed == again.seed == 7 and first.to_json()["seed"] == 7
    assert first.examples == again.examples == EXAMPLES
    assert first.trace == again.trace and len(first.trace) > EXAMPLES


def test_another_seed_generates_other_steps_and_no_seed_picks_one(target: Target) -> None:
    lines: list[str] = []
    seeded = run_model(target, EXAMPLES, DURATION_S, seed=7)
    unseeded = run_model(target, 1, DURATION_S, lines.append)
    other = run_model(target, EXAMPLES, DURATION_S, seed=8)
    assert f"model checker: seed {unseeded.seed}" in lines
    assert seeded.trace != other.trace
