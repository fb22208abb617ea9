"""The client's translation between spec values and wire frames loses nothing.

Requests: the frame the client sends for a spec operation is the one the differential test's
encoder makes (``tests/differential/wire.py``, built on Apache's ``zookeeper.jute`` and owing
nothing to ``reference.jute``), and the server-side decoder reads back the same record. Replies:
every reply the spec can give, framed as a server frames it, decodes back to the same spec
reply.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import wire
from reference.jute import JuteError, Request, decode_reply, decode_request
from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.machine import step
from spec.profiles import V3_8, V3_9
from spec.state import Config, initial_state
from tests.differential import wire as reference_wire
from tests.differential.test_reference_vs_spec import operations


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(op=operations, xid=st.integers(1, 2**31 - 1))
def test_request_frames_match_an_independent_encoder_and_decode_back(
    op: rq.Operation, xid: int
) -> None:
    frame = wire.request_frame(op, xid)
    assert frame[4:] == reference_wire.request_frame(op, xid)
    opcode, record = wire.request_record(op)
    try:
        decoded = decode_request(frame[4:])
    except JuteError as error:
        # A malformed multi on purpose (mixed reads and writes, bad flags): the server's
        # decoder refuses it, but knows which request it was.
        assert error.request_header is not None and error.request_header.type == opcode
        return
    assert decoded.header.type == opcode
    if isinstance(decoded, Request):
        assert decoded.record == record


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(operations, min_size=1, max_size=25), v38=st.booleans())
def test_every_reply_the_spec_gives_decodes_to_the_same_spec_reply(
    script: list[rq.Operation], v38: bool
) -> None:
    state = initial_state(Config(profile=V3_8 if v38 else V3_9))
    state, outcome = step(state, rq.Connect(10_000))
    assert outcome.reply is not None and isinstance(outcome.reply.body, rq.ConnectResponse)
    session = outcome.reply.body.session_id
    seed = [rq.Create("/a", b"x", OPEN_ACL_UNSAFE, 0), rq.Create("/a/b", None, OPEN_ACL_UNSAFE, 0)]
    for op in seed + script:
        if session not in state.sessions:  # closed: start another session
            state, outcome = step(state, rq.Connect(10_000))
            assert outcome.reply is not None and isinstance(outcome.reply.body, rq.ConnectResponse)
            session = outcome.reply.body.session_id
        if not state.sessions[session].connected:
            state, _ = step(state, rq.Connect(10_000, session, state.sessions[session].password))
        state, outcome = step(state, rq.Call(session, op))
        if outcome.reply is None:
            continue
        frame = reference_wire.reply_frame(outcome.reply, 1)
        decoded = decode_reply(frame[4:], wire.opcode_of(op))
        reply, anomalies = wire.reply_of(op, decoded)
        assert anomalies == []
        assert reply == outcome.reply, op
