"""The workloads: what each one sends, the znodes it needs, and where they live.

Every run of a workload gets a fresh root, ``/zkref-bench-<pid>-<n>``, which the parent
process creates (with whatever the workload reads) before the workers start and deletes,
with everything under it, afterwards. Inside the root:

=================  ==========================================================================
``n<g>``           one node per connection ``g`` (``value_size`` bytes): setData, getData,
                   exists and the mixed workload each use their own connection's node, so
                   writers do not contend on one znode's version.
``c<g>-<i>``       the ``i``-th node connection ``g`` created (create workload); the worker
                   deletes them itself after the measured window.
``children/*``     ``children_count`` empty children, read by getChildren.
``e<g>``           connection ``g``'s ephemeral node, created and deleted in turn (ephemeral).
``fanout``         the node every watcher of the fan-out workload watches.
=================  ==========================================================================

An *operation* is what ops/s counts and what a latency measures: one request, except for
``ephemeral`` (create ephemeral + delete, pipelined back to back; the latency ends at the
delete's reply), ``connect`` (open a TCP connection, handshake, closeSession, its reply) and
``fanout`` (one setData until the last of ``watchers`` sessions has its notification).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bench.wire import OperationSource, PathTemplate, RequestTemplate
from reference.jute import (
    CreateRequest,
    DeleteRequest,
    ExistsRequest,
    GetChildrenRequest,
    GetDataRequest,
    SetDataRequest,
)
from spec.acl import OPEN_ACL_UNSAFE
from spec.modes import CreateMode
from spec.opcodes import OpCode

UNLIMITED: Final = 1 << 62
"""Operation quota of a session in a run bounded by time."""

MIXED_WRITE_EVERY: Final = 10
"""Every 10th operation of the mixed workload is a setData: 90 % reads, 10 % writes."""


@dataclass(frozen=True, slots=True)
class Workload:
    """A workload's name (as typed on the command line) and what it measures."""

    name: str
    description: str
    pipelined: bool = True  # runs on LoadSession (else its own driver in bench.worker)
    single_process: bool = False  # runs in worker 0 only


WORKLOADS: Final[dict[str, Workload]] = {
    w.name: w
    for w in (
        Workload("create", "create persistent znodes of value-size bytes at unique paths"),
        Workload("setData", "setData of value-size bytes on the connection's own znode"),
        Workload("getData", "getData of the connection's own znode (value-size bytes)"),
        Workload("exists", "exists on the connection's own znode"),
        Workload("getChildren", "getChildren of a znode with children-count children"),
        Workload("mixed", "90 % getData / 10 % setData on the connection's own znode"),
        Workload(
            "connect",
            "open a session and close it (TCP connect, handshake, closeSession); "
            "one at a time per client",
            pipelined=False,
        ),
        Workload("ephemeral", "create an ephemeral znode and delete it (pipelined pair)"),
        Workload(
            "fanout",
            "one setData notifying `watchers` sessions: time until the last notification",
            pipelined=False,
            single_process=True,
        ),
    )
}

DEFAULT_WORKLOADS: Final = tuple(WORKLOADS)


# --- the layout under a run's root -----------------------------------------------------------


def connection_node(root: str, connection: int) -> str:
    return f"{root}/n{connection}"


def created_prefix(root: str, connection: int) -> str:
    return f"{root}/c{connection}-"


def children_parent(root: str) -> str:
    return f"{root}/children"


def child_name(index: int) -> str:
    return f"c{index:05d}"


def ephemeral_node(root: str, connection: int) -> str:
    return f"{root}/e{connection}"


def fanout_node(root: str) -> str:
    return f"{root}/fanout"


