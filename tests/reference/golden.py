"""Helpers shared by the golden-frame capture script and the golden tests.

Golden frames live in ``data/golden_frames.json``: real bytes exchanged between Apache ZooKeeper
and real clients (kazoo, the Java client via zkCli), captured by ``capture_golden.py`` through a
loopback proxy. Each entry says what the frame is and what a decoder must find in it. The
expectations come from outside our decoder: from the arguments the capture script gave the
client and from what the client itself decoded (kazoo's ``ZnodeStat``s, created paths, session
id and password), written in the normal form below.
"""

from __future__ import annotations

import dataclasses
import json
from enum import IntEnum
from pathlib import Path
from typing import Any

GOLDEN_FRAMES_PATH = Path(__file__).parent / "data" / "golden_frames.json"

# What each "kind" of golden frame is decoded with.
KIND_CONNECT_REQUEST = "connect_request"
KIND_CONNECT_RESPONSE = "connect_response"
KIND_REQUEST = "request"
KIND_REPLY = "reply"


def normal(value: Any) -> Any:
    """A JSON-ready normal form: dataclasses become dicts of their fields, bytes become hex
    strings, tuples become lists, enums their int values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: normal(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return [normal(item) for item in value]
    if isinstance(value, IntEnum):
        return int(value)
    return value


def lookup(value: Any, dotted_path: str) -> Any:
    """``value.a.b`` for ``"a.b"``; a numeric part indexes a tuple (``"record.ops.0.type"``)."""
    for part in dotted_path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


def load_golden_frames() -> list[dict[str, Any]]:
    """The stored golden frames, in capture order."""
    document = json.loads(GOLDEN_FRAMES_PATH.read_text(encoding="utf-8"))
    frames: list[dict[str, Any]] = document["frames"]
    return frames
