"""Record the four-letter words of a real three-server Apache ZooKeeper 3.8. NOT run in CI.

What it does, all on 127.0.0.1 and on free ports only:

1. starts three Apache ZooKeeper servers as one ensemble (``tests.conformance.servers``'
   ``EnsembleMember``: 200 ms ticks, every four-letter word enabled) and waits until exactly
   one says ``Mode: leader`` and the others ``Mode: follower``;
2. opens one session at a follower and makes the state every word has something to show:
   ``/a`` (persistent, watched by the session) and ``/e`` (ephemeral);
3. asks each server every four-letter word but ``stmk`` and ``envi`` (``crst`` and ``srst``
   last: they reset counters the others print);
4. stops the two other servers and, once the first one says it is not serving (it looks for
   a leader), asks it every word again;
5. writes ``data/apache_ensemble_fourletter.json``: the answers by role (``leader``,
   ``follower_with_session``, ``follower``, ``not_serving``), each server's ports and
   role, and stops every process it started, by PID, whatever happened.

``tests/server/test_fourletter_ensemble.py`` holds zkref's answers to this recording.

Usage: ``python -m tests.server.capture_fourletter_ensemble [--out PATH]`` from the
repository root. Needs Java and the Debian ``zookeeper`` package.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from conformance.nemesis import HOST, free_port
from tests.support.ensemble import ApacheMember as EnsembleMember
from tests.support.rawclient import connected, four_letter_word

RECORDING_PATH = Path(__file__).parent / "data" / "apache_ensemble_fourletter.json"
# Every word but stmk (it sets the trace mask) and envi (the JVM's class path and the
# machine's names: nothing zkref prints the same).
WORDS = (
    "srvr",
    "stat",
    "mntr",
    "conf",
    "cons",
    "dump",
    "wchs",
    "wchc",
    "wchp",
    "dirs",
    "ruok",
    "isro",
    "gtmk",
    "crst",
    "srst",
)
NOT_SERVING_WAIT_S = 30.0


def _mode(port: int) -> str:
    for line in four_letter_word(HOST, port, "srvr").splitlines():
        if line.startswith("Mode: "):
            return line.removeprefix("Mode: ")
    return ""


def _ask_all(port: int) -> dict[str, str]:
    return {word: four_letter_word(HOST, port, word) for word in WORDS}


def capture(home: Path) -> dict[str, object]:
    members = {sid: (free_port(), free_port()) for sid in (1, 2, 3)}
    nodes = [EnsembleMember(home / f"server-{sid}", sid, members) for sid in members]
    with ExitStack() as stack:
        for node in nodes:
            stack.callback(node.stop)
        with ThreadPoolExecutor(len(nodes)) as pool:
            failures = [f.exception() for f in [pool.submit(n.start) for n in nodes]]
        if any(failures):
            raise RuntimeError(f"the ensemble did not form: {failures}")
        roles = {node.sid: _mode(node.port) for node in nodes}
        assert sorted(roles.values()) == ["follower", "follower", "leader"], roles
        leader = next(n for n in nodes if roles[n.sid] == "leader")
        with_session, follower = [n for n in nodes if n is not leader]
        answers: dict[str, dict[str, str]] = {}
        with connected(HOST, with_session.port) as client:
            assert client.create("/a", b"x").header.err == 0
            assert client.create("/e", b"", flags=1).header.err == 0
            assert client.get_data("/a", watch=True).header.err == 0
            answers["leader"] = _ask_all(leader.port)
            answers["follower_with_session"] = _ask_all(with_session.port)
            answers["follower"] = _ask_all(follower.port)
        alone = follower
        for node in nodes:
            if node is not alone:
                node.stop()
        deadline = time.monotonic() + NOT_SERVING_WAIT_S
        while not four_letter_word(HOST, alone.port, "srvr").startswith("This ZooKeeper"):
            assert time.monotonic() < deadline, "the last server kept serving"
            time.sleep(0.1)
        answers["not_serving"] = _ask_all(alone.port)
    return {
        "about": "Apache ZooKeeper 3.8 ensemble of three, four-letter words by role "
        "(tests/server/capture_fourletter_ensemble.py)",
        "servers": {
            str(n.sid): {
                "role": roles[n.sid],
                "client_port": n.port,
                "quorum_port": members[n.sid][0],
                "election_port": members[n.sid][1],
            }
            for n in nodes
        },
        "answers": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RECORDING_PATH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zkref-4lw-capture-") as home:
        recording = capture(Path(home))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(recording, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
