"""Seeded random workloads that produce real histories, for the checker's tests.

``run_workload`` drives several ``conformance.client.Client`` sessions concurrently against a
server (usually ``InProcessEnsemble``) with a mix of every kind of request on a small set of
paths (so that they contend), pipelined bursts, watches of every kind, and — when ``faults`` —
connection drops on either side, muted servers (requests time out: outcome unknown),
reconnects to another server, and abandoned sessions that expire. Everything random comes from
``random.Random(seed)``; timing still varies, so histories differ between runs, but every one
of them must be allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from conformance.client import Client, ClientError
from conformance.history import Header, HistoryRecorder, ServerSettings
from spec import requests as rq
from spec.acl import ACL, OPEN_ACL_UNSAFE, Id, Perms
from spec.opcodes import OpCode
from tests.conformance.inprocess import InProcessEnsemble

PATHS = ["/a", "/a/b", "/a/c", "/b", "/b/d", "/q", "/q/n-", "/w", "/w/e"]
DATA = [None, b"", b"x", b"yy", b"zzz"]
DIGEST_ACL = (ACL(Perms.ALL, Id("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20=")),)


@dataclass
class WorkloadStats:
    requests: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)


def random_op(rng: random.Random, leave_out: tuple[type, ...] = ()) -> rq.Operation:
    """One request, weighted toward contention on a few paths.

    Requests of the kinds in ``leave_out`` are replaced by a watching getChildren (the
    Apache ZooKeeper tests leave out behaviours where the spec and 3.8.0 disagree).
    """
    op = _random_op(rng)
    if isinstance(op, leave_out):
        return rq.GetChildren(getattr(op, "path", "/"), watch=True)
    return op


def _random_op(rng: random.Random) -> rq.Operation:
    path = rng.choice(PATHS)
    roll = rng.random()
    if roll < 0.16:
        flags = rng.choice([0, 0, 1, 2, 3])
        opcode = rng.choice([OpCode.create, OpCode.create2])
        return rq.Create(path, rng.choice(DATA), OPEN_ACL_UNSAFE, flags, opcode)
    if roll < 0.19:
        return rq.Create(path, None, OPEN_ACL_UNSAFE, 4, OpCode.createContainer)
    if roll < 0.30:
        return rq.SetData(path, rng.choice(DATA), rng.choice([-1, -1, 0, 1, 2]))
    if roll < 0.37:
        return rq.Delete(path, rng.choice([-1, -1, 0, 1]))
    if roll < 0.50:
        return rq.GetData(path, watch=rng.random() < 0.5)
    if roll < 0.58:
        return rq.Exists(path, watch=rng.random() < 0.6)
    if roll < 0.66:
        return rq.GetChildren(path, watch=rng.random() < 0.5, with_stat=rng.random() < 0.5)
    if roll < 0.72:
        sub: list[rq.Operation] = []
        for _ in range(rng.randint(0, 3)):
            sub_path = rng.choice(PATHS)
            choices: list[rq.Operation] = [
                rq.Create(sub_path, b"m", OPEN_ACL_UNSAFE, rng.choice([0, 1, 2])),
                rq.SetData(sub_path, b"m", -1),
                rq.Delete(sub_path, -1),
                rq.Check(sub_path, rng.choice([-1, 0, 1])),
            ]
            sub.append(rng.choice(choices))
        return rq.Multi(tuple(sub))
    if roll < 0.75:
        return rq.MultiRead(
            (rq.GetData(path), rq.GetChildren(rng.choice(PATHS)), rq.GetData(rng.choice(PATHS)))
        )
    if roll < 0.79:
        return rq.Sync(path)
    if roll < 0.81:
        return rq.AddWatch(rng.choice(["/a", "/b", "/w"]), rng.choice([0, 1]))
    if roll < 0.83:
        return rq.RemoveWatches(path, rng.choice([1, 2, 3]))
    if roll < 0.85:
        return rq.CheckWatches(path, rng.choice([1, 2, 3]))
    if roll < 0.87:
        return rq.GetACL(path)
    if roll < 0.88:
        return rq.SetACL(path, rng.choice([OPEN_ACL_UNSAFE, DIGEST_ACL]), -1)
    if roll < 0.89:
        return rq.AddAuth("digest", b"user:pass")
    if roll < 0.91:
        return rq.GetEphemerals(rng.choice(["/", "/a", "/q"]))
    if roll < 0.93:
        return rq.GetAllChildrenNumber(rng.choice(["/", "/a", "/q"]))
    if roll < 0.94:
        return rq.WhoAmI()
    return rq.GetData(path, watch=True)


async def _client_loop(
    index: int,
    client: Client,
    ensemble: InProcessEnsemble | None,
    rng: random.Random,
    requests: int,
    faults: bool,
    stats: WorkloadStats,
    leave_out: tuple[type, ...],
) -> None:
    done = 0
    while done < requests:
        if client.closed or client.expired:
            return
        roll = rng.random()
        try:
            if faults and roll < 0.01:
                await client.drop_connection("test: client-side drop")
                await client.wait_connected(3.0)
                continue
            if faults and roll < 0.02 and ensemble is not None:
                for conn in ensemble.connections_of(client.session_id):
                    ensemble.drop(conn)
                await asyncio.sleep(0.01)
                await client.wait_connected(3.0)
                continue
            if faults and roll < 0.025 and len(client.hosts) > 1:
                await client.reconnect()
                continue
            if faults:
                await asyncio.sleep(rng.uniform(0, 0.004))  # let the faults interleave
            burst = rng.choice([1, 1, 1, 2, 5])
            futures = [await client.submit(random_op(rng, leave_out)) for _ in range(burst)]
            for future in futures:
                with contextlib.suppress(ClientError):
                    await future
            done += burst
            stats.requests += burst
        except ClientError as error:
            stats.errors.append(f"client {index}: {error}")
            await asyncio.sleep(0.02)
            with contextlib.suppress(ClientError, TimeoutError):
                await client.wait_connected(3.0)


async def _mute_now_and_then(
    ensemble: InProcessEnsemble, rng: random.Random, stop: asyncio.Event, mute_s: float
) -> None:
    """Withhold every reply for a while, so that requests time out (outcome unknown)."""
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.01, 0.05))
        if stop.is_set():
            break
        ensemble.mute = True
        await asyncio.sleep(mute_s)
        links = sorted(ensemble._links)
        if links and rng.random() < 0.5:
            ensemble.drop(rng.choice(links))
        ensemble.release()


async def run_workload(
    hosts: list[str],
    recorder: HistoryRecorder,
    *,
    clients: int = 4,
    requests: int = 100,
    seed: int = 0,
    faults: bool = False,
    ensemble: InProcessEnsemble | None = None,
    session_timeout_ms: int = 2000,
    request_timeout_s: float = 2.0,
    abandon: bool = False,
    leave_out: tuple[type, ...] = (),
) -> WorkloadStats:
    """Run ``clients`` sessions of ``requests`` requests each; close them at the end."""
    stats = WorkloadStats()
    sessions = [
        Client(
            hosts,
            name=f"c{i}",
            recorder=recorder,
            session_timeout_ms=session_timeout_ms,
            request_timeout_s=request_timeout_s,
            start_host=i,
        )
        for i in range(clients)
    ]
    for client in sessions:
        await client.start()
    stop = asyncio.Event()
    muter = None
    if faults and ensemble is not None:
        muter = asyncio.create_task(
            _mute_now_and_then(ensemble, random.Random(seed + 1), stop, request_timeout_s * 1.2)
        )
    try:
        await asyncio.gather(
            *(
                _client_loop(
                    i,
                    c,
                    ensemble,
                    random.Random(seed * 1000 + i),
                    requests,
                    faults,
                    stats,
                    leave_out,
                )
                for i, c in enumerate(sessions)
            )
        )
    finally:
        stop.set()
        if muter is not None:
            muter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await muter
        if ensemble is not None:
            ensemble.release()
    for number, client in enumerate(sessions):
        if abandon and number == 0:
            await client.abandon()
        else:
            await client.close()
    stats.unknown = sum(1 for op in recorder.history().ops if op.outcome == "unknown")
    return stats


def header_for(ensemble: InProcessEnsemble) -> Header:
    config = ensemble.config
    return Header(
        profile=config.profile.name,
        hosts=tuple(ensemble.hosts),
        settings=ServerSettings(
            extended_types_enabled=config.extended_types_enabled,
            reconfig_enabled=config.reconfig_enabled,
            super_digest=config.super_digest,
            jute_max_buffer=config.jute_max_buffer,
            container_max_never_used_interval_ms=config.container_max_never_used_interval_ms,
        ),
        fresh=True,
        note="in-process reference core",
    )
