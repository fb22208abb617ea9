"""The ensemble's socket layer (``server.peers.PeerNetwork``) reports connection events to the
quorum peer in an order the peer can rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from reference.quorum.apache_snapshot import ApacheSnapshot
from reference.quorum.election_wire import Notification
from reference.quorum.messages import QuorumConnect
from reference.quorum.wire import QuorumPacket
from server.config import QuorumServer
from server.peers import PeerNetwork

SERVERS = (
    QuorumServer(1, "127.0.0.1", 1, 2),
    QuorumServer(2, "127.0.0.1", 3, 4),
    QuorumServer(3, "127.0.0.1", 5, 6),
)


class RecordingHost:
    """A ``PeerHost`` that writes down what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def election_received(self, sid: int, notification: Notification) -> None:
        self.events.append(("election", sid))

    def quorum_accepted(self, conn: int) -> None:
        self.events.append(("accepted", conn))

    def quorum_connected(self, conn: int) -> None:
        self.events.append(("connected", conn))

    def quorum_closed(self, conn: int) -> None:
        self.events.append(("closed", conn))

    def quorum_received(self, conn: int, events: Sequence[QuorumPacket | ApacheSnapshot]) -> None:
        self.events.extend(("received", conn) for _ in events)


class ClosedTransport(asyncio.Transport):
    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True

    def write(self, data: Any) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


def test_a_dial_the_other_side_closes_before_it_returns_is_closed_and_never_connected() -> None:
    """A server that does not lead closes a learner's connection as soon as it accepts it,
    so the close can reach the follower before its dial has returned. The peer must hear
    "closed" alone (a failed dial, which it retries), never "connected" after "closed":
    that order put a retrying follower in the wrong phase (an internal error, then initLimit
    ticks of waiting for a leader it had already found)."""
    host = RecordingHost()
    network = PeerNetwork(1, SERVERS, host)

    async def dial_closed_at_once(
        factory: Callable[[], asyncio.Protocol], host_name: str, port: int
    ) -> tuple[asyncio.Transport, asyncio.Protocol]:
        # What the loop does when the remote end closes in the same breath as it accepts:
        # connection_made, then connection_lost, then the dial returns.
        protocol, transport = factory(), ClosedTransport()
        protocol.connection_made(transport)
        protocol.connection_lost(ConnectionResetError("closed by the other side"))
        return transport, protocol

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.create_connection = dial_closed_at_once  # type: ignore[method-assign,assignment]
        network.send(QuorumConnect(-7, 2))  # dialed connections have negative ids
        for _ in range(10):
            await asyncio.sleep(0)
        await network.close()

    asyncio.run(run())
    assert host.events == [("closed", -7)]
    assert -7 not in network.quorum
