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
