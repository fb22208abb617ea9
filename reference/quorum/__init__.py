"""ZooKeeper's replication (ZAB with fast leader election), sans I/O.

Election, discovery, synchronization and broadcast as state machines: messages, ticks and
durability completions in; messages to send, things to persist and client outputs out. The
server (``server/``) and the simulator drive the same code.
"""
