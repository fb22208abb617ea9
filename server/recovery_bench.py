"""Recovery benchmark: how long a restart takes with N znodes (not a test; run on request).

    python -m server.recovery_bench --nodes 100000 [--nodes 1000000] [--dir /tmp/x]

For each N it builds a data dir the way a running server would (N creates through the core,
group-committed to SQLite in batches, then one snapshot), and times three recoveries:
from the snapshot alone, from the log alone (no snapshot), and the database open + load
part on its own. It prints one line per measurement and the sizes on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from reference.core import ZooKeeperCore, settle
from reference.jute import (
    ConnectRequest,
    CreateRequest,
    RequestHeader,
    encode_connect_request,
    encode_request,
)
from reference.txn import Txn
from server.sqlite_storage import DATABASE_NAME, SQLiteStorage
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from spec.state import Config

BATCH_TXNS = 5_000
FANOUT = 1_000  # children per parent, so no parent holds a million children


async def _build(directory: Path, nodes: int, with_snapshot: bool) -> float:
    """Write ``nodes`` creates (and maybe a snapshot); seconds spent building."""
    started = time.perf_counter()
    now = 1_700_000_000_000
    core = ZooKeeperCore(Config(), now)
    core.connection_made(1, "127.0.0.1")
    handshake = ConnectRequest(0, 0, 30_000, 0, bytes(16), False)
    core.receive(1, encode_connect_request(handshake)[4:], now)
    storage = await SQLiteStorage.open(directory)
    settle(core)
    pending: list[Txn] = []
    xid = 0
    for parent in range((nodes + FANOUT - 1) // FANOUT):
        xid += 1
        record = CreateRequest(f"/p{parent}", b"", OPEN_ACL_UNSAFE, 0)
        core.receive(1, encode_request(RequestHeader(xid, OpCode.create), record)[4:], now)
        for child in range(min(FANOUT, nodes - parent * FANOUT)):
            xid += 1
            record = CreateRequest(f"/p{parent}/n{child}", b"x" * 100, OPEN_ACL_UNSAFE, 0)
            core.receive(1, encode_request(RequestHeader(xid, OpCode.create), record)[4:], now)
        pending.extend(settle(core)[1])
        if len(pending) >= BATCH_TXNS:
            await storage.append(pending)
            pending = []
    if pending:
        await storage.append(pending)
    if with_snapshot:
        await storage.save_snapshot(core.last_zxid, core.snapshot())
    await storage.close()
    return time.perf_counter() - started


async def _recover(directory: Path) -> tuple[float, float, int]:
    """Seconds to open+load, seconds to restore, znodes recovered."""
    started = time.perf_counter()
    storage = await SQLiteStorage.open(directory)
    recovered = await storage.load()
    loaded = time.perf_counter()
    core = ZooKeeperCore.restore(Config(), 0, recovered.snapshot, recovered.txns)
    restored = time.perf_counter()
    await storage.close()
    return loaded - started, restored - loaded, len(core.tree.nodes)


async def measure(nodes: int, root: Path) -> None:
    for with_snapshot in (True, False):
        directory = root / f"n{nodes}-{'snap' if with_snapshot else 'log'}"
        shutil.rmtree(directory, ignore_errors=True)
        built = await _build(directory, nodes, with_snapshot)
        size_mb = (directory / DATABASE_NAME).stat().st_size / 1e6
        load_s, restore_s, count = await _recover(directory)
        kind = "snapshot" if with_snapshot else "log only"
        print(
            f"{nodes:>9} znodes, {kind:8}: restart {load_s + restore_s:6.2f} s "
            f"(read {load_s:5.2f} s, rebuild {restore_s:5.2f} s), {count} znodes recovered, "
            f"database {size_mb:7.1f} MB, built in {built:6.1f} s",
            flush=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, action="append", help="znodes (repeatable)")
    parser.add_argument("--dir", type=Path, help="where to build the data dirs (a temp dir)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="zkref-recovery-"))
    for nodes in args.nodes or [100_000]:
        asyncio.run(measure(nodes, root))


if __name__ == "__main__":
    main()
