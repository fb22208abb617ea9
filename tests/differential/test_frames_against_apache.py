"""zkref answers mutated raw frames exactly as Apache ZooKeeper 3.8 does.

The same seeded sequence of cases (``frames.CaseGenerator``: null and negative lengths in
every length field, truncation, trailing bytes, unknown opcodes, odd ACLs, create flags and
versions, mutated multi sub-ops, setWatches lists with null entries and odd counts, auth
packets, connect requests) goes to a real Apache ZooKeeper 3.8 and to zkref serving the 3.8
profile, each driven by a ``rawpeer.Peer``. For every case the two must agree on the
replies (xid, err, relative zxid, body with times and session ids masked), on whether the
connection survived, on how many zxids the case used and on the fuzz root's Stat after it;
every ``CHECKPOINT_CASES`` cases and at the end the whole fuzz subtree must be the same.

A difference is allowed only if it is one of ``spec/DIVERGENCES.md``'s, named in
``KNOWN_DIFFERENCES`` by the tag the document gives it; any other fails the test, with the
cases that show it. The summary line (cases, identical, differences by class) is printed at
the end of the run (``tests/differential/conftest.py``).

Both servers get the same settings: Apache is started with a tickTime of 2 s and a container
check interval longer than any run (nothing is reaped on a timer the fuzzer cannot see);
zkref is told the same, and whether Apache takes TTL nodes is asked of it (a createTTL).
Before the first case both are brought to the same last zxid, since clients see zxids as
they are. About 20 s for the default 5,000 cases here; ``TIME_BUDGET_S`` bounds it.

Knobs (environment): ``ZKREF_FUZZ_CASES`` (default ``DEFAULT_CASES``), ``ZKREF_FUZZ_SEED``.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from conformance.nemesis import ApacheZooKeeperNode, NodeError
from reference.jute import ReplyHeader, decode_reply
from server.config import FOUR_LETTER_WORDS, ServerConfig
from spec.errors import Code
from spec.opcodes import OpCode
from spec.profiles import V3_8
from tests.differential.frames import (
    FIXTURE,
    Case,
    CaseGenerator,
    Field,
    acl_fields,
    encode_fields,
)
from tests.differential.frames import Int as IntField
from tests.differential.frames import Long as LongField
from tests.differential.frames import Str as StrField
from tests.differential.frames import ustring as string_field
from tests.differential.rawpeer import Observation, Peer
from tests.support.servers import InProcessServer

DEFAULT_CASES: Final = 5000
DEFAULT_SEED: Final = 20_240_610
CHECKPOINT_CASES: Final = 500
# Stop early rather than overrun the CI budget on a slow machine; the summary says so.
TIME_BUDGET_S: Final = 75.0
TICK_TIME_MS: Final = 2000
# Longer than any run: no container or TTL node is reaped while cases run (reaping is timed
# by each server's own clock, which the fuzzer cannot see).
CONTAINER_CHECK_INTERVAL_MS: Final = 600_000
DIVERGENCES: Final = Path(__file__).resolve().parents[2] / "spec" / "DIVERGENCES.md"

# exists("/"): its reply header carries the server's last zxid.
PROBE_ZXID: Final = bytes.fromhex("0000000900000003000000012f00")

# The summary line of the last run, printed by tests/differential/conftest.py.
SUMMARY: list[str] = []


@dataclass(frozen=True)
class Difference:
    case: Case
    what: str  # reply, connection, zxids, root, main connection, timeout, tree
    apache: object
    zkref: object

    def describe(self) -> str:
        case = self.case
        return (
            f"case {case.index} ({case.kind}: {case.label}; mutations {list(case.mutations)}) "
            f"differs in {self.what}\n    frame: {case.data.hex()}\n"
            f"    apache: {self.apache!r}\n    zkref:  {self.zkref!r}"
        )


def _check_watches_of_a_dead_connection(difference: Difference) -> bool:
    """DIVERGENCES 7: Apache finds another connection's watch where zkref finds none."""
    if difference.what != "reply" or difference.case.opcode != OpCode.checkWatches:
        return False
    theirs, ours = difference.apache, difference.zkref
    assert isinstance(theirs, list) and isinstance(ours, list)
    return (
        len(theirs) == len(ours) == 1
        and theirs[0][:2] == ours[0][:2]
        and (theirs[0][2], ours[0][2]) == (0, Code.NOWATCHER)
    )


# Differences that spec/DIVERGENCES.md lists, by its tag, with what recognizes them.
KNOWN_DIFFERENCES: dict[str, Callable[[Difference], bool]] = {
    "checkwatches-any-connection": _check_watches_of_a_dead_connection,
}


def divergence_tags() -> set[str]:
    """The fuzzer tags spec/DIVERGENCES.md gives its entries (``Fuzzer tag: `x```)."""
    return set(re.findall(r"Fuzzer tag: `([a-z0-9-]+)`", DIVERGENCES.read_text()))


def classify(difference: Difference) -> str | None:
    for tag, recognizes in KNOWN_DIFFERENCES.items():
        if recognizes(difference):
            return tag
    return None


# --- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheZooKeeperNode]:
    missing = ApacheZooKeeperNode.available()
    if missing is not None:
        pytest.skip(f"Apache ZooKeeper cannot run here: {missing}")
    node = ApacheZooKeeperNode(
        tmp_path_factory.mktemp("apache-fuzz"),
        tick_time_ms=TICK_TIME_MS,
        container_check_interval_ms=CONTAINER_CHECK_INTERVAL_MS,
    )
    try:
        node.start()
    except NodeError as error:
        pytest.skip(f"Apache ZooKeeper did not start: {error}")
    try:
        yield node
    finally:
        node.stop()


