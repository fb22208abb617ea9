"""``zkref conformance --hosts a,b,c`` passes against both mixes of zkref and Apache
ZooKeeper 3.8 servers, as it does against an all-zkref and an all-Apache ensemble
(tests/ensemble/test_conformance.py, whose run and checks these are).

The suite reads the profile from the first server's ``srvr``: Apache's ``3.8.0`` or zkref's
``3.8.0-zkref`` (``zkref.profile=3.8`` in the shared zoo.cfg), so both mixes are held to
3.8's rules, and its clients spread over every server of the connect string. Every setting
but the ensemble's is the default (TTL nodes off, containers reaped every minute), as in the
stock runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ensemble.test_conformance import _conformance
from tests.mixed.ensemble import mixed_ensemble


@pytest.mark.parametrize("kinds", ["AAZ", "ZAA"])
def test_zkref_conformance_passes_against_a_mixed_ensemble(kinds: str, tmp_path: Path) -> None:
    with mixed_ensemble(tmp_path / kinds, kinds) as ensemble:
        _conformance(ensemble, "3.8", f"mixed {kinds}", tmp_path)
