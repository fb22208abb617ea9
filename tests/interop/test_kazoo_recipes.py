"""kazoo's recipes, unchanged, against a zkref process: each completes in well under a second."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lease import NonBlockingLease
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from tests.interop.conftest import KazooFactory
from tests.support.servers import wait_until

TIMEOUT_S = 5.0


def test_lock_is_exclusive_and_handed_over(kazoo_factory: KazooFactory, root_path: str) -> None:
    first, second = kazoo_factory(), kazoo_factory()
    lock_a = Lock(first, root_path, "a")
    lock_b = Lock(second, root_path, "b")
    assert lock_a.acquire(timeout=TIMEOUT_S)
    with pytest.raises(LockTimeout):
        lock_b.acquire(timeout=0.3)
    assert lock_b.contenders() == ["a"]
    acquired = threading.Event()

    def wait_for_lock() -> None:
        if lock_b.acquire(timeout=TIMEOUT_S):
            acquired.set()

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    lock_a.release()
    waiter.join(TIMEOUT_S)
    assert acquired.is_set()
    lock_b.release()


def test_a_lock_is_released_when_its_holder_goes(
    kazoo_factory: KazooFactory, root_path: str
) -> None:
    holder, waiter = kazoo_factory(), kazoo_factory()
    assert Lock(holder, root_path).acquire(timeout=TIMEOUT_S)
    holder.stop()
    assert Lock(waiter, root_path).acquire(timeout=TIMEOUT_S)


def test_read_write_locks(kazoo_factory: KazooFactory, root_path: str) -> None:
    a, b = kazoo_factory(), kazoo_factory()
    read_a, read_b = ReadLock(a, root_path), ReadLock(b, root_path)
    assert read_a.acquire(timeout=TIMEOUT_S) and read_b.acquire(timeout=TIMEOUT_S)
    write = WriteLock(kazoo_factory(), root_path)
    with pytest.raises(LockTimeout):
        write.acquire(timeout=0.3)
    read_a.release()
    read_b.release()
    assert write.acquire(timeout=TIMEOUT_S)
    write.release()


def test_semaphore_grants_max_leases(kazoo_factory: KazooFactory, root_path: str) -> None:
    clients = [kazoo_factory() for _ in range(3)]
    semaphores = [Semaphore(c, root_path, f"s{i}", max_leases=2) for i, c in enumerate(clients)]
    assert semaphores[0].acquire(timeout=TIMEOUT_S)
    assert semaphores[1].acquire(timeout=TIMEOUT_S)
    assert not semaphores[2].acquire(blocking=False)
    assert sorted(semaphores[2].lease_holders()) == ["s0", "s1"]
    semaphores[0].release()
    assert semaphores[2].acquire(timeout=TIMEOUT_S)
    semaphores[1].release()
    semaphores[2].release()


def test_election_elects_one_leader_at_a_time(kazoo_factory: KazooFactory, root_path: str) -> None:
    leaders: list[str] = []
    stop = threading.Event()
    elected = threading.Semaphore(0)

    def lead(name: str) -> None:
        leaders.append(name)
        elected.release()
        stop.wait(TIMEOUT_S)

    elections = [Election(kazoo_factory(), root_path, f"candidate-{i}") for i in range(3)]
    threads = [
        threading.Thread(target=e.run, args=(lead, f"candidate-{i}"), daemon=True)
        for i, e in enumerate(elections)
    ]
    for thread in threads:
        thread.start()
    assert elected.acquire(timeout=TIMEOUT_S)
    wait_until(lambda: len(elections[0].contenders()) == 3)
    assert len(leaders) == 1
    assert elections[0].contenders()[0] == leaders[0]
    stop.set()  # the leader steps down, the next one is elected
    assert elected.acquire(timeout=TIMEOUT_S)
    for election in elections:
        election.cancel()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert len(set(leaders)) == len(leaders) >= 2


def test_queue_is_fifo_with_priorities(kazoo_factory: KazooFactory, root_path: str) -> None:
    producer, consumer = kazoo_factory(), kazoo_factory()
    queue = Queue(producer, root_path)
    for item in (b"one", b"two", b"three"):
        queue.put(item)
    queue.put(b"urgent", priority=10)
    taken = Queue(consumer, root_path)
    assert [taken.get() for _ in range(4)] == [b"urgent", b"one", b"two", b"three"]
    assert taken.get() is None
    assert len(taken) == 0


def test_locking_queue_consumes_once(kazoo_factory: KazooFactory, root_path: str) -> None:
    producer = kazoo_factory()
    queue = LockingQueue(producer, root_path)
    queue.put_all([b"a", b"b"])
    consumer = LockingQueue(kazoo_factory(), root_path)
    assert consumer.get(timeout=TIMEOUT_S) == b"a"
    other = LockingQueue(kazoo_factory(), root_path)
    assert other.get(timeout=TIMEOUT_S) == b"b"  # "a" is locked by the first consumer
    assert consumer.consume()
    assert other.release()  # put "b" back
    assert consumer.get(timeout=TIMEOUT_S) == b"b"
    assert consumer.consume()
    assert len(queue) == 0


def test_barrier_blocks_until_removed(kazoo_factory: KazooFactory, root_path: str) -> None:
    guard, waiter = kazoo_factory(), kazoo_factory()
    barrier = Barrier(guard, root_path)
    barrier.create()
    assert not Barrier(waiter, root_path).wait(timeout=0.2)
    passed = threading.Event()

    def wait_at_barrier() -> None:
        if Barrier(waiter, root_path).wait(timeout=TIMEOUT_S):
            passed.set()

    thread = threading.Thread(target=wait_at_barrier)
    thread.start()
    barrier.remove()
    thread.join(TIMEOUT_S)
    assert passed.is_set()


def test_double_barrier_enters_and_leaves_together(
    kazoo_factory: KazooFactory, root_path: str
) -> None:
    count = 3
    barriers = [DoubleBarrier(kazoo_factory(), root_path, count) for _ in range(count)]
    entered: list[int] = []
    left: list[int] = []

    def participate(index: int) -> None:
        barriers[index].enter()
        entered.append(index)
        barriers[index].leave()
        left.append(index)

    threads = [threading.Thread(target=participate, args=(i,)) for i in range(count)]
    threads[0].start()
    threads[1].start()
    threading.Event().wait(0.2)
    assert entered == []  # two of three cannot enter
    threads[2].start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert sorted(entered) == sorted(left) == list(range(count))


def test_counter_adds_and_subtracts(kazoo_factory: KazooFactory, root_path: str) -> None:
    a, b = kazoo_factory(), kazoo_factory()
    counter = Counter(a, root_path)
    counter += 5
    other = Counter(b, root_path)
    other -= 2
    counter += 1
    assert counter.value == other.value == 4
    floats = Counter(a, f"{root_path}-float", default=0.0)
    floats += 1.5
    assert floats.value == 1.5


def test_party_members_come_and_go(kazoo_factory: KazooFactory, root_path: str) -> None:
    a, b = kazoo_factory(), kazoo_factory()
    party_a, party_b = Party(a, root_path, "a"), Party(b, root_path, "b")
    party_a.join()
    party_b.join()
    assert sorted(party_a) == ["a", "b"] and len(party_b) == 2
    party_b.leave()
    assert list(party_a) == ["a"]
    shallow = ShallowParty(kazoo_factory(), f"{root_path}-shallow", "s")
    shallow.join()
    assert list(shallow) == ["s"]
    b.stop()
    assert list(party_a) == ["a"]


def test_data_watch_sees_every_version(kazoo_factory: KazooFactory, root_path: str) -> None:
    zk, writer = kazoo_factory(), kazoo_factory()
    seen: list[tuple[bytes | None, int | None]] = []

    def changed(data: bytes | None, stat: Any) -> None:
        seen.append((data, None if stat is None else stat.version))

    DataWatch(zk, root_path, changed)
    writer.create(root_path, b"v0")
    wait_until(lambda: (b"v0", 0) in seen)
    writer.set(root_path, b"v1")
    wait_until(lambda: (b"v1", 1) in seen)
    writer.delete(root_path)
    wait_until(lambda: seen[-1] == (None, None))
    assert seen[0] == (None, None)  # it did not exist at first


def test_children_watch_sees_membership(kazoo_factory: KazooFactory, root_path: str) -> None:
    zk, writer = kazoo_factory(), kazoo_factory()
    zk.create(root_path)
    seen: list[list[str]] = []
    ChildrenWatch(zk, root_path, lambda children: seen.append(sorted(children)))
    writer.create(f"{root_path}/x")
    writer.create(f"{root_path}/y", ephemeral=True)
    wait_until(lambda: seen[-1] == ["x", "y"])
    writer.stop()  # the ephemeral goes with the session
    wait_until(lambda: seen[-1] == ["x"])
    assert seen[0] == []


def test_tree_cache_mirrors_a_subtree(kazoo_factory: KazooFactory, root_path: str) -> None:
    zk, writer = kazoo_factory(), kazoo_factory()
    writer.create(f"{root_path}/a/b", b"leaf", makepath=True)
    events: list[Any] = []
    cache = TreeCache(zk, root_path)
    cache.listen(events.append)
    cache.start()
    try:
        wait_until(lambda: any(e.event_type == TreeEvent.INITIALIZED for e in events))
        node = cache.get_data(f"{root_path}/a/b")
        assert node is not None and node.data == b"leaf"
        writer.create(f"{root_path}/a/c", b"new")
        wait_until(lambda: cache.get_data(f"{root_path}/a/c") is not None)
        writer.set(f"{root_path}/a/b", b"changed")
        wait_until(lambda: cache.get_data(f"{root_path}/a/b").data == b"changed")
        writer.delete(f"{root_path}/a/c")
        wait_until(lambda: cache.get_data(f"{root_path}/a/c") is None)
        assert sorted(cache.get_children(f"{root_path}/a")) == ["b"]
    finally:
        cache.close()


def test_non_blocking_lease(kazoo_factory: KazooFactory, root_path: str) -> None:
    import datetime

    duration = datetime.timedelta(seconds=30)
    first = NonBlockingLease(kazoo_factory(), root_path, duration, identifier="one")
    second = NonBlockingLease(kazoo_factory(), root_path, duration, identifier="two")
    assert bool(first)
    assert not bool(second)
