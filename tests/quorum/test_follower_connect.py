"""How a follower connects to the leader it elected (``reference.quorum.follower``): a
connection closed before the leader said anything is a failed connect, retried as Apache's
``Learner.LeaderConnector`` retries a refused one; once the leader has spoken, a close means
the leader is gone."""

from __future__ import annotations

import pytest

from reference.core import ZooKeeperCore
from reference.quorum.follower import (
    CONNECT_RETRY_DELAY_MS,
    CONNECT_TRIES_MAX,
    Follower,
    FollowerPhase,
    GiveUp,
)
from reference.quorum.messages import QuorumConnect, QuorumSend
from reference.quorum.peer import PeerConfig, QuorumPeer
from reference.quorum.wire import PacketType, QuorumPacket
from reference.quorum.wire_payloads import ZAB_PROTOCOL_VERSION, LeaderInfo
from spec.state import Config
from spec.zxid import Zxid

NOW = 1_000_000


def _follower() -> tuple[QuorumPeer, Follower]:
    config = PeerConfig(1, (1, 2, 3), tick_time_ms=2000)
    peer = QuorumPeer(config, ZooKeeperCore(Config(tick_time_ms=2000, server_id=1), NOW), NOW, 0, 0)
    peer.ready()  # the election's first notifications
    follower = Follower(peer, 2, peer.new_quorum_conn(), NOW)
    return peer, follower


def _dials(peer: QuorumPeer) -> list[QuorumConnect]:
    return [s for s in peer.ready().send if isinstance(s, QuorumConnect)]


def test_a_connection_the_leader_closes_before_it_speaks_is_retried_like_a_refused_one() -> None:
    # The server we elected accepted the connection but had not finished its own election
    # (it closes what it does not lead): a failed connect, not a lost leader.
    peer, follower = _follower()
    (first,) = _dials(peer)
    now = NOW
    for attempt in range(1, CONNECT_TRIES_MAX):
        follower.connected(now)
        sent = [s for s in peer.ready().send if isinstance(s, QuorumSend)]
        assert [s.packet.type for s in sent if isinstance(s.packet, QuorumPacket)] == [
            PacketType.FOLLOWERINFO
        ]
        follower.connection_failed(now)
        assert follower.phase == FollowerPhase.CONNECTING
        assert follower.retry_at_ms == now + CONNECT_RETRY_DELAY_MS
        now += CONNECT_RETRY_DELAY_MS
        follower.on_tick(now)
        (dial,) = _dials(peer)
        assert dial.leader == 2 and dial.conn == follower.conn != first.conn
        assert follower.tries == attempt + 1
    follower.connected(now)
    with pytest.raises(GiveUp, match="cannot connect to leader 2"):
        follower.connection_failed(now)


def test_a_leader_that_closes_after_it_spoke_is_gone() -> None:
    _, follower = _follower()
    follower.connected(NOW)
    leader_info = LeaderInfo(ZAB_PROTOCOL_VERSION).encode()
    follower.received(QuorumPacket(PacketType.LEADERINFO, Zxid.first_of(1), leader_info, None), NOW)
    assert follower.phase == FollowerPhase.SYNC_WAIT
    with pytest.raises(GiveUp, match="the leader closed the connection"):
        follower.connection_failed(NOW)
