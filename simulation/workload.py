"""What simulated clients ask: random operations over a few paths, so that they collide.

Few paths and small version numbers make requests meet each other (the same znode created,
changed and deleted by several sessions; versions that match and do not), ephemeral and
sequential creates make session ends and naming matter, watches make notifications, and
sync makes the ensemble's ordering visible.
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from spec import requests as rq
from spec.acl import OPEN_ACL_UNSAFE
from spec.opcodes import OpCode

PATHS = ("/a", "/b", "/a/x", "/a/y", "/q")
CHILD_PARENTS = ("/a", "/q")
VALUES = (b"", b"v", b"vv", b"xyz")


def random_op(rng: random.Random) -> rq.Operation:
    """One operation (writes about half of the time)."""
    roll = rng.random()
    path = rng.choice(PATHS)
    if roll < 0.22:
        flags = rng.choice((0, 0, 1, 2, 3))
        if flags in (2, 3):
            path = rng.choice(CHILD_PARENTS) + "/n-"
        opcode = rng.choice((OpCode.create, OpCode.create2))
        return rq.Create(path, rng.choice(VALUES), OPEN_ACL_UNSAFE, flags, opcode)
    if roll < 0.32:
        return rq.SetData(path, rng.choice(VALUES), rng.choice((-1, -1, 0, 1, 2)))
    if roll < 0.40:
        return rq.Delete(path, rng.choice((-1, -1, 0, 1)))
    if roll < 0.46:
        return rq.Multi(tuple(_sub_op(rng) for _ in range(rng.randint(1, 3))))
    if roll < 0.62:
        return rq.GetData(path, rng.random() < 0.5)
    if roll < 0.74:
        return rq.Exists(path, rng.random() < 0.5)
    if roll < 0.86:
        return rq.GetChildren(rng.choice(("/", *CHILD_PARENTS)), rng.random() < 0.5)
    return rq.Sync(path)


def _sub_op(rng: random.Random) -> rq.Operation:
    path = rng.choice(PATHS)
    kind = rng.random()
    if kind < 0.35:
        return rq.Create(path, rng.choice(VALUES), OPEN_ACL_UNSAFE, rng.choice((0, 1)))
    if kind < 0.6:
        return rq.SetData(path, rng.choice(VALUES), rng.choice((-1, 0, 1)))
    if kind < 0.8:
        return rq.Delete(path, rng.choice((-1, 0)))
    return rq.Check(path, rng.choice((-1, 0, 1)))


def operations() -> st.SearchStrategy[rq.Operation]:
    """The operations of ``random_op`` as a Hypothesis strategy (so that a failing story
    shrinks to simpler requests): creates (ephemeral, sequential), setData and delete with
    versions, multi, reads with and without watches, sync."""
    paths = st.sampled_from(PATHS)
    values = st.sampled_from(VALUES)
    opcodes = st.sampled_from((OpCode.create, OpCode.create2))
    creates = st.one_of(
        st.builds(
            lambda path, data, flags, opcode: rq.Create(path, data, OPEN_ACL_UNSAFE, flags, opcode),
            paths,
            values,
            st.sampled_from((0, 1)),
            opcodes,
        ),
        st.builds(
            lambda parent, data, flags, opcode: rq.Create(
                parent + "/n-", data, OPEN_ACL_UNSAFE, flags, opcode
            ),
            st.sampled_from(CHILD_PARENTS),
            values,
            st.sampled_from((2, 3)),
            opcodes,
        ),
    )
    sub_ops = st.one_of(
        st.builds(
            lambda p, d, f: rq.Create(p, d, OPEN_ACL_UNSAFE, f),
            paths,
            values,
            st.sampled_from((0, 1)),
        ),
        st.builds(rq.SetData, paths, values, st.sampled_from((-1, 0, 1))),
        st.builds(rq.Delete, paths, st.sampled_from((-1, 0))),
        st.builds(rq.Check, paths, st.sampled_from((-1, 0, 1))),
    )
    return st.one_of(
        creates,
        st.builds(rq.SetData, paths, values, st.sampled_from((-1, 0, 1, 2))),
        st.builds(rq.Delete, paths, st.sampled_from((-1, 0, 1))),
        st.builds(lambda ops: rq.Multi(tuple(ops)), st.lists(sub_ops, min_size=1, max_size=3)),
        st.builds(rq.GetData, paths, st.booleans()),
        st.builds(rq.Exists, paths, st.booleans()),
        st.builds(rq.GetChildren, st.sampled_from(("/", *CHILD_PARENTS)), st.booleans()),
        st.builds(rq.Sync, paths),
    )
