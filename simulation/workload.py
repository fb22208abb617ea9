"""What simulated clients ask: random operations over a few paths, so that they collide.

Few paths and small version numbers make requests meet each other (the same znode created,
changed and deleted by several sessions; versions that match and do not), ephemeral and
sequential creates make session ends and naming matter, watches make notifications, and
sync makes the ensemble's ordering visible.
"""

from __future__ import annotations

import random

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
