"""kazoo's recipes, unchanged, through a three-server zkref ensemble's connect string.

The tests are tests/interop/test_kazoo_recipes.py's own, collected here a second time: their
``kazoo_factory`` is this directory's (``conftest.py``), whose clients get the whole
connect string (kazoo picks a server at random), so the recipes' clients sit on different
servers and see each other's writes through the leader.
"""

from __future__ import annotations

from tests.interop.test_kazoo_recipes import (
    test_a_lock_is_released_when_its_holder_goes,
    test_barrier_blocks_until_removed,
    test_children_watch_sees_membership,
    test_counter_adds_and_subtracts,
    test_data_watch_sees_every_version,
    test_double_barrier_enters_and_leaves_together,
    test_election_elects_one_leader_at_a_time,
    test_lock_is_exclusive_and_handed_over,
    test_locking_queue_consumes_once,
    test_non_blocking_lease,
    test_party_members_come_and_go,
    test_queue_is_fifo_with_priorities,
    test_read_write_locks,
    test_semaphore_grants_max_leases,
    test_tree_cache_mirrors_a_subtree,
)

__all__ = [
    "test_a_lock_is_released_when_its_holder_goes",
    "test_barrier_blocks_until_removed",
    "test_children_watch_sees_membership",
    "test_counter_adds_and_subtracts",
    "test_data_watch_sees_every_version",
    "test_double_barrier_enters_and_leaves_together",
    "test_election_elects_one_leader_at_a_time",
    "test_lock_is_exclusive_and_handed_over",
    "test_locking_queue_consumes_once",
    "test_non_blocking_lease",
    "test_party_members_come_and_go",
    "test_queue_is_fifo_with_priorities",
    "test_read_write_locks",
    "test_semaphore_grants_max_leases",
    "test_tree_cache_mirrors_a_subtree",
]
