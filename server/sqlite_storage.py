"""Durable storage on SQLite: the transaction log and snapshots.

One database per data dir (``zkref.db``), in WAL mode with ``synchronous=FULL``: a commit
returns only once its WAL frames are fsynced, and a commit torn by a crash is rolled back by
SQLite on the next open, never half-applied. ``append`` writes a whole batch of txns in one
transaction — one fsync for the batch (group commit: the server's ``GroupCommitter`` hands
over everything that arrived while the previous commit ran).

Tables: ``txnlog(zxid, blob)``, ``snapshots(zxid, blob)``, ``snapshot_parts(zxid, part,
blob)`` and, for a server of an ensemble, ``epochs(name, epoch)``: its ``acceptedEpoch`` and
``currentEpoch`` (Apache keeps them in two files of the dataDir, each replaced atomically; here
each is a row, replaced in one transaction). Blobs are sealed by ``reference.persistence``
(format byte + CRC-32), so a corrupted row is detected on load.

A snapshot is written as parts of ``SNAPSHOT_PART_BYTES``, one transaction each, so group
commits run between them: one INSERT of a whole 45 MB snapshot (200k znodes) holds the
database about 200 ms on this machine, a 1 MiB part about 10 ms. Its ``snapshots`` row,
written last, is what makes it exist; recovery reads only the parts of the snapshot it uses.
A ``snapshots`` row with no parts holds the whole snapshot in its ``blob`` (the first layout).

Retention (``autopurge.snapRetainCount``): after a snapshot is saved, only the newest
``snap_retain_count`` snapshots are kept, and log entries older than the oldest kept
snapshot are deleted, so recovery can always fall back to an older snapshot plus its log.

Recovery (``load``): the newest snapshot that checks out, plus every txn after it. A database
that SQLite cannot read, a corrupt log entry, or a gap in the log is an error
(``StorageCorrupt``) with a message saying what is wrong — never a silent empty tree.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from reference.persistence import (
    CorruptRecord,
    Snapshot,
    decode_snapshot,
    decode_txn,
    encode_txn,
)
from reference.ready import (
    PersistAction,
    TruncateLog,
    WriteAcceptedEpoch,
    WriteCurrentEpoch,
)
from reference.txn import Txn

log = logging.getLogger("zkref.storage")

DATABASE_NAME = "zkref.db"
SNAP_RETAIN_COUNT_MIN = 3  # as ZooKeeper's autopurge.snapRetainCount

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txnlog (zxid INTEGER PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (zxid INTEGER PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot_parts (
    zxid INTEGER NOT NULL, part INTEGER NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (zxid, part)
);
CREATE TABLE IF NOT EXISTS epochs (name TEXT PRIMARY KEY, epoch INTEGER NOT NULL);
"""


# Rows per INSERT statement: 2 parameters each, well under SQLite's 32,766 (3.32+). Each
# distinct row count is its own prepared statement, so the connection's statement cache
# holds one per count.
ROWS_PER_INSERT = 256
_STATEMENT_CACHE = ROWS_PER_INSERT + 32


# A snapshot is written in parts of this size, one transaction each (see ``save_snapshot``).
SNAPSHOT_PART_BYTES = 1 << 20
# Snapshot parts freed per transaction when purging (see ``save_snapshot``).
DROP_PARTS = 4
_DROP_PARTS = (
    "DELETE FROM snapshot_parts WHERE rowid IN (SELECT rowid FROM snapshot_parts "
    "WHERE zxid NOT IN (SELECT zxid FROM snapshots) LIMIT ?)"
)
# Log rows deleted per transaction when purging (see ``save_snapshot``).
PURGE_ROWS = 5_000
_PURGE_CHUNK = (
    "DELETE FROM txnlog WHERE zxid IN "
    "(SELECT zxid FROM txnlog WHERE zxid <= ? ORDER BY zxid LIMIT ?)"
)


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_rows(count: int) -> str:
    """The INSERT of ``count`` log rows."""
    return "INSERT INTO txnlog (zxid, blob) VALUES " + ",".join(["(?,?)"] * count)


class StorageCorrupt(RuntimeError):
    """The data dir cannot be recovered as it is; the message says what and where."""


