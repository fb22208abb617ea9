"""The SQLite storage keeps what it acknowledged, recovers it, and refuses damaged files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from reference.core import ZooKeeperCore, settle
from reference.jute import (
    ConnectRequest,
    CreateRequest,
    RequestHeader,
    encode_connect_request,
    encode_request,
)
from reference.persistence import decode_txn
from reference.txn import Txn
from server import sqlite_storage
from server.sqlite_storage import DATABASE_NAME, ROWS_PER_INSERT, SQLiteStorage, StorageCorrupt
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.state import Config

NOW = 1_700_000_000_000


def _core_with_writes(count: int) -> tuple[ZooKeeperCore, list[Txn]]:
    core = ZooKeeperCore(Config(), NOW)
    core.connection_made(1, "127.0.0.1")
    core.receive(
        1, encode_connect_request(ConnectRequest(0, 0, 10_000, 0, bytes(16), False))[4:], NOW
    )
    for i in range(count):
        request = CreateRequest(f"/n{i}", b"v", OPEN_ACL_UNSAFE, 0)
        core.receive(1, encode_request(RequestHeader(i + 1, OpCode.create), request)[4:], NOW)
    return core, settle(core)[1]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_appended_txns_are_recovered_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        core, txns = _core_with_writes(20)
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns[:5])
        await storage.append(txns[5:])
        await storage.close()
        reopened = await SQLiteStorage.open(tmp_path)
        recovered = await reopened.load()
        await reopened.close()
        assert [decode_txn(b) for b in recovered.txns] == txns
        assert recovered.last_zxid == core.last_zxid
        restored = ZooKeeperCore.restore(Config(), NOW, recovered.snapshot, recovered.txns)
        assert set(restored.tree.nodes) == set(core.tree.nodes)

    run(scenario())


def test_a_batch_larger_than_one_insert_is_one_transaction(tmp_path: Path) -> None:
    async def scenario() -> None:
        core, txns = _core_with_writes(3 * ROWS_PER_INSERT)
        kept = 2 * ROWS_PER_INSERT + 7
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns[:1])
        await storage.append(txns[1:kept])
        # A batch failing in its second INSERT (a zxid twice) adds nothing, not even the
        # rows of its first INSERT.
        rest = txns[kept:]
        with pytest.raises(sqlite3.IntegrityError):
            await storage.append([*rest[: ROWS_PER_INSERT + 3], rest[0]])
        await storage.close()
        reopened = await SQLiteStorage.open(tmp_path)
        recovered = await reopened.load()
        await reopened.close()
        assert [decode_txn(b) for b in recovered.txns] == txns[:kept]
        assert recovered.last_zxid == txns[kept - 1].header.zxid < core.last_zxid
        assert storage.appends == 2

    run(scenario())


@pytest.mark.parametrize("purge_rows", [sqlite_storage.PURGE_ROWS, 3])
def test_snapshot_then_purge_keeps_retain_count_snapshots_and_their_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, purge_rows: int
) -> None:
    # 3 rows per purge transaction: the purge takes several chunks and ends the same.
    monkeypatch.setattr(sqlite_storage, "PURGE_ROWS", purge_rows)

    async def scenario() -> None:
        core, txns = _core_with_writes(40)
        storage = await SQLiteStorage.open(tmp_path, snap_retain_count=3)
        for chunk in range(4):
            batch = txns[chunk * 10 : (chunk + 1) * 10]
            await storage.append(batch)
            await storage.save_snapshot(batch[-1].header.zxid, core.snapshot())
        log_rows, snapshots = await storage.counts()
        # Snapshots at zxids 10, 20, 30, 40: the newest three stay, and the log after the
        # oldest of them (zxids 21..40) stays so recovery can fall back to it.
        assert snapshots == 3
        assert log_rows == 20
        recovered = await storage.load()
        await storage.close()
        assert recovered.snapshot is not None
        assert recovered.snapshot_zxid == txns[39].header.zxid
        assert recovered.txns == []

    run(scenario())


def test_garbage_database_file_is_a_clear_error_not_an_empty_tree(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageCorrupt, match=r"not a readable zkref database|quick_check"):
        run(SQLiteStorage.open(tmp_path))


def test_truncated_database_file_is_a_clear_error(tmp_path: Path) -> None:
    async def write() -> None:
        _, txns = _core_with_writes(200)
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns)
        await storage.close()

    run(write())
    path = tmp_path / DATABASE_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])

    async def reopen() -> None:
        storage = await SQLiteStorage.open(tmp_path)
        try:
            await storage.load()
        finally:
            await storage.close()

    with pytest.raises(StorageCorrupt):
        run(reopen())


def test_corrupted_log_entry_is_detected_by_its_checksum(tmp_path: Path) -> None:
    async def write() -> None:
        _, txns = _core_with_writes(5)
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns)
        await storage.close()

    run(write())
    db = sqlite3.connect(tmp_path / DATABASE_NAME)
    (zxid, blob) = db.execute(
        "SELECT zxid, blob FROM txnlog ORDER BY zxid LIMIT 1 OFFSET 2"
    ).fetchone()
    damaged = bytearray(blob)
    damaged[len(damaged) // 2] ^= 0xFF
    db.execute("UPDATE txnlog SET blob = ? WHERE zxid = ?", (bytes(damaged), zxid))
    db.commit()
    db.close()

    async def reopen() -> None:
        storage = await SQLiteStorage.open(tmp_path)
        try:
            await storage.load()
        finally:
            await storage.close()

    with pytest.raises(StorageCorrupt, match="checksum"):
        run(reopen())


def test_a_snapshot_is_written_in_parts_and_a_save_cut_short_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_storage, "SNAPSHOT_PART_BYTES", 1000)

    async def scenario() -> None:
        core, txns = _core_with_writes(60)
        image = core.snapshot()
        assert len(image) > 3 * 1000
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns)
        zxid = txns[-1].header.zxid
        await storage.save_snapshot(zxid, image)
        db = storage._db
        async with db.execute("SELECT COUNT(*) FROM snapshot_parts WHERE zxid = ?", (zxid,)) as c:
            row = await c.fetchone()
        assert row is not None and row[0] == -(-len(image) // 1000)
        # A later save cut short by a crash: parts without their snapshots row.
        await db.execute(
            "INSERT INTO snapshot_parts (zxid, part, blob) VALUES (?, 0, ?)", (zxid + 5, b"junk")
        )
        recovered = await storage.load()
        assert recovered.snapshot_zxid == zxid and recovered.snapshot is not None
        assert set(recovered.snapshot.tree.nodes) == set(core.tree.nodes)
        # The next save drops the orphan.
        await storage.save_snapshot(zxid + 1, image)
        async with db.execute("SELECT DISTINCT zxid FROM snapshot_parts ORDER BY zxid") as c:
            owned = [r[0] for r in await c.fetchall()]
        assert owned == [zxid, zxid + 1]
        await storage.close()

    run(scenario())


def test_a_snapshot_stored_whole_in_its_row_still_loads(tmp_path: Path) -> None:
    # The first layout: the whole snapshot in snapshots.blob, no parts.
    async def scenario() -> None:
        core, txns = _core_with_writes(10)
        storage = await SQLiteStorage.open(tmp_path)
        await storage.append(txns)
        zxid = txns[-1].header.zxid
        await storage._db.execute(
            "INSERT INTO snapshots (zxid, blob) VALUES (?, ?)", (zxid, core.snapshot())
        )
        recovered = await storage.load()
        await storage.close()
        assert recovered.snapshot_zxid == zxid and recovered.txns == []
        assert recovered.snapshot is not None
        assert set(recovered.snapshot.tree.nodes) == set(core.tree.nodes)

    run(scenario())