def request(xid: int, opcode: int, *fields: Field) -> bytes:
    return xid.to_bytes(4, "big", signed=True) + opcode.to_bytes(4, "big") + encode_fields(fields)


def extended_types_enabled(peer: Peer) -> bool:
    """Whether the server takes TTL nodes (``zookeeper.extendedTypesEnabled``): ask it."""
    path = string_field("/zkref-fuzz-ttl-probe")
    body = (path, StrField(b""), *acl_fields([(31, "world", "anyone")]), IntField(5))
    err = decode_reply(
        peer.call(request(1, OpCode.createTTL, *body, LongField(1 << 32))), OpCode.createTTL
    ).header.err
    if err == 0:
        peer.call(request(2, OpCode.delete, path, IntField(-1)))
    return err == 0


def align_zxids(*peers: Peer) -> None:
    """Bring the servers to the same last zxid, with failing deletes (each uses one).

    Clients see zxids as they are (setWatches compares its relativeZxid with the znodes'),
    so the servers must number their transactions alike from the first case on.
    """
    for peer in peers:
        peer.call(PROBE_ZXID)
    target = max(peer.last_zxid for peer in peers)
    delete = request(3, OpCode.delete, string_field("/zkref-fuzz-no-such-node"), IntField(-1))
    for peer in peers:
        while peer.last_zxid < target:
            peer.call(delete)
        assert peer.last_zxid == target, f"{peer.name} went past zxid {target}"


def build_fixture(peer: Peer) -> None:
    for xid, (path, data, acl, flags) in enumerate(FIXTURE, start=10):
        fields = (string_field(path), StrField(data), *acl_fields(acl), IntField(flags))
        header: ReplyHeader = decode_reply(
            peer.call(request(xid, OpCode.create, *fields)), OpCode.create
        ).header
        assert header.err == 0, f"{peer.name}: fixture create {path} failed: {header.err}"


# --- the test ------------------------------------------------------------------------------


def compare(case: Case, apache: Observation, zkref: Observation) -> list[Difference]:
    found: list[Difference] = []
    pairs = (
        ("timeout", apache.timed_out, zkref.timed_out),
        ("reply", apache.frames, zkref.frames),
        ("connection", apache.closed, zkref.closed),
        ("main connection", apache.main_closed, zkref.main_closed),
        ("session", apache.new_session, zkref.new_session),
        ("zxids", apache.zxids_used, zkref.zxids_used),
        ("root", apache.root, zkref.root),
    )
    for what, theirs, ours in pairs:
        if theirs != ours:
            found.append(Difference(case, what, theirs, ours))
            if what in ("timeout", "connection"):
                break  # the rest follows from it
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_zkref_answers_mutated_frames_as_apache_zookeeper_3_8(
    apache: ApacheZooKeeperNode,
) -> None:
    cases = int(os.environ.get("ZKREF_FUZZ_CASES", DEFAULT_CASES))
    seed = int(os.environ.get("ZKREF_FUZZ_SEED", DEFAULT_SEED))
    theirs = Peer("apache", "127.0.0.1", apache.port)
    theirs.connect()
    extended = extended_types_enabled(theirs)
    config = ServerConfig(
        four_letter_whitelist=FOUR_LETTER_WORDS,
        tick_time_ms=TICK_TIME_MS,
        container_check_interval_ms=CONTAINER_CHECK_INTERVAL_MS,
        extended_types_enabled=extended,
        profile=V3_8,
    )
    with InProcessServer(config) as server:
        ours = Peer("zkref", server.host, server.port)
        ours.connect()
        assert extended_types_enabled(ours) == extended
        align_zxids(theirs, ours)
        for peer in (theirs, ours):
            peer.zxids.start(0, peer.last_zxid)
            build_fixture(peer)
        generator = CaseGenerator(seed)
        differences: list[Difference] = []
        identical = ran = 0
        started = time.monotonic()
        for _ in range(cases):
            if time.monotonic() - started > TIME_BUDGET_S:
                break
            case = generator.next_case()
            found = compare(case, theirs.run(case), ours.run(case))
            ran += 1
            if not found:
                identical += 1
            else:
                differences.extend(found)
                # Start both again from the same place: fresh connections, same sessions.
                theirs.close()
                ours.close()
            if ran % CHECKPOINT_CASES == 0 or ran == cases:
                tree_apache, tree_zkref = theirs.dump(), ours.dump()
                if tree_apache != tree_zkref:
                    differences.append(Difference(case, "tree", tree_apache, tree_zkref))
        elapsed = time.monotonic() - started
        stopped = " (time budget reached)" if ran < cases else ""
        theirs.close()
        ours.close()
        assert server.zk.internal_errors == 0, "zkref hit an internal error (see the log)"
    by_class = Counter(classify(d) or f"UNLISTED {d.what}" for d in differences)
    skipped = sum(generator.skipped.values())
    classes = ", ".join(f"{name}: {count}" for name, count in sorted(by_class.items()))
    SUMMARY.append(
        f"raw-frame fuzzer (seed {seed}, extendedTypesEnabled={str(extended).lower()}): "
        f"{ran} cases in {elapsed:.0f} s{stopped}, {identical} identical, "
        f"{len(differences)} differences ({classes or 'none'}); "
        f"{skipped} frames not sent (poison for Apache 3.8.0: {dict(generator.skipped)})"
    )
    unlisted = [d for d in differences if classify(d) is None]
    assert not unlisted, "\n".join(d.describe() for d in unlisted[:8])
    assert set(KNOWN_DIFFERENCES) <= divergence_tags(), "a known difference is not documented"
    assert ran >= min(cases, 1000), f"only {ran} cases within {TIME_BUDGET_S} s"
