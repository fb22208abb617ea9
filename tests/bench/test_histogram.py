"""Latency percentiles: nearest rank on raw samples, and a histogram within its precision."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.histogram import (
    SIGNIFICANT_BITS,
    LatencyHistogram,
    bucket_bounds,
    bucket_of,
    bucket_value,
    exact_percentile,
)

RELATIVE_ERROR_MAX = 2.0 ** -(SIGNIFICANT_BITS - 1)
latencies_ns = st.integers(min_value=0, max_value=10**11)


def test_exact_percentile_is_the_nearest_rank() -> None:
    samples = list(range(100, 0, -1))  # 1..100, unsorted
    assert exact_percentile(samples, 50) == 50
    assert exact_percentile(samples, 99) == 99
    assert exact_percentile(samples, 99.9) == 100
    assert exact_percentile(samples, 100) == 100
    assert exact_percentile(samples, 0) == 1
    assert exact_percentile([7], 50) == 7
    assert exact_percentile([], 50) == 0
    assert exact_percentile([1, 2, 3, 4], 50) == 2  # ceil(0.5 × 4) = 2nd smallest
    assert exact_percentile([1, 2, 3, 4], 51) == 3


@pytest.mark.parametrize("percent", [-1, 100.5])
def test_a_percent_outside_0_to_100_is_refused(percent: float) -> None:
    with pytest.raises(ValueError):
        exact_percentile([1], percent)
    with pytest.raises(ValueError):
        LatencyHistogram().percentile_ns(percent)


@given(latencies_ns)
def test_every_value_falls_in_its_bucket_and_buckets_are_narrow(value: int) -> None:
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value <= high
    assert high - low <= max(0, low * RELATIVE_ERROR_MAX)


def test_bucket_indices_increase_with_the_value() -> None:
    previous_high = -1
    for index in range(bucket_of(10**10)):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1, index
        previous_high = high
    assert bucket_value(bucket_of(12345)) == pytest.approx(12345, rel=RELATIVE_ERROR_MAX)


@given(st.lists(latencies_ns, min_size=1, max_size=300), st.sampled_from([0, 1, 50, 99, 100]))
def test_histogram_percentile_is_within_precision_of_the_exact_one(
    samples: list[int], percent: float
) -> None:
    histogram = LatencyHistogram()
    histogram.record_many(samples)
    exact = exact_percentile(samples, percent)
    assert histogram.percentile_ns(percent) == pytest.approx(exact, rel=RELATIVE_ERROR_MAX, abs=1)
    assert histogram.count == len(samples)
    assert histogram.max_ns == max(samples)


def test_percentiles_of_a_realistic_distribution() -> None:
    generator = random.Random(6)
    samples = [int(generator.lognormvariate(12, 0.6)) for _ in range(50_000)]  # ~160 µs
    histogram = LatencyHistogram()
    for sample in samples:
        histogram.record(sample)
    for percent in (50, 99, 99.9):
        assert histogram.percentile_ns(percent) == pytest.approx(
            exact_percentile(samples, percent), rel=RELATIVE_ERROR_MAX
        )
    assert histogram.mean_ns == pytest.approx(sum(samples) / len(samples))


def test_merged_histograms_equal_one_histogram_of_all_samples() -> None:
    generator = random.Random(7)
    parts = [[generator.randrange(10**4, 10**8) for _ in range(1000)] for _ in range(3)]
    merged = LatencyHistogram()
    for part in parts:
        histogram = LatencyHistogram()
        histogram.record_many(part)
        merged.merge(pickle.loads(pickle.dumps(histogram)))  # as the workers send them
    whole = LatencyHistogram()
    whole.record_many([x for part in parts for x in part])
    whole.fold()
    assert merged.buckets == whole.buckets
    assert (merged.count, merged.total_ns, merged.max_ns) == (
        whole.count,
        whole.total_ns,
        whole.max_ns,
    )


def test_json_round_trip_keeps_every_percentile() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(range(1000, 2_000_000, 997))
    again = LatencyHistogram.from_json(histogram.to_json())
    for percent in (0, 50, 99, 99.9, 100):
        assert again.percentile_ns(percent) == histogram.percentile_ns(percent)


def test_an_empty_histogram_reports_zero() -> None:
    histogram = LatencyHistogram()
    assert histogram.percentile_ns(99) == 0
    assert histogram.mean_ns == 0.0