def value_of(size: int) -> bytes:
    """The value the benchmark writes: ``size`` printable bytes."""
    pattern = b"zkref-bench-value-"
    return (pattern * (size // len(pattern) + 1))[:size]


CREATE_PERSISTENT: Final = PathTemplate(
    OpCode.create, CreateRequest("/", b"", OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)
)
DELETE_ANY_VERSION: Final = PathTemplate(OpCode.delete, DeleteRequest("/", -1))


def create_template(value: bytes, mode: CreateMode) -> PathTemplate:
    return PathTemplate(OpCode.create, CreateRequest("/", value, OPEN_ACL_UNSAFE, mode))


# --- operation sources -------------------------------------------------------------------------


class RepeatSource:
    """The same request again and again (getData, exists, setData, getChildren)."""

    requests_per_operation = 1

    def __init__(self, template: RequestTemplate, quota: int) -> None:
        self.frame = template.frame
        self.remaining = quota

    def next_operation(self, xid: int) -> bytes | None:
        self.remaining -= 1
        if self.remaining < 0:
            return None
        return self.frame(xid)


class CycleSource:
    """Requests taken in turn from a fixed cycle (the mixed workload)."""

    requests_per_operation = 1

    def __init__(self, cycle: list[RequestTemplate], quota: int) -> None:
        assert cycle, "an empty cycle"
        self.frames = [template.frame for template in cycle]
        self.position = 0
        self.remaining = quota

    def next_operation(self, xid: int) -> bytes | None:
        self.remaining -= 1
        if self.remaining < 0:
            return None
        frames = self.frames
        frame = frames[self.position]
        self.position = (self.position + 1) % len(frames)
        return frame(xid)


class NumberedPathSource:
    """One request per path ``prefix + i`` for ``i`` = 0, 1, … (create, and its cleanup)."""

    requests_per_operation = 1

    def __init__(self, template: PathTemplate, prefix: str, quota: int) -> None:
        self.frame = template.frame
        self.prefix = prefix.encode()
        self.issued = 0
        self.quota = quota

    def next_operation(self, xid: int) -> bytes | None:
        index = self.issued
        if index >= self.quota:
            return None
        self.issued = index + 1
        return self.frame(xid, self.prefix + b"%d" % index)


class EphemeralChurnSource:
    """Create an ephemeral znode and delete it, both pipelined, on one path per session.

    The session's requests are applied in order, so the create always finds the path free
    and the delete always finds it there, however many operations are in flight.
    """

    requests_per_operation = 2

    def __init__(self, path: str, value: bytes, quota: int) -> None:
        encoded = path.encode()
        create = create_template(value, CreateMode.EPHEMERAL)
        self.create = create.frame
        self.delete = DELETE_ANY_VERSION.frame
        self.path = encoded
        self.remaining = quota

    def next_operation(self, xid: int) -> bytes | None:
        self.remaining -= 1
        if self.remaining < 0:
            return None
        path = self.path
        return self.create(xid, path) + self.delete(xid + 1, path)


def operation_source(
    workload: str, root: str, connection: int, value_size: int, quota: int
) -> OperationSource:
    """The operations connection ``connection`` sends in ``workload`` (a pipelined one)."""
    value = value_of(value_size)
    own = connection_node(root, connection)
    if workload == "create":
        return NumberedPathSource(
            create_template(value, CreateMode.PERSISTENT), created_prefix(root, connection), quota
        )
    if workload == "setData":
        return RepeatSource(RequestTemplate(OpCode.setData, SetDataRequest(own, value, -1)), quota)
    if workload == "getData":
        return RepeatSource(RequestTemplate(OpCode.getData, GetDataRequest(own, False)), quota)
    if workload == "exists":
        return RepeatSource(RequestTemplate(OpCode.exists, ExistsRequest(own, False)), quota)
    if workload == "getChildren":
        request = GetChildrenRequest(children_parent(root), False)
        return RepeatSource(RequestTemplate(OpCode.getChildren, request), quota)
    if workload == "mixed":
        read = RequestTemplate(OpCode.getData, GetDataRequest(own, False))
        write = RequestTemplate(OpCode.setData, SetDataRequest(own, value, -1))
        return CycleSource([read] * (MIXED_WRITE_EVERY - 1) + [write], quota)
    if workload == "ephemeral":
        return EphemeralChurnSource(ephemeral_node(root, connection), value, quota)
    raise ValueError(f"{workload!r} is not a pipelined workload")
