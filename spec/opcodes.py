"""Chapter: opcodes and special xids — how a request names what it asks for.

Rules
-----
* Every request carries ``RequestHeader{xid, type}``; ``type`` is one of ``OpCode``.
* A few xids are reserved and mark connection-level traffic: -1 notifications (server to
  client), -2 pings, -4 auth packets, -8 setWatches/setWatches2. Any other xid is echoed
  back verbatim in the reply; servers do not check that xids are unique.
* An opcode the server does not serve (``Request.isValid``: 0, -1, 10, anything unlisted) is
  answered with UNIMPLEMENTED and the connection is closed (``UnimplementedRequestProcessor``).
  deleteContainer (20) from a client is served, and fails BADARGUMENTS (``spec.machine``).
* Which opcodes write (consume a zxid, go through the leader): create, create2,
  createContainer, createTTL, delete, setData, setACL, multi, reconfig, createSession,
  closeSession. Failed writes consume a zxid too (they are logged as error txns).

Source: ``org.apache.zookeeper.ZooDefs.OpCode``; ``ClientCnxn`` (special xids).
"""

from __future__ import annotations

from enum import IntEnum


class OpCode(IntEnum):
    """``ZooDefs.OpCode``: the request type on the wire."""

    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1


class Xid:
    """Reserved xids (``ClientCnxn``)."""

    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


WRITE_OPCODES = frozenset(
    {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
        OpCode.delete,
        OpCode.setData,
        OpCode.setACL,
        OpCode.multi,
        OpCode.reconfig,
        OpCode.createSession,
        OpCode.closeSession,
        OpCode.deleteContainer,
    }
)
