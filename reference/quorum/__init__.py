"""zkref's ensemble: ZooKeeper's replication protocol and wire formats, sans-IO.

The ``wire*``, ``election_wire`` and ``apache_*`` modules are codecs of Apache ZooKeeper's
formats (no sockets, no clock, no threads, no files); the protocol logic that uses them
lives beside them.
"""
