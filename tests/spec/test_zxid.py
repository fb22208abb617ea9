"""The zxid type: epoch and counter halves, ordering, and the counter that must not wrap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.zxid import COUNTER_MAX, CounterExhausted, Zxid, make_zxid

epochs = st.integers(min_value=0, max_value=(1 << 31) - 1)
counters = st.integers(min_value=0, max_value=0xFFFFFFFF)


@given(epochs, counters)
def test_a_zxid_is_epoch_shifted_left_32_or_counter(epoch: int, counter: int) -> None:
    zxid = Zxid.of(epoch, counter)
    assert int(zxid) == epoch * 2**32 + counter
    assert (zxid.epoch, zxid.counter) == (epoch, counter)
    assert zxid == make_zxid(epoch, counter)


@given(epochs, counters, epochs, counters)
def test_zxids_order_by_epoch_first_then_counter(e1: int, c1: int, e2: int, c2: int) -> None:
    assert (Zxid.of(e1, c1) < Zxid.of(e2, c2)) == ((e1, c1) < (e2, c2))


def test_an_epoch_starts_at_counter_zero_and_counts_from_one() -> None:
    start = Zxid.first_of(5)
    assert start.is_epoch_start and start.counter == 0
    assert start.next() == Zxid.of(5, 1) and not start.next().is_epoch_start


def test_next_refuses_to_reach_the_rollover_counter() -> None:
    last = Zxid.of(2, COUNTER_MAX)
    assert Zxid.of(2, COUNTER_MAX - 1).next() == last
    with pytest.raises(CounterExhausted):
        last.next()


def test_a_zxid_prints_as_zookeeper_prints_it() -> None:
    assert Zxid.of(1, 0x2A).hex() == "0x10000002a"
    assert repr(Zxid.of(1, 0x2A)) == "Zxid(1:42)"
