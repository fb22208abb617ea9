"""Chapter: zxids — how ZooKeeper numbers every change, and every leader's reign.

Rules
-----
* A zxid is a 64-bit number ``epoch << 32 | counter`` (``ZxidUtils.makeZxid``). The *epoch*
  (high 32 bits) names the leader that proposed the change: every established leader has an
  epoch of its own, larger than every epoch before it. The *counter* (low 32 bits) counts the
  transactions that leader proposed, from 1.
* Zxids are compared as plain numbers: a later epoch orders after every zxid of an earlier
  one, whatever the counters.
* ``epoch << 32`` (counter 0) is no transaction: it is the zxid a new leader starts from
  (``Leader.lead``: ``zk.setZxid(makeZxid(epoch, 0))``), the zxid of NEWLEADER, and what a
  learner announces in FOLLOWERINFO (its accepted epoch, counter 0). Acks with counter 0 are
  ignored by the leader (``Leader.processAck``).
* The counter must never wrap: a leader whose next counter would be ``0xffffffff`` gives up
  its leadership so that a new election starts a new epoch (``Leader.propose``,
  ZOOKEEPER-1277). ``Zxid.next`` refuses to go there.
* A standalone server never changes epoch: its zxids continue in the epoch it found on disk
  (0 for a new data directory).

Source: ``org.apache.zookeeper.server.util.ZxidUtils``, ``Leader.propose``, ``Leader.lead``.
"""

from __future__ import annotations

from typing import Final

COUNTER_BITS: Final = 32
COUNTER_MASK: Final = (1 << COUNTER_BITS) - 1
# The last counter a leader may use: the next one would roll over (ZOOKEEPER-1277).
COUNTER_MAX: Final = COUNTER_MASK - 1
EPOCH_MAX: Final = (1 << 31) - 1  # epochs travel as signed 32-bit ints (ACKEPOCH, LEADERINFO)


class CounterExhausted(Exception):
    """The epoch has used its last counter value: a new election must start a new epoch."""


class Zxid(int):
    """A zxid: an ``int`` (it travels and compares as one) that knows its two halves.

    Construct with ``Zxid(value)`` from a number read off the wire or a disk, or with
    ``Zxid.of(epoch, counter)``.
    """

    __slots__ = ()

    @classmethod
    def of(cls, epoch: int, counter: int) -> Zxid:
        """``epoch << 32 | counter`` (``ZxidUtils.makeZxid``)."""
        assert 0 <= counter <= COUNTER_MASK, f"counter {counter:#x} out of range"
        assert 0 <= epoch <= EPOCH_MAX, f"epoch {epoch:#x} out of range"
        return cls((epoch << COUNTER_BITS) | counter)

    @classmethod
    def first_of(cls, epoch: int) -> Zxid:
        """Counter 0 of ``epoch``: where a new leader's zxids start (no transaction)."""
        return cls.of(epoch, 0)

    @property
    def epoch(self) -> int:
        """The high 32 bits (``ZxidUtils.getEpochFromZxid``)."""
        return int(self) >> COUNTER_BITS

    @property
    def counter(self) -> int:
        """The low 32 bits (``ZxidUtils.getCounterFromZxid``)."""
        return int(self) & COUNTER_MASK

    @property
    def is_epoch_start(self) -> bool:
        """Counter 0: an epoch's starting point, never a transaction."""
        return int(self) & COUNTER_MASK == 0

    def next(self) -> Zxid:
        """The zxid of the next transaction in the same epoch.

        Raises ``CounterExhausted`` instead of reaching counter ``0xffffffff``.
        """
        if self.counter >= COUNTER_MAX:
            raise CounterExhausted(f"zxid {self.hex()} is the last of epoch {self.epoch}")
        return Zxid(int(self) + 1)

    def hex(self) -> str:
        """``0x`` and lowercase hex, as ZooKeeper's logs and four-letter words print zxids."""
        return f"0x{int(self):x}"

    def __repr__(self) -> str:
        return f"Zxid({self.epoch}:{self.counter})"


def make_zxid(epoch: int, counter: int) -> Zxid:
    """``epoch << 32 | counter`` (``ZxidUtils.makeZxid``); a counter is taken mod 2**32."""
    return Zxid.of(epoch, counter & COUNTER_MASK)


def zxid_epoch(zxid: int) -> int:
    """The epoch of a zxid given as a plain number."""
    return zxid >> COUNTER_BITS


def zxid_counter(zxid: int) -> int:
    """The counter of a zxid given as a plain number."""
    return zxid & COUNTER_MASK