@dataclass(slots=True)
class Recovered:
    """What recovery found: the snapshot blob to start from (if any) and the later txns."""

    snapshot: Snapshot | None  # decoded once, while checking it
    snapshot_zxid: int
    txns: list[bytes]
    last_zxid: int
    snapshot_blob: bytes | None = None
    accepted_epoch: int | None = None
    current_epoch: int | None = None


class SQLiteStorage:
    """The ``Storage`` of a durable server (see the module docstring)."""

    def __init__(self, db: aiosqlite.Connection, path: Path, snap_retain_count: int) -> None:
        self._db = db
        self.path = path
        self.snap_retain_count = max(snap_retain_count, SNAP_RETAIN_COUNT_MIN)
        self.last_zxid = 0
        self.generation = 0
        self.appends = 0
        self.txn_count = 0
        # Appends and snapshot saves are SQLite transactions of several statements each:
        # they must not interleave on the one connection.
        self._lock: asyncio.Lock | None = None

    def _serial(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    @classmethod
    async def open(cls, data_dir: str | Path, snap_retain_count: int = 3) -> SQLiteStorage:
        """Open (or create) the database in ``data_dir``; ``StorageCorrupt`` if unreadable."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / DATABASE_NAME
        db = await aiosqlite.connect(path, isolation_level=None, cached_statements=_STATEMENT_CACHE)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            async with db.execute("PRAGMA quick_check") as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] != "ok":
                raise StorageCorrupt(f"{path}: SQLite quick_check failed: {row}")
            await db.executescript(_SCHEMA)
        except BaseException as error:
            # The connection's thread would keep the process alive: close it first.
            await db.close()
            if isinstance(error, sqlite3.DatabaseError):
                raise StorageCorrupt(f"{path}: not a readable zkref database ({error})") from None
            raise
        return cls(db, path, snap_retain_count)

    async def load(self, keep_all_watch_modes: bool = True) -> Recovered:
        """The newest valid snapshot and the contiguous log after it."""
        try:
            async with self._db.execute("SELECT zxid FROM snapshots ORDER BY zxid DESC") as cursor:
                snapshots = [int(row[0]) for row in await cursor.fetchall()]
            chosen: tuple[int, Snapshot] | None = None
            for zxid in snapshots:
                try:
                    image = decode_snapshot(await self._snapshot_blob(zxid), keep_all_watch_modes)
                except CorruptRecord as error:
                    log.warning("snapshot 0x%x is corrupt (%s); trying an older one", zxid, error)
                    continue
                chosen = (zxid, image)
                break
            if snapshots and chosen is None:
                raise StorageCorrupt(f"{self.path}: every snapshot is corrupt")
            start = chosen[0] if chosen else 0
            async with self._db.execute(
                "SELECT zxid, blob FROM txnlog WHERE zxid > ? ORDER BY zxid", (start,)
            ) as cursor:
                rows = list(await cursor.fetchall())
        except sqlite3.DatabaseError as error:
            raise StorageCorrupt(f"{self.path}: cannot read ({error})") from None
        txns: list[bytes] = []
        previous = start
        for zxid, blob in rows:
            try:
                txn = decode_txn(bytes(blob))
            except CorruptRecord as error:
                raise StorageCorrupt(f"{self.path}: log entry 0x{zxid:x}: {error}") from None
            if txn.header.zxid != zxid:
                raise StorageCorrupt(
                    f"{self.path}: log entry 0x{zxid:x} holds 0x{txn.header.zxid:x}"
                )
            if previous and (zxid >> 32) == (previous >> 32) and zxid != previous + 1:
                raise StorageCorrupt(f"{self.path}: log gap between 0x{previous:x} and 0x{zxid:x}")
            previous = zxid
            txns.append(bytes(blob))
        self.last_zxid = previous
        epochs = await self._epochs()
        return Recovered(
            chosen[1] if chosen else None,
            start,
            txns,
            previous,
            await self._snapshot_blob(start) if chosen else None,
            epochs.get("acceptedEpoch"),
            epochs.get("currentEpoch"),
        )

    async def _epochs(self) -> dict[str, int]:
        async with self._db.execute("SELECT name, epoch FROM epochs") as cursor:
            return {str(name): int(epoch) for name, epoch in await cursor.fetchall()}

    # --- an ensemble's durable changes ----------------------------------------------------

    async def apply(self, action: PersistAction) -> None:
        """Make one of an ensemble's other changes durable (``reference.ready``)."""
        if isinstance(action, WriteAcceptedEpoch):
            await self._write_epoch("acceptedEpoch", action.epoch)
        elif isinstance(action, WriteCurrentEpoch):
            await self._write_epoch("currentEpoch", action.epoch)
        elif isinstance(action, TruncateLog):
            await self.truncate(action.zxid)
        else:
            await self.install_snapshot(action.zxid, action.blob)

    async def _write_epoch(self, name: str, epoch: int) -> None:
        async with self._serial():
            await self._db.execute(
                "INSERT OR REPLACE INTO epochs (name, epoch) VALUES (?, ?)", (name, epoch)
            )

    async def truncate(self, zxid: int) -> None:
        """The leader's TRUNC: forget every txn after ``zxid``, and every snapshot after it
        (it holds them), in one transaction (``FileTxnSnapLog.truncateLog``)."""
        db = self._db
        async with self._serial():
            await db.execute("BEGIN")
            try:
                await db.execute("DELETE FROM txnlog WHERE zxid > ?", (zxid,))
                await db.execute("DELETE FROM snapshots WHERE zxid > ?", (zxid,))
                await db.execute("COMMIT")
                self.generation += 1
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        self.last_zxid = zxid

    async def install_snapshot(self, zxid: int, blob: bytes) -> None:
        """The leader's SNAP: this snapshot is now all there is. Its parts are written
        first; then one transaction adds its row and removes every other snapshot and the
        whole log, so a crash leaves either the old state or the new one."""
        view = memoryview(blob)
        for part, start in enumerate(range(0, len(blob), SNAPSHOT_PART_BYTES)):
            async with self._serial():
                await self._db.execute(
                    "INSERT OR REPLACE INTO snapshot_parts (zxid, part, blob) VALUES (?, ?, ?)",
                    (zxid, part, view[start : start + SNAPSHOT_PART_BYTES]),
                )
        db = self._db
        async with self._serial():
            await db.execute("BEGIN")
            try:
                await db.execute("DELETE FROM snapshots")
                await db.execute("DELETE FROM txnlog")
                await db.execute("INSERT INTO snapshots (zxid, blob) VALUES (?, ?)", (zxid, b""))
                await db.execute("COMMIT")
                self.generation += 1
            except BaseException:
                await db.execute("ROLLBACK")
                raise
        while True:
            async with self._serial():
                cursor = await self._db.execute(_DROP_PARTS, (DROP_PARTS,))
                dropped = cursor.rowcount
                await cursor.close()
            if dropped < DROP_PARTS:
                break
        self.last_zxid = zxid

    async def append(self, txns: Sequence[Txn]) -> None:
        """Make ``txns`` durable: one SQLite transaction, one fsync.

        A batch of up to ``ROWS_PER_INSERT`` txns is one multi-row INSERT run in autocommit
        mode: a single statement is its own transaction, so the batch costs one round trip
        to the database thread instead of three (BEGIN, INSERT, COMMIT); on this machine
        that is about a sixth of a small commit's latency. Larger batches are chunked
        inside an explicit transaction.
        """
        assert txns, "append of an empty batch"
        assert txns[0].header.zxid > self.last_zxid, "txns must arrive in zxid order"
        params: list[int | bytes] = []
        for txn in txns:
            params.append(txn.header.zxid)
            params.append(encode_txn(txn))
        count = len(txns)
        db = self._db
        async with self._serial():
            if count <= ROWS_PER_INSERT:
                await db.execute(_insert_rows(count), params)
            else:
                await db.execute("BEGIN")
                try:
                    for start in range(0, count, ROWS_PER_INSERT):
                        chunk = params[2 * start : 2 * (start + ROWS_PER_INSERT)]
                        await db.execute(_insert_rows(len(chunk) // 2), chunk)
                    await db.execute("COMMIT")
                except BaseException:
                    await db.execute("ROLLBACK")
                    raise
        self.appends += 1
        self.txn_count += count
        self.last_zxid = txns[-1].header.zxid

    async def _snapshot_blob(self, zxid: int) -> bytes:
        """The snapshot taken at ``zxid``: its parts joined, or its row's blob if it has none."""
        async with self._db.execute(
            "SELECT blob FROM snapshot_parts WHERE zxid = ? ORDER BY part", (zxid,)
        ) as cursor:
            parts = [bytes(row[0]) for row in await cursor.fetchall()]
        if parts:
            return b"".join(parts)
        async with self._db.execute("SELECT blob FROM snapshots WHERE zxid = ?", (zxid,)) as cursor:
            row = await cursor.fetchone()
        return b"" if row is None else bytes(row[0])

    async def save_snapshot(
        self, zxid: int, blob: bytes | bytearray, generation: int | None = None
    ) -> None:
        """Keep a snapshot taken at ``zxid`` (already durable in the log), then purge.

        The parts go first, one transaction each, with group commits between them; then one
        transaction adds the ``snapshots`` row and drops the rows of the snapshots beyond
        ``snap_retain_count``. The parts no row owns (theirs, and those of a save cut short
        by a crash) are then freed ``DROP_PARTS`` per transaction, and the log before the
        oldest kept snapshot is deleted ``PURGE_ROWS`` rows per transaction, for the same
        reason: freeing a whole snapshot, or deleting a snapCount of log rows, in one
        transaction held the database for over 100 ms. A crash at any point leaves every
        kept snapshot whole and only rows that no recovery reads.
        """
        view = memoryview(blob)
        for part, start in enumerate(range(0, len(blob), SNAPSHOT_PART_BYTES)):
            async with self._serial():
                await self._db.execute(
                    "INSERT OR REPLACE INTO snapshot_parts (zxid, part, blob) VALUES (?, ?, ?)",
                    (zxid, part, view[start : start + SNAPSHOT_PART_BYTES]),
                )
        async with self._serial():
            if generation is not None and generation != self.generation:
                # A TRUNC or a SNAP rewrote the log since this snapshot was started: it may
                # hold txns the log no longer has. Its parts are freed below.
                log.info("dropping the snapshot at 0x%x: the log was rewritten since", zxid)
                oldest_kept = None
            else:
                oldest_kept = await self._save_snapshot(zxid)
        # Parts no row owns any more (and those of a save cut short), a few per transaction:
        # freeing a whole 45 MB snapshot in one held the database for over 100 ms.
        while True:
            async with self._serial():
                cursor = await self._db.execute(_DROP_PARTS, (DROP_PARTS,))
                dropped = cursor.rowcount
                await cursor.close()
            if dropped < DROP_PARTS:
                break
        if oldest_kept is None:
            return
        while True:
            async with self._serial():
                cursor = await self._db.execute(_PURGE_CHUNK, (oldest_kept, PURGE_ROWS))
                deleted = cursor.rowcount
                await cursor.close()
            if deleted < PURGE_ROWS:
                return

    async def _save_snapshot(self, zxid: int) -> int | None:
        """Add the snapshot's row and drop what is beyond retention; the oldest kept zxid
        once there are ``snap_retain_count`` snapshots."""
        db = self._db
        await db.execute("BEGIN")
        try:
            await db.execute(
                "INSERT OR REPLACE INTO snapshots (zxid, blob) VALUES (?, ?)", (zxid, b"")
            )
            async with db.execute(
                "SELECT zxid FROM snapshots ORDER BY zxid DESC LIMIT 1 OFFSET ?",
                (self.snap_retain_count - 1,),
            ) as cursor:
                row = await cursor.fetchone()
            oldest_kept = None
            if row is not None:
                oldest_kept = int(row[0])
                await db.execute("DELETE FROM snapshots WHERE zxid < ?", (oldest_kept,))
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        return oldest_kept

    async def counts(self) -> tuple[int, int]:
        """How many log entries and snapshots are kept (for tests)."""
        async with self._db.execute("SELECT COUNT(*) FROM txnlog") as cursor:
            txn_rows = await cursor.fetchone()
        async with self._db.execute("SELECT COUNT(*) FROM snapshots") as cursor:
            snap_rows = await cursor.fetchone()
        return int(txn_rows[0] if txn_rows else 0), int(snap_rows[0] if snap_rows else 0)

    async def close(self) -> None:
        await self._db.close()
