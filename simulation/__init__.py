"""The ensemble in one process: the real replication and client code of ``reference``, N
replicas on a virtual clock, with a simulated network and simulated disks.

Imports ``spec``, ``reference`` and the conformance history and checker; never ``server``.
"""
