"""Apache ZooKeeper's Java CLI, ``zkCli.sh``, unchanged, against a zkref process.

The scripted session's expected transcript is what Apache ZooKeeper 3.8.0 prints for the
same script (recorded on Debian's package; timestamps and session ids normalised).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import ServerProcess

ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
ZKCLI_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ZKCLI.exists() or shutil.which("java") is None,
        reason="zkCli.sh needs Debian's zookeeper package and Java (apt-get install zookeeper)",
    ),
]

SCRIPT = """\
create /zc hello
get /zc
create -e /zc/e eph
create -s /zc/s- x
create -c /cont
ls /zc
set /zc world
get -s /zc
delete /zc/e
ls -R /zc
getAcl /zc
addauth digest u:p
create /dig x auth:u:p:cdrwa
get /dig
getAcl /dig
set -v 0 /zc stale
create /zc nope
delete /zc
get /nonexistent
deleteall /zc
sync /
whoami
create -e /eph2 x
getEphemerals
quit
"""

EXPECTED = """\
WATCHER::

WatchedEvent state:SyncConnected type:None path:null
Created /zc
hello
Created /zc/e
Created /zc/s-0000000001
Created /cont
[e, s-0000000001]
world
cZxid = 0x{czxid}
ctime = T
mZxid = 0x{mzxid}
mtime = T
pZxid = 0x{pzxid}
cversion = 2
dataVersion = 1
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 5
numChildren = 2
/zc
/zc/s-0000000001
'world,'anyone
: cdrwa
Created /dig
x
'digest,'u:Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ=
: cdrwa
version No is not valid : /zc
Node already exists: /zc
Node not empty: /zc
Node does not exist: /nonexistent
Sync is OK
Auth scheme: User
ip: 127.0.0.1
digest: u
Created /eph2
[/eph2]

WATCHER::

WatchedEvent state:Closed type:None path:null
"""


def zkcli(address: str, *command: str, script: str | None = None) -> str:
    """Run zkCli.sh (one command, or a script on stdin); its output without log noise."""
    result = subprocess.run(
        [str(ZKCLI), "-server", address, *command],
        input=script or "",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # zkCli prints some answers on each: keep their order
        text=True,
        timeout=ZKCLI_TIMEOUT_S,
    )
    lines = result.stdout.splitlines()
    kept = [
        line
        for line in lines
        if not re.match(r"^\d{4}-\d\d-\d\d |^SLF4J:|^Connecting to |^Welcome to |^JLine ", line)
    ]
    return "\n".join(kept).strip("\n") + "\n"


def normalise(text: str) -> str:
    text = re.sub(r"^(ctime|mtime) = .*$", r"\1 = T", text, flags=re.M)
    return text


# zkCli's event thread prints the connection's event while its main thread may already have
# printed the first command's answer: where the block lands is a race, that it comes once is
# not.
_CONNECTED = re.compile(r"\n?WATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n")


def assert_scripted_session_matches(address: str) -> None:
    """``SCRIPT`` through zkCli.sh against ``address`` prints ``EXPECTED``."""
    output = normalise(zkcli(address, script=SCRIPT))
    zxids = dict(re.findall(r"^(cZxid|mZxid|pZxid) = 0x([0-9a-f]+)$", output, flags=re.M))
    assert set(zxids) == {"cZxid", "mZxid", "pZxid"}, output
    expected = EXPECTED.format(czxid=zxids["cZxid"], mzxid=zxids["mZxid"], pzxid=zxids["pZxid"])
    assert len(_CONNECTED.findall(output)) == 1, output
    assert _CONNECTED.sub("", output, count=1) == _CONNECTED.sub("", expected, count=1)


def test_a_scripted_session_matches_apache_zookeepers_transcript(
    zkref_process: ServerProcess,
) -> None:
    assert_scripted_session_matches(zkref_process.address)


def test_one_shot_commands(zkref_process: ServerProcess) -> None:
    address = zkref_process.address
    assert "Created /oneshot" in zkcli(address, "create", "/oneshot", "payload")
    assert "payload" in zkcli(address, "get", "/oneshot")
    zkcli(address, "set", "/oneshot", "changed")
    assert "changed" in zkcli(address, "get", "/oneshot")
    assert "oneshot" in zkcli(address, "ls", "/")
    zkcli(address, "delete", "/oneshot")
    assert "Node does not exist: /oneshot" in zkcli(address, "get", "/oneshot")


def test_containers_ttl_and_ephemeral_modes(zkref_process: ServerProcess) -> None:
    script = (
        "create -c /zkcli-container\n"
        "create -t 60000 /zkcli-ttl data\n"
        "create -e /zkcli-ephemeral\n"
        "create -s -e /zkcli-es-\n"
        "stat /zkcli-ephemeral\n"
        "ls /\n"
        "quit\n"
    )
    output = zkcli(zkref_process.address, script=script)
    assert "Created /zkcli-container" in output
    assert "Created /zkcli-ttl" in output
    assert "Created /zkcli-ephemeral" in output
    assert re.search(r"Created /zkcli-es-\d{10}", output)
    owner = re.search(r"ephemeralOwner = (0x[0-9a-f]+)", output)
    assert owner is not None and owner.group(1) != "0x0"
    after = zkcli(zkref_process.address, "ls", "/")
    assert "zkcli-ttl" in after and "zkcli-container" in after
    assert "zkcli-ephemeral" not in after  # the session that made it has closed
