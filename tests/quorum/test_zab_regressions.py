"""Named regressions of the quorum protocol, each found by a transcript or a bad-input test
(tests/quorum/testdata, tests/quorum/test_peer_bad_input.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.quorum.interaction import InteractionEnv


@pytest.fixture
def env() -> Iterator[InteractionEnv]:
    environment = InteractionEnv()
    yield environment
    environment.close()


def test_the_learner_whose_ack_forms_the_newleader_quorum_gets_one_uptodate(
    env: InteractionEnv,
) -> None:
    # Found by election.txt: the ACK that completed the quorum made the leader send UPTODATE
    # from the quorum check and then again for the ack itself. LearnerHandler.run sends one.
    env.run("add-servers 3")
    env.run("stabilize")
    out = env.run("advance 200ms")
    assert "INFO leader 3: epoch 1 established with [1, 3]" in out
    assert out.count("send 3->1 UPTODATE") == 1
    assert out.count("send 3->2 UPTODATE") == 1


def test_a_write_whose_session_moved_closes_its_connection_instead_of_answering(
    env: InteractionEnv,
) -> None:
    # Found by reattach_revalidate.txt: the old connection was answered SESSIONMOVED. Apache's
    # FinalRequestProcessor closes it (cnxn.sendCloseSession, ZOOKEEPER-710), and the client
    # sees a connection loss (QuorumTest.testSessionMoved).
    for command in (
        "add-servers 3",
        "stabilize quiet",
        "advance 200ms quiet",
        "client a connect 2",
        "stabilize quiet",
        "client b connect 1 session-of=a",
        "stabilize quiet",
        "client a set / x",
    ):
        env.run(command)
    out = env.run("stabilize")
    assert "persist txn 0x100000002 error SESSIONMOVED" in out
    assert "client a <- connection closed" in out
    assert "SESSIONMOVED (setData)" not in out
    assert env.clients["b"].conn is not None, "the session's new connection is untouched"
