"""What zkref cannot do in a mixed ensemble is refused with a log line, and the Apache
servers go on without it: here, dynamic reconfiguration (``reconfigEnabled=true`` in every
zoo.cfg). An Apache leader then gives its configuration a version (``Leader.lead``: the
epoch's first zxid, ZOOKEEPER-1783) in NEWLEADER; zkref, whose configuration is the static
server.N lines (version 0), refuses to follow it rather than follow a membership that may
change under it (tests/quorum/test_mixed_refusals.py has every refusal, sans I/O).
"""

from __future__ import annotations

import time
from pathlib import Path

from kazoo.client import KazooClient

from tests.mixed.conftest import KAZOO_START_TIMEOUT_S
from tests.mixed.ensemble import APACHE, ZKREF, mixed_ensemble

REFUSED_WITHIN_S = 30.0


def test_a_zkref_server_refuses_to_follow_an_apache_leader_with_a_dynamic_configuration(
    tmp_path: Path,
) -> None:
    with mixed_ensemble(tmp_path, "AAZ", {"reconfigEnabled": "true"}) as mix:
        zkref = mix.sids_of(ZKREF)[0]
        assert mix.leader() == zkref  # its NEWLEADER said version 0: the Apache servers follow
        mix.kill(zkref)
        leader = mix.wait_formed()
        assert mix.kind_of(leader) == APACHE
        since = mix.log_size(zkref)
        mix[zkref].launch()
        deadline = time.monotonic() + REFUSED_WITHIN_S
        refusal = f"refusing leader {leader}: the leader's configuration has version"
        while refusal not in (text := mix.log_since(zkref, since)):
            assert mix[zkref].running() and time.monotonic() < deadline, text[-3000:]
            time.sleep(0.1)
        line = next(line for line in text.splitlines() if refusal in line)
        print(f"\n{line}")
        assert "it is dynamic (reconfigEnabled on the other servers)" in line
        assert mix.mode(zkref) == "not serving"
        # The Apache servers go on: a write at one is read at the other.
        apache = next(sid for sid in mix.sids_of(APACHE) if sid != leader)
        writer = KazooClient(hosts=mix[leader].address)
        reader = KazooClient(hosts=mix[apache].address)
        try:
            writer.start(timeout=KAZOO_START_TIMEOUT_S)
            reader.start(timeout=KAZOO_START_TIMEOUT_S)
            writer.create("/without-zkref", b"x")
            reader.sync("/without-zkref")
            assert reader.get("/without-zkref")[0] == b"x"
        finally:
            for client in (writer, reader):
                client.stop()
                client.close()
