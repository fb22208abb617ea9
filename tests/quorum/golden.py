"""Helpers shared by the quorum capture script and the tests that read its data.

``data/golden_quorum_frames.json`` holds real bytes exchanged between the three servers of
an Apache ZooKeeper 3.8 ensemble on their election and quorum ports, recorded by
``capture_quorum_golden.py`` through loopback proxies and cut into frames with plain
``struct`` code of the script's own (not zkref's codec). Each frame says which port and
connection it came from, which way it went, the phase of the capture it belongs to, and
what the script found it to be (packet type, snapshot, initial message, notification state).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN_QUORUM_FRAMES_PATH = Path(__file__).parent / "data" / "golden_quorum_frames.json"

PORT_QUORUM = "quorum"
PORT_ELECTION = "election"

LEADER_TO_LEARNER = "leader->learner"
LEARNER_TO_LEADER = "learner->leader"
DIALER_TO_ACCEPTOR = "dialer->acceptor"
ACCEPTOR_TO_DIALER = "acceptor->dialer"

KIND_PACKET = "packet"
KIND_SNAPSHOT = "snapshot"
KIND_INITIAL_MESSAGE = "initial_message"
KIND_NOTIFICATION = "notification"


def load_golden_quorum() -> dict[str, Any]:
    """The stored capture: ``connections``, ``phases`` and ``frames`` (in capture order)."""
    document: dict[str, Any] = json.loads(GOLDEN_QUORUM_FRAMES_PATH.read_text(encoding="utf-8"))
    return document
