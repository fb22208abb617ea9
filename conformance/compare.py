"""Comparing replies: when is an observed reply the one the spec gives?

ZooKeeper promises some things a byte-for-byte comparison would wrongly hold against a server:
children lists and a session's ephemerals come back in hash-set order, and a Stat's ``ctime``
and ``mtime`` are the leader's wall clock, which the spec cannot know. So bodies are compared
after ``normalize_body``: lists sorted, times left out (``conformance.ordering`` checks instead
that every report of one transaction carries the same time). Everything else must be equal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from spec import requests as rq
from spec.errors import Code
from spec.stat import Stat


def stats_in(body: rq.Body | None) -> list[Stat]:
    """Every Stat a reply body carries (multi results included)."""
    out: list[Stat] = []
    stat = getattr(body, "stat", None)
    if isinstance(stat, Stat):
        out.append(stat)
    if isinstance(body, rq.MultiResponse):
        for result in body.results:
            sub = getattr(result, "stat", None)
            if isinstance(sub, Stat):
                out.append(sub)
    return out


def _normalize_stat(stat: Stat) -> Stat:
    return replace(stat, ctime=0, mtime=0)


def normalize_body(body: rq.Body | None) -> Any:
    """A body in a form where equal means conformant: children as sorted lists, Stats
    without times (``ordering.transaction_times`` checks those), ephemerals sorted."""
    if body is None:
        return None
    if isinstance(body, rq.GetChildrenResponse):
        return rq.GetChildrenResponse(tuple(sorted(body.children)))
    if isinstance(body, rq.GetChildren2Response):
        return rq.GetChildren2Response(tuple(sorted(body.children)), _normalize_stat(body.stat))
    if isinstance(body, rq.GetEphemeralsResponse):
        return rq.GetEphemeralsResponse(tuple(sorted(body.ephemerals)))
    if isinstance(body, rq.MultiResponse):
        return rq.MultiResponse(tuple(_normalize_result(r) for r in body.results))
    stat = getattr(body, "stat", None)
    if isinstance(stat, Stat):
        return replace(cast(Any, body), stat=_normalize_stat(stat))
    return body


def _normalize_result(result: rq.OpResult) -> rq.OpResult:
    if isinstance(result, rq.GetChildrenResult):
        return rq.GetChildrenResult(tuple(sorted(result.children)))
    stat = getattr(result, "stat", None)
    if isinstance(stat, Stat):
        return cast(rq.OpResult, replace(cast(Any, result), stat=_normalize_stat(stat)))
    return result


def compare_replies(expected: rq.Reply, observed: rq.Reply) -> str | None:
    """None if ``observed`` is what the spec answers, else what differs."""
    if expected.err != observed.err:
        return f"err {code_name(expected.err)} expected, {code_name(observed.err)} observed"
    if expected.zxid != observed.zxid:
        return f"zxid 0x{expected.zxid:x} expected, 0x{observed.zxid:x} observed"
    if normalize_body(expected.body) != normalize_body(observed.body):
        return "the reply's body differs"
    return None


def code_name(err: int) -> str:
    """An error code's name, or its number if the spec does not know it."""
    try:
        return Code(err).name
    except ValueError:
        return str(err)
