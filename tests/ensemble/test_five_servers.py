"""Five ``zkref serve --config zoo.cfg`` processes are one ensemble that tolerates two
failures: one leader, a write at any server read at every other after sync, and with the
leader and a follower killed at once the other three go on acknowledging writes, none of
which is lost, and the two restarted catch up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from tests.ensemble.conftest import KAZOO_START_TIMEOUT_S
from tests.ensemble.failover import Writer, kill_during_writes, node_contents
from tests.support.ensemble import Ensemble, zkref_ensemble

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zkref_five(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ensemble]:
    with zkref_ensemble(tmp_path_factory.mktemp("zkref-five"), 5) as ensemble:
        yield ensemble


def test_five_servers_elect_exactly_one_leader(zkref_five: Ensemble) -> None:
    modes = zkref_five.modes()
    assert sorted(str(mode) for mode in modes.values()) == ["follower"] * 4 + ["leader"]
    print(f"\nformed in {zkref_five.formed_in_s:.2f} s: {modes}")


def test_a_write_at_any_of_five_is_read_at_every_other_after_sync(zkref_five: Ensemble) -> None:
    clients: dict[int, Any] = {}
    try:
        for sid in zkref_five.running():
            clients[sid] = KazooClient(hosts=zkref_five[sid].address)
            clients[sid].start(timeout=KAZOO_START_TIMEOUT_S)
        clients[1].ensure_path("/five")
        for writer_sid, writer in clients.items():
            writer.create(f"/five/from-{writer_sid}", str(writer_sid).encode())
            for reader_sid, reader in clients.items():
                if reader_sid != writer_sid:
                    reader.sync("/five")
                    assert reader.get(f"/five/from-{writer_sid}")[0] == str(writer_sid).encode()
    finally:
        for client in clients.values():
            client.stop()
            client.close()


def test_the_leader_and_a_follower_killed_at_once_three_go_on_and_lose_nothing(
    zkref_five: Ensemble,
) -> None:
    def leader_and_a_follower(ensemble: Ensemble) -> list[int]:
        leader = ensemble.leader()
        return [leader, next(sid for sid in ensemble.running() if sid != leader)]

    async def run() -> tuple[float, list[int], set[str], dict[int, set[str]], dict[int, set[str]]]:
        writer = Writer(zkref_five.addresses)
        await writer.start()
        try:
            (failover,) = await kill_during_writes(
                zkref_five, writer, rounds=1, victims=leader_and_a_follower, restart=False
            )
        finally:
            await writer.stop()
        three = await node_contents(zkref_five)
        for sid in failover.victims:
            await asyncio.to_thread(zkref_five.restart, sid)
        await asyncio.to_thread(zkref_five.wait_formed)
        five = await node_contents(zkref_five)
        return failover.kill_to_ack_s, failover.victims, writer.acknowledged(), three, five

    kill_to_ack_s, victims, acknowledged, three, five = asyncio.run(asyncio.wait_for(run(), 180))
    print(
        f"\nservers {victims} (the leader first) killed at once: first new write acknowledged "
        f"{kill_to_ack_s:.3f} s later; {len(acknowledged)} acknowledged"
    )
    assert len(three) == 3 and len(five) == 5
    for contents in (three, five):
        for sid, paths in contents.items():
            assert acknowledged <= paths, f"server {sid} lacks {sorted(acknowledged - paths)[:5]}"
    assert len({frozenset(paths) for paths in five.values()}) == 1, "the five servers differ"
