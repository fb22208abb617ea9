"""The nemesis schedule (conformance.schedule) comes from the seed: the same seed, faults,
duration and size give the same faults at the same times; it holds one fault at a time, all
of them inside the run and over before it ends, only of the kinds asked for."""

from __future__ import annotations

import itertools

import pytest

from conformance.schedule import FAULTS, QUIET_END_S, VARIANTS, draw_schedule, render


def test_the_same_seed_draws_the_same_schedule_and_another_seed_another() -> None:
    first = draw_schedule(7, FAULTS, 600, 3)
    assert first == draw_schedule(7, FAULTS, 600, 3)
    assert first != draw_schedule(8, FAULTS, 600, 3)
    assert render(first) == render(draw_schedule(7, FAULTS, 600, 3))


@pytest.mark.parametrize("size", [3, 5])
def test_one_fault_at_a_time_all_inside_the_run(size: int) -> None:
    for seed in range(20):
        plans = draw_schedule(seed, FAULTS, 120, size)
        assert len(plans) >= 4, plans
        for earlier, later in itertools.pairwise(plans):
            assert earlier.end_s < later.at_s
        assert plans[-1].end_s <= 120 - QUIET_END_S
        assert all(plan.variant in VARIANTS[plan.kind] for plan in plans)
        if size == 3:
            assert all(plan.variant != "minority" for plan in plans)  # a minority of one


def test_only_the_faults_asked_for_and_every_kind_over_a_long_run() -> None:
    assert {plan.kind for plan in draw_schedule(3, ("partition",), 600, 3)} == {"partition"}
    assert {plan.kind for plan in draw_schedule(3, FAULTS, 600, 3)} == set(FAULTS)
    assert draw_schedule(3, (), 600, 3) == []
    with pytest.raises(ValueError, match="unknown faults"):
        draw_schedule(3, ("flood",), 600, 3)


def test_the_schedule_reads_as_a_list_of_faults() -> None:
    lines = render(draw_schedule(1, ("kill",), 60, 3))
    assert lines and all(" s  kill -9 " in line and line.endswith(" s") for line in lines)
