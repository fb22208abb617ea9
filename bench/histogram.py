"""Latency histograms: bounded memory, mergeable across worker processes, exact enough.

A load generator that answers tens of thousands of requests per second cannot keep every
latency forever, and the parent process must merge what its workers measured. So latencies
(integer nanoseconds) go first into a flat ``array('q')`` — one C append per reply, the
cheapest thing Python offers — and are folded into a log-linear histogram when the array
reaches ``LATENCY_SAMPLES_BUFFERED_MAX`` and at the end of a run.

The histogram keeps ``SIGNIFICANT_BITS`` bits of each value (the HdrHistogram idea): values
below ``2**SIGNIFICANT_BITS`` ns are exact, larger ones fall into a bucket whose width is at
most 1/128 of its lower bound, so a reported percentile is within 0.8 % of the true sample.
A bucket is named by one small int, so a histogram is a ``dict[int, int]`` that pickles and
merges cheaply.

Percentiles use the nearest-rank definition: the p-th percentile of n samples is the
``ceil(p/100 * n)``-th smallest (``exact_percentile`` computes it on raw samples; the
histogram reports the midpoint of the bucket that sample fell in).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

SIGNIFICANT_BITS: Final = 8
"""Bits of each value kept: bucket width ≤ 2**-(SIGNIFICANT_BITS-1) of its lower bound."""

LATENCY_SAMPLES_BUFFERED_MAX: Final = 1 << 20
"""Raw samples buffered (8 bytes each) before they are folded into the histogram."""

_HALF: Final = 1 << (SIGNIFICANT_BITS - 1)
_EXACT_BELOW: Final = 1 << SIGNIFICANT_BITS


def bucket_of(value_ns: int) -> int:
    """The bucket index of a non-negative value (negative values count as 0)."""
    if value_ns < _EXACT_BELOW:
        return value_ns if value_ns > 0 else 0
    shift = value_ns.bit_length() - SIGNIFICANT_BITS
    return (shift << (SIGNIFICANT_BITS - 1)) + (value_ns >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest value (inclusive) that fall into bucket ``index``."""
    if index < _EXACT_BELOW:
        return index, index
    shift = (index >> (SIGNIFICANT_BITS - 1)) - 1
    mantissa = index - (shift << (SIGNIFICANT_BITS - 1))
    assert _HALF <= mantissa < _EXACT_BELOW, "not a bucket index"
    return mantissa << shift, ((mantissa + 1) << shift) - 1


def bucket_value(index: int) -> int:
    """The value a bucket stands for: the midpoint of its bounds."""
    low, high = bucket_bounds(index)
    return (low + high) // 2


def exact_percentile(samples: Sequence[int], percent: float) -> int:
    """Nearest-rank percentile of raw samples (sorted or not); 0 for no samples."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be within 0..100, not {percent}")
    if not samples:
        return 0
    ordered = sorted(samples)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


class LatencyHistogram:
    """Latencies in nanoseconds: ``record_many`` raw samples, read percentiles, merge."""

    __slots__ = ("buckets", "count", "max_ns", "pending", "total_ns")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.pending = array("q")
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0

    def record(self, value_ns: int) -> None:
        """Add one sample (the hot path appends to ``pending`` directly, then calls ``fold``)."""
        self.pending.append(value_ns)
        if len(self.pending) >= LATENCY_SAMPLES_BUFFERED_MAX:
            self.fold()

    def record_many(self, values_ns: Iterable[int]) -> None:
        self.pending.extend(values_ns)
        if len(self.pending) >= LATENCY_SAMPLES_BUFFERED_MAX:
            self.fold()

    def fold(self) -> None:
        """Move the buffered raw samples into the buckets."""
        pending = self.pending
        if not pending:
            return
        buckets = self.buckets
        get = buckets.get
        for value in pending:
            index = bucket_of(value)
            buckets[index] = get(index, 0) + 1
        self.count += len(pending)
        self.total_ns += sum(pending)
        self.max_ns = max(self.max_ns, max(pending))
        self.pending = array("q")

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to this histogram."""
        other.fold()
        self.fold()
        buckets = self.buckets
        for index, count in other.buckets.items():
            buckets[index] = buckets.get(index, 0) + count
        self.count += other.count
        self.total_ns += other.total_ns
        self.max_ns = max(self.max_ns, other.max_ns)

    def percentile_ns(self, percent: float) -> int:
        """Nearest-rank percentile (bucket midpoint, capped at the true maximum); 0 if empty."""
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be within 0..100, not {percent}")
        self.fold()
        if self.count == 0:
            return 0
        rank = max(1, math.ceil(percent / 100 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_value(index), self.max_ns)
        raise AssertionError("rank beyond the histogram's count")

    @property
    def mean_ns(self) -> float:
        self.fold()
        return self.total_ns / self.count if self.count else 0.0

    def to_json(self) -> dict[str, object]:
        """A JSON-able form (bucket indices as strings) that ``from_json`` reads back."""
        self.fold()
        return {
            "significant_bits": SIGNIFICANT_BITS,
            "count": self.count,
            "total_ns": self.total_ns,
            "max_ns": self.max_ns,
            "buckets": {str(index): count for index, count in sorted(self.buckets.items())},
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> LatencyHistogram:
        if document.get("significant_bits") != SIGNIFICANT_BITS:
            raise ValueError("histogram written with another bucket precision")
        histogram = cls()
        buckets = document["buckets"]
        assert isinstance(buckets, dict)
        histogram.buckets = {int(index): int(count) for index, count in buckets.items()}
        histogram.count = _int(document["count"])
        histogram.total_ns = _int(document["total_ns"])
        histogram.max_ns = _int(document["max_ns"])
        assert histogram.count == sum(histogram.buckets.values()), "inconsistent histogram"
        return histogram


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value
