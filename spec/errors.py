"""Chapter: error codes — the vocabulary every failure is spoken in.

Rules
-----
* Every reply carries one ``Code``. ``OK`` (0) is success; a non-zero code replaces the
  reply body (the reply is the header alone), except in ``multi`` whose per-op results
  carry their own codes (see ``spec.multi``).
* Codes above ``APIERROR`` (-100) are *system* errors: the request could not be judged
  (malformed, unimplemented, connection problems). Codes at or below it are *API* errors:
  the request was judged and refused (no node, bad version, no auth, ...).
* A request that makes Apache ZooKeeper's server fail with a Java exception other than a
  ``KeeperException`` (a ``NullPointerException`` on a null field the code does not expect,
  a ``ClassCastException``, an ``IOException`` from a malformed body) is answered
  MARSHALLINGERROR (``FinalRequestProcessor``/``PrepRequestProcessor`` catch ``Exception``).
  The spec raises ``MalformedRequest`` for these; the difference from a refusal matters in a
  multi, where such a failure fails the whole request instead of one sub-op.
* Some codes never cross the wire from a server: CONNECTIONLOSS, OPERATIONTIMEOUT,
  INVALIDCALLBACK and REQUESTTIMEOUT are produced inside clients. They are listed here so
  that histories recorded by clients can name them.

Source: ``org.apache.zookeeper.KeeperException.Code`` (3.8/3.9) and the C client's
``zookeeper.h``; values checked with ``javap -constants`` on the 3.8.0 jar.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """A ZooKeeper error code, as carried in ``ReplyHeader.err`` and multi results."""

    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127

    @property
    def is_api_error(self) -> bool:
        """True for codes that judge the request (at or below APIERROR)."""
        return self <= Code.APIERROR


class ZooKeeperError(Exception):
    """A rule of the spec refused a request; ``code`` is what the client is told.

    The spec raises it inside a request's preparation and turns it into a reply at the top
    of the transition function, so no rule has to thread error values by hand.
    """

    def __init__(self, code: Code, detail: str = "") -> None:
        super().__init__(f"{code.name}{': ' + detail if detail else ''}")
        self.code = code
        self.detail = detail


class MalformedRequest(ZooKeeperError):
    """A request Apache ZooKeeper's server cannot process at all: MARSHALLINGERROR.

    Raised where Apache's code meets a value it does not expect and throws something other
    than a ``KeeperException`` (see the module docstring); ``detail`` says what it met.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(Code.MARSHALLINGERROR, detail)
