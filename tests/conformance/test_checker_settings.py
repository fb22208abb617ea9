"""The checker judges a history under the server settings its header records.

Each test records a history against the in-process reference core set up one way, shows it
is allowed under the settings it was recorded with, and shows that the same history, said to
come from a server set up the other way, is a violation: the setting is a parameter of the
spec, not an assumption of the checker.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from conformance.checker import check
from conformance.history import History, HistoryRecorder
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.opcodes import OpCode
from spec.state import Config
from tests.conformance.inprocess import InProcessEnsemble
from tests.conformance.scenarios import clients
from tests.conformance.workload import header_for

TIMEOUT_S = 30.0


def _with_settings(history: History, **changes: Any) -> History:
    header = history.header
    return replace(history, header=replace(header, settings=replace(header.settings, **changes)))


def test_a_ttl_create_refused_as_unimplemented_is_allowed_only_without_ttl_nodes() -> None:
    async def main() -> History:
        config = Config(tick_time_ms=100, extended_types_enabled=False)
        async with InProcessEnsemble(config) as ensemble:
            recorder = HistoryRecorder(header=header_for(ensemble))
            (client,) = await clients(ensemble.hosts, recorder, "a")
            ttl = rq.Create("/t", b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 60_000)
            assert (await client.call(ttl)).err == Code.UNIMPLEMENTED
            await client.call(rq.Create("/p", b"", OPEN_ACL_UNSAFE, 0))
            await client.close()
            return recorder.history()

    history = asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
    assert not history.header.settings.extended_types_enabled
    verdict = check(history)
    assert verdict.allowed, verdict.render()
    said_on = check(_with_settings(history, extended_types_enabled=True))
    assert not said_on.allowed
    assert "UNIMPLEMENTED observed" in said_on.render()


def test_a_never_used_container_may_vanish_only_if_max_never_used_is_set() -> None:
    async def main() -> History:
        config = Config(
            tick_time_ms=100,
            container_check_interval_ms=100,
            container_max_never_used_interval_ms=50,
        )
        async with InProcessEnsemble(config) as ensemble:
            recorder = HistoryRecorder(header=header_for(ensemble))
            (client,) = await clients(ensemble.hosts, recorder, "a")
            container = rq.Create("/k", b"", OPEN_ACL_UNSAFE, 4, OpCode.createContainer)
            assert (await client.call(container)).err == Code.OK
            for _ in range(100):  # bounded: reaped within a few check intervals
                if (await client.call(rq.Exists("/k"))).err == Code.NONODE:
                    break
                await asyncio.sleep(0.05)
            await client.close()
            return recorder.history()

    history = asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
    last = [o for o in history.ops if isinstance(o.op, rq.Exists)][-1]
    assert last.reply is not None and last.reply.err == Code.NONODE, "never reaped"
    assert history.header.settings.container_max_never_used_interval_ms == 50
    verdict = check(history)
    assert verdict.allowed, verdict.render()
    said_kept = check(_with_settings(history, container_max_never_used_interval_ms=0))
    assert not said_kept.allowed
