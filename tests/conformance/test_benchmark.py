"""How long the checker takes on a 10,000-operation history from concurrent clients.

Printed, never asserted (timings are reported, not tested): run with ``-s`` to see it. The
history is real: eight sessions on two listeners of the reference core, pipelining bursts of
ten requests of every kind, with watches firing throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from conformance.checker import check
from conformance.client import Client, ClientError
from conformance.history import History, HistoryRecorder
from spec.profiles import V3_9
from tests.conformance.inprocess import InProcessEnsemble
from tests.conformance.scenarios import config_for
from tests.conformance.workload import header_for, random_op

OPERATIONS = 10_000
CLIENTS = 8
BURST = 10


async def _worker(client: Client, rng: random.Random, requests: int) -> None:
    for _ in range(requests // BURST):
        futures = [await client.submit(random_op(rng)) for _ in range(BURST)]
        for future in futures:
            with contextlib.suppress(ClientError):
                await future


def ten_thousand_operations() -> History:
    async def main() -> History:
        async with InProcessEnsemble(config_for(V3_9), listeners=2) as ensemble:
            recorder = HistoryRecorder(header=header_for(ensemble))
            sessions = [
                Client(ensemble.hosts, name=f"c{i}", recorder=recorder, start_host=i)
                for i in range(CLIENTS)
            ]
            for client in sessions:
                await client.start()
            await asyncio.gather(
                *(
                    _worker(client, random.Random(i), OPERATIONS // CLIENTS)
                    for i, client in enumerate(sessions)
                )
            )
            for client in sessions:
                await client.close()
            return recorder.history()

    return asyncio.run(asyncio.wait_for(main(), 120))


def test_checking_ten_thousand_operations_takes_seconds() -> None:
    started = time.perf_counter()
    history = ten_thousand_operations()
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    verdict = check(history)
    checked = time.perf_counter() - started
    print(
        f"\nconformance benchmark: {len(history.ops)} operations, "
        f"{len(history.notifications)} notifications from {CLIENTS} sessions; "
        f"recorded in {recorded:.2f} s, checked in {checked:.2f} s "
        f"({len(history.ops) / checked:,.0f} operations/s): {verdict.status}"
    )
    assert verdict.allowed, verdict.render()
    assert len(history.ops) >= OPERATIONS
