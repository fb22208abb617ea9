"""Three ``zkref serve --config zoo.cfg`` processes with a standard three-server zoo.cfg and
myid files are one ensemble: one leader, writes anywhere read everywhere after sync, and a
kill -9 of the leader loses no acknowledged write.

The module's ensemble (``conftest.zkref_three``) is shared by its tests; the kill test
restarts the server it killed, so the ensemble is whole again for the next test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kazoo.client import KazooClient

from tests.ensemble.conftest import KAZOO_START_TIMEOUT_S
from tests.ensemble.failover import Writer, kill_during_writes, node_contents
from tests.support.ensemble import Ensemble

FORM_WITHIN_S = 10.0  # "within seconds": measured about 1-2 s on this 2-core machine


def test_three_servers_elect_exactly_one_leader_within_seconds(zkref_three: Ensemble) -> None:
    modes = zkref_three.modes()
    assert sorted(str(mode) for mode in modes.values()) == ["follower", "follower", "leader"]
    assert zkref_three.formed_in_s < FORM_WITHIN_S
    config = (zkref_three[1].home / "zoo.cfg").read_text()
    assert "initLimit=10" in config and config.count("server.") == 3
    print(f"\nformed in {zkref_three.formed_in_s:.2f} s: {modes}")


def _kazoo(hosts: str) -> Any:
    client = KazooClient(hosts=hosts)
    client.start(timeout=KAZOO_START_TIMEOUT_S)
    return client


def test_a_write_at_any_server_is_read_at_every_other_after_sync(zkref_three: Ensemble) -> None:
    clients = {sid: _kazoo(zkref_three[sid].address) for sid in zkref_three.running()}
    try:
        clients[1].ensure_path("/anywhere")
        for writer_sid, writer in clients.items():
            path = f"/anywhere/from-{writer_sid}"
            writer.create(path, f"written at server {writer_sid}".encode())
            for reader_sid, reader in clients.items():
                if reader_sid == writer_sid:
                    continue
                reader.sync(path)
                data, stat = reader.get(path)
                assert data == f"written at server {writer_sid}".encode(), (reader_sid, path)
                assert stat.version == 0
        leader = zkref_three.leader()
        follower = next(sid for sid in clients if sid != leader)
        clients[follower].set("/anywhere/from-1", b"changed at a follower")
        clients[leader].sync("/anywhere/from-1")
        assert clients[leader].get("/anywhere/from-1")[0] == b"changed at a follower"
    finally:
        for client in clients.values():
            client.stop()
            client.close()


def test_the_leader_killed_once_writes_resume_and_none_acknowledged_is_lost(
    zkref_three: Ensemble,
) -> None:
    async def run() -> tuple[float, set[str], dict[int, set[str]], int]:
        writer = Writer(zkref_three.addresses)
        await writer.start()
        try:
            (failover,) = await kill_during_writes(zkref_three, writer, rounds=1)
        finally:
            await writer.stop()
        unknown = sum(w.outcome == "unknown" for w in writer.writes)
        return (
            failover.kill_to_ack_s,
            writer.acknowledged(),
            await node_contents(zkref_three),
            unknown,
        )

    kill_to_ack_s, acknowledged, contents, unknown = asyncio.run(asyncio.wait_for(run(), 120))
    print(
        f"\nkill -9 of the leader -> first new write acknowledged: {kill_to_ack_s:.3f} s; "
        f"{len(acknowledged)} acknowledged, {unknown} of unknown outcome"
    )
    assert len(contents) == 3
    for sid, paths in contents.items():
        assert acknowledged <= paths, f"server {sid} lacks {sorted(acknowledged - paths)[:5]}"
    assert len({frozenset(paths) for paths in contents.values()}) == 1, "the servers differ"
