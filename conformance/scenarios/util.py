"""Small helpers shared by the chapter modules."""

from __future__ import annotations

from typing import TypeVar

from conformance.scenarios.base import ScenarioFailure
from spec import requests as rq
from spec.stat import Stat

B = TypeVar("B")


def body(reply: rq.Reply, kind: type[B]) -> B:
    """The reply's body, which must be a ``kind``."""
    if not isinstance(reply.body, kind):
        raise ScenarioFailure(f"a {kind.__name__} body expected, got {reply.body!r}")
    return reply.body


def stat_of(reply: rq.Reply) -> Stat:
    stat = getattr(reply.body, "stat", None)
    if not isinstance(stat, Stat):
        raise ScenarioFailure(f"a Stat expected in {reply.body!r}")
    return stat


def same(observed: object, expected: object, what: str) -> None:
    if observed != expected:
        raise ScenarioFailure(f"{what}: {expected!r} expected, {observed!r} observed")
