"""Chapter: version profiles — where Apache ZooKeeper 3.8 and 3.9 differ as clients see it.

Rules
-----
zkref serves either profile (``zkref serve --profile 3.8|3.9``, ``V3_9`` by default) and
reports it as its version. The conformance suite holds a server to the profile of its version
(read from ``srvr``), so Apache ZooKeeper 3.8 is judged by ``V3_8``. Each field is one
observable difference:

* ``notification_zxid``: 3.8 sends watch notifications with header zxid -1; 3.9 sends the
  zxid of the transaction that triggered them (ZOOKEEPER-4655). Events re-fired by
  setWatches carry -1 in both.
* ``multi_create2_result``: in 3.8 a create2 inside multi returns a plain create result
  (path only), because the server re-derives every non-container, non-TTL create sub-op as
  create; 3.9 keeps the opcode sent, so create2 returns path and stat (ZOOKEEPER-4026).
* ``exists_checks_read``: 3.9.2+ (and 3.8.4+) refuse exists on a node without READ
  (NOAUTH, no watch set; ZOOKEEPER-2590); Debian's 3.8.0 does not check.
* ``watch_mode_set``: 3.9 keeps every watch mode a connection set on a path (standard,
  persistent, recursive) side by side, and a recursive watch lives in the data table only;
  3.8 keeps one mode per path and table, the last one set wins (ZOOKEEPER-4466), puts a
  recursive watch in both tables (so it can displace a standard child watch), and
  removeWatches/checkWatches of type Data/Children act on any mode.
* ``multi_rejects_bad_create_flags``: 3.9 refuses a multi whose create sub-op has flags that
  are no create mode while reading it (MARSHALLINGERROR); 3.8 reads it and fails that
  sub-op with BADARGUMENTS like any failed sub-op. A createTTL sub-op is read alike in
  both: ``Op.create(..., flags, ttl)`` falls back to a plain create, which then fails
  BADARGUMENTS (``MultiOperationRecord.deserialize``).
* ``persistent_watcher_types``: removeWatches/checkWatches accept types 4 (Persistent) and 5
  (PersistentRecursive) from 3.9 (ZOOKEEPER-4472); 3.8 fails them with MARSHALLINGERROR.
* ``ipv6_acl``: ``ip:`` ACLs understand IPv6 addresses in 3.9's provider; 3.8 only IPv4.
* ``null_path_watch_breaks_modes``: a watch on the null path (addWatch, or setWatches2's
  persistent lists, with a null path; no client library sends one) is a key like any other
  in 3.9's watch manager (ZOOKEEPER-4466: hash maps, which take null). 3.8 keeps each
  watch's mode under a (connection, path) key whose ``equals`` fails on a null path: a
  connection can put one null-path watch in each table; adding another, or removing it, then
  fails MARSHALLINGERROR. Read in the source of both; checked against a real 3.8 only.
* ``check_watches_walks_parents``: 3.8's checkWatches (``WatchManager.containsWatcher``)
  walks the path and its parents (``PathParentIterator``), which works out each parent
  before it looks: a path without ``/`` (``a``) fails (MARSHALLINGERROR), ``""`` is never
  looked at (NOWATCHER), and the null path fails. 3.9 looks the path up in a map.

Both profiles filter watch events by the watcher's READ permission at delivery
(CVE-2024-23944, backported into Debian's 3.8.0), and both answer a standalone ``check``
(outside multi) with UNIMPLEMENTED and close the connection, as 3.8.5/3.9.3 do; 3.8.0 sent
no reply and logged a transaction it could not replay (ZOOKEEPER-2623), a bug no client can
rely on, so it is not modelled (see ``DIVERGENCES.md``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    """The observable behaviour of one Apache ZooKeeper release line."""

    name: str
    notification_zxid: bool
    multi_create2_result: bool
    exists_checks_read: bool
    watch_mode_set: bool
    persistent_watcher_types: bool
    ipv6_acl: bool
    multi_rejects_bad_create_flags: bool
    null_path_watch_breaks_modes: bool
    check_watches_walks_parents: bool


V3_8 = Profile(
    name="3.8",
    notification_zxid=False,
    multi_create2_result=False,
    exists_checks_read=False,
    watch_mode_set=False,
    persistent_watcher_types=False,
    ipv6_acl=False,
    multi_rejects_bad_create_flags=False,
    null_path_watch_breaks_modes=True,
    check_watches_walks_parents=True,
)

V3_9 = Profile(
    name="3.9",
    notification_zxid=True,
    multi_create2_result=True,
    exists_checks_read=True,
    watch_mode_set=True,
    persistent_watcher_types=True,
    ipv6_acl=True,
    multi_rejects_bad_create_flags=True,
    null_path_watch_breaks_modes=False,
    check_watches_walks_parents=False,
)

PROFILES = {p.name: p for p in (V3_8, V3_9)}


def profile_for_version(version: str) -> Profile:
    """The profile of a server version string such as ``3.8.0-...`` (from ``srvr``)."""
    major_minor = ".".join(version.strip().split("-")[0].split(".")[:2])
    if major_minor in PROFILES:
        return PROFILES[major_minor]
    parts = major_minor.split(".")
    if (
        len(parts) == 2
        and parts[0].isdigit()
        and parts[1].isdigit()
        and (int(parts[0]), int(parts[1])) > (3, 9)
    ):
        return V3_9
    return V3_8
