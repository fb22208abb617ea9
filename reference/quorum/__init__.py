"""ZooKeeper's replication (ZAB with fast leader election), sans I/O.

Election, discovery, synchronization and broadcast as state machines: messages, ticks and
durability completions in; messages to send, things to persist and client outputs out. The
server (``server/``) and the simulator drive the same code.

The ``wire*``, ``election_wire`` and ``apache_*`` modules are codecs of Apache ZooKeeper's
formats (no sockets, no clock, no threads, no files), so that zkref and Apache ZooKeeper
servers speak the same protocol; the protocol logic that uses them lives beside them.
"""
