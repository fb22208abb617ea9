"""The whole conformance suite, in-process, against Apache ZooKeeper 3.8 and zkref, each in two
configurations: set up for tests (TTL nodes on, containers reaped every second) and stock
(every setting at Apache ZooKeeper's default: TTL nodes off, containers reaped every minute).

All four must pass, held to the strictest mode, ``linearizable``: one server answers every
read with every write completed before it. Under the test configuration every scenario runs
(TTL nodes are found on, the reaping scenarios are checked); under the stock one the TTL
scenarios are "not enabled on this server", the container reaping is "not checked", and the
scenario about a server without TTL nodes runs instead. The stock runs use a smaller model
checker (the point is the settings; the test configuration runs the full one). The counts
are shown in pytest's summary (the full reports with ``-s``). Apache ZooKeeper is skipped
with its reason when ``/usr/share/zookeeper`` or java is absent.

The stock servers are also asked the same questions side by side — the session timeouts a
handshake negotiates, what a createTTL answers, which four-letter words answer — and must
answer alike: zkref's defaults are Apache ZooKeeper's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.client import Client
from conformance.suite import SuiteOptions, SuiteReport, four_letter_word, run_suite
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode
from tests.conformance.servers import apache_zookeeper, zkref

EXAMPLES = 100
DURATION_S = 45.0
STOCK_EXAMPLES = 30
STOCK_DURATION_S = 15.0
SEED = 20261125  # the model checker's: every CI run checks the same steps
TEST_CONTAINER_CHECK_INTERVAL_MS = 1000  # what ApacheZooKeeperNode and ZkrefNode are given
# One line per server, shown in the session summary (tests/conformance/conftest.py).
SUMMARY: list[str] = []

TTL_SCENARIOS = {"modes/ttl_nodes_need_a_valid_ttl", "reaping/an_expired_ttl_node_is_reaped"}
NO_TTL_SCENARIO = "modes/ttl_modes_are_unimplemented_without_ttl_nodes"
CONTAINER_REAPING = "reaping/an_emptied_container_is_reaped"


def _run(address: str, expected_profile: str, server: str, *, stock: bool) -> SuiteReport:
    lines: list[str] = []
    # One server: every read must see every write completed before it (mode linearizable),
    # which holds sync to real time too.
    options = SuiteOptions(hosts=(address,), seed=SEED, mode="linearizable")
    if stock:
        options.examples, options.duration_s = STOCK_EXAMPLES, STOCK_DURATION_S
    else:
        options.examples, options.duration_s = EXAMPLES, DURATION_S
        options.container_check_interval_ms = TEST_CONTAINER_CHECK_INTERVAL_MS
    report = run_suite(options, lines.append)
    print()
    print(report.render())
    assert report.profile == expected_profile, report.render()
    assert report.passed, report.render()
    counts = report.counts()
    model = report.model
    assert model is not None
    # Examples and seconds say whether the model checker ran its course or its duration
    # ran out (a slow server); its notes say if Hypothesis stopped it early.
    notes = f"; notes: {' | '.join(model.log)}" if model.log else ""
    configuration = "stock" if stock else "TTL nodes, 1 s container checks"
    SUMMARY.append(
        f"conformance suite against {server} ({configuration}) at {address} "
        f"(profile {report.profile}): {counts['scenarios']} scenarios "
        f"({counts['passed']} passed, {counts['skipped']} skipped, {counts['not_enabled']} "
        f"not enabled, {counts['not_checked']} not checked), {counts['model_steps']} "
        f"model-checker steps in {model.examples} examples, {model.seconds:.1f} s, "
        f"passed={report.passed}{notes}"
    )
    assert counts["passed"] >= 30 and counts["model_steps"] > 0, counts
    status = {f"{s.chapter}/{s.name}": s.status for s in report.scenarios}
    if stock:
        assert {status[name] for name in TTL_SCENARIOS} == {"not_enabled"}, status
        assert status[CONTAINER_REAPING] == "not_checked", status
        assert status[NO_TTL_SCENARIO] == "passed", status
    else:
        assert {status[name] for name in TTL_SCENARIOS | {CONTAINER_REAPING}} == {"passed"}
        assert status[NO_TTL_SCENARIO] == "skipped", status
    return report


def test_the_suite_passes_against_apache_zookeeper(tmp_path: Path) -> None:
    with apache_zookeeper(tmp_path / "zookeeper") as node:
        _run(node.address, "3.8", "Apache ZooKeeper", stock=False)


def test_the_suite_passes_against_zkref(tmp_path: Path) -> None:
    with zkref(tmp_path / "zkref") as node:
        _run(node.address, "3.9", "zkref", stock=False)


@pytest.fixture(scope="module")
def stock_apache_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with apache_zookeeper(tmp_path_factory.mktemp("zookeeper"), stock=True) as node:
        yield node.address


@pytest.fixture(scope="module")
def stock_zkref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with zkref(tmp_path_factory.mktemp("zkref"), stock=True) as node:
        yield node.address


def test_the_suite_passes_against_a_stock_apache_zookeeper(stock_apache_zookeeper: str) -> None:
    _run(stock_apache_zookeeper, "3.8", "Apache ZooKeeper", stock=True)


def test_the_suite_passes_against_a_stock_zkref(stock_zkref: str) -> None:
    _run(stock_zkref, "3.9", "zkref", stock=True)


async def _what_settings_decide(address: str) -> dict[str, object]:
    answers: dict[str, object] = {}
    for asked_ms in (1, 86_400_000):  # raised to minSessionTimeout, lowered to the maximum
        client = Client([address], session_timeout_ms=asked_ms)
        await client.start()
        answers[f"timeout negotiated for {asked_ms} ms"] = client.negotiated_timeout_ms
        if asked_ms == 1:
            ttl = rq.Create("/stock-ttl", b"", OPEN_ACL_UNSAFE, 5, OpCode.createTTL, 60_000)
            answers["createTTL"] = (await client.call(ttl)).err
        await client.close()
    for word in ("srvr", "ruok", "conf"):
        answer = await asyncio.to_thread(four_letter_word, address, word)
        answers[word] = answer.splitlines()[0].split(":")[0]
    return answers


def test_stock_zkref_answers_as_a_stock_apache_zookeeper(
    stock_apache_zookeeper: str, stock_zkref: str
) -> None:
    apache = asyncio.run(_what_settings_decide(stock_apache_zookeeper))
    ours = asyncio.run(_what_settings_decide(stock_zkref))
    assert ours == apache
    assert apache["srvr"] == "Zookeeper version" and "whitelist" in str(apache["ruok"])
