"""Setting up and removing a run's znodes, from the parent process, over one ``CallSession``.

Everything is pipelined in batches of ``PIPELINE_BATCH_REQUESTS`` so that creating 1,000
children or deleting what a create run left behind takes a fraction of a second. Removal
is bounded: it lists at most ``TEARDOWN_DEPTH_MAX`` levels below the root (the layout in
``bench.workloads`` is two deep), deletes at most ``TEARDOWN_ZNODES_MAX`` znodes and gives up
after ``TEARDOWN_TIMEOUT_S``, reporting what it could not remove rather than hanging.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bench.wire import BenchProtocolError, CallSession, PathTemplate, check, error_name
from bench.workloads import (
    CREATE_PERSISTENT,
    DELETE_ANY_VERSION,
    child_name,
    children_parent,
    connection_node,
    create_template,
    fanout_node,
    value_of,
)
from reference.jute import GetChildrenRequest, GetChildrenResponse, Reply
from spec.errors import Code
from spec.modes import CreateMode
from spec.opcodes import OpCode

PIPELINE_BATCH_REQUESTS: Final = 512
TEARDOWN_DEPTH_MAX: Final = 2
TEARDOWN_ZNODES_MAX: Final = 4_000_000
TEARDOWN_TIMEOUT_S: Final = 300.0
ROOT_ATTEMPTS_MAX: Final = 100

_LIST_CHILDREN: Final = PathTemplate(OpCode.getChildren, GetChildrenRequest("/", False))
_run_counter = 0


async def pipelined(
    session: CallSession, template: PathTemplate, paths: Sequence[str]
) -> list[Reply]:
    """Send one request per path, at most ``PIPELINE_BATCH_REQUESTS`` outstanding."""
    replies: list[Reply] = []
    for start in range(0, len(paths), PIPELINE_BATCH_REQUESTS):
        batch = paths[start : start + PIPELINE_BATCH_REQUESTS]
        replies.extend(await asyncio.gather(*(session.call_path(template, p) for p in batch)))
    return replies


async def create_root(session: CallSession) -> str:
    """Create a fresh, empty ``/zkref-bench-<pid>-<n>`` and return its path."""
    global _run_counter
    for _ in range(ROOT_ATTEMPTS_MAX):
        _run_counter += 1
        root = f"/zkref-bench-{os.getpid()}-{_run_counter}"
        (reply,) = await pipelined(session, CREATE_PERSISTENT, [root])
        if reply.header.err == Code.NODEEXISTS:
            continue
        check(reply, f"create {root}")
        return root
    raise BenchProtocolError(f"no free root after {ROOT_ATTEMPTS_MAX} attempts")


async def prepare(
    session: CallSession,
    workload: str,
    root: str,
    connections: int,
    value_size: int,
    children_count: int,
) -> None:
    """Create the znodes ``workload`` reads or writes under ``root``."""
    value = value_of(value_size)
    with_value = create_template(value, CreateMode.PERSISTENT)
    paths: list[str] = []
    template = with_value
    if workload in ("setData", "getData", "exists", "mixed"):
        paths = [connection_node(root, g) for g in range(connections)]
    elif workload == "getChildren":
        parent = children_parent(root)
        await _create_all(session, CREATE_PERSISTENT, [parent])
        paths = [f"{parent}/{child_name(i)}" for i in range(children_count)]
        template = CREATE_PERSISTENT
    elif workload == "fanout":
        paths = [fanout_node(root)]
    await _create_all(session, template, paths)


async def _create_all(session: CallSession, template: PathTemplate, paths: list[str]) -> None:
    for path, reply in zip(paths, await pipelined(session, template, paths), strict=True):
        check(reply, f"create {path}")


@dataclass(slots=True)
class Teardown:
    """What ``remove_tree`` did: znodes deleted, and those it could not delete (with why)."""

    deleted: int = 0
    left: int = 0
    problem: str = ""


async def remove_tree(session: CallSession, root: str) -> Teardown:
    """Delete ``root`` and everything under it (bounded; see the module docstring)."""
    result = Teardown()
    deadline = time.monotonic() + TEARDOWN_TIMEOUT_S
    levels: list[list[str]] = []
    frontier = [root]
    listed = 0
    for depth in range(TEARDOWN_DEPTH_MAX + 1):
        if not frontier:
            break
        levels.append(frontier)
        listed += len(frontier)
        if depth == TEARDOWN_DEPTH_MAX:
            break
        if listed > TEARDOWN_ZNODES_MAX or time.monotonic() > deadline:
            result.problem = "too many znodes or out of time while listing"
            break
        following: list[str] = []
        for path, reply in zip(
            frontier, await pipelined(session, _LIST_CHILDREN, frontier), strict=True
        ):
            if reply.header.err == Code.NONODE:
                continue
            check(reply, f"getChildren {path}")
            record = reply.record
            assert isinstance(record, GetChildrenResponse)
            following.extend(f"{path}/{name}" for name in record.children or ())
        frontier = following
    for level in reversed(levels):
        if time.monotonic() > deadline:
            result.left += len(level)
            result.problem = result.problem or f"out of time after {TEARDOWN_TIMEOUT_S:.0f} s"
            continue
        for path, reply in zip(
            level, await pipelined(session, DELETE_ANY_VERSION, level), strict=True
        ):
            err = reply.header.err
            if err == 0:
                result.deleted += 1
            elif err != Code.NONODE:
                result.left += 1
                result.problem = result.problem or f"delete {path}: {error_name(err)}"
    return result
