"""The Hypothesis state machine (``simulation.machine``): nothing found without a plant, a
planted bug found and shrunk, and the stories it once shrunk replayed as regression tests."""

from __future__ import annotations

from simulation.machine import EnsembleMachine, find

CI_STORIES = 60


def test_the_state_machine_finds_nothing_without_a_plant() -> None:
    failure = find(None, CI_STORIES, seed=0)
    assert failure is None, failure.render()


def test_a_planted_bug_is_found_and_shrunk_to_a_few_steps() -> None:
    failure = find("diff-txns-not-logged", 500, seed=0)
    assert failure is not None
    assert failure.kind == "a gap in a log"
    steps = [s for s in failure.steps if not s.endswith("replicas_agree()")]
    assert 2 <= len(steps) <= 10, failure.render()


def test_a_restarted_follower_never_hands_out_another_servers_session_ids() -> None:
    # Shrunk by the state machine: after a restart, a follower's session ids continued from
    # the leader's largest session id, and two clients were given one session.
    story = EnsembleMachine()
    story.close_session(client=1)
    story.advance(ms=100)
    story.crash(sid=1)
    story.close_session(client=0)
    story.advance(ms=3000)
    story.close_session(client=0)
    story.close_session(client=1)
    story.crash(sid=3)
    story.teardown()  # the history check: raised duplicate-session
    created = [
        c.session_id
        for c in story.recorder.history().connects
        if c.outcome == "ok" and c.requested_session_id == 0
    ]
    assert len(created) >= 4 and len(set(created)) == len(created), [hex(s) for s in created]


def test_idle_sessions_one_expired_are_an_allowed_history() -> None:
    # Shrunk by the state machine: sessions that never asked anything, one of them expired,
    # then a write; the checker refused to end a session it had never created.
    story = EnsembleMachine()
    story.advance(ms=3000)
    story.teardown()
