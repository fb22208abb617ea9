"""The version zkref reports to clients and tools (``srvr``, ``stat``, ``mntr``, ``envi``).

zkref serves Apache ZooKeeper 3.9's observable behaviour (``spec.profiles.V3_9``). Tools that
read a server's version take the digits before the first ``-``: the conformance suite's
``spec.profiles.profile_for_version`` and kazoo's ``server_version`` both see 3.9.3 here, so
they judge zkref by the 3.9 rules; the suffix says which implementation answered.
"""

from typing import Final

ZOOKEEPER_VERSION: Final = "3.9.3-zkref"
