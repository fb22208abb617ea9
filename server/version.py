"""The version zkref reports to clients and tools (``srvr``, ``stat``, ``mntr``, ``envi``).

zkref serves the observable behaviour of one Apache ZooKeeper release line, chosen by the
operator (``zkref serve --profile 3.8|3.9``, zoo.cfg ``zkref.profile``; 3.9 by default). Tools
that read a server's version take the digits before the first ``-``: the conformance suite's
``spec.profiles.profile_for_version`` and kazoo's ``server_version`` both see the profile's
release here, so they judge zkref by that line's rules; the suffix says which implementation
answered.

* ``3.9`` reports ``3.9.3-zkref``: 3.9.3 is the release whose behaviour ``spec.profiles.V3_9``
  describes (exists checks READ, standalone ``check`` is UNIMPLEMENTED).
* ``3.8`` reports ``3.8.0-zkref``: ``V3_8`` is what Debian's 3.8.0 shows clients (exists does
  not check READ, which 3.8.4 added), the release the conformance suite is proven against.
"""

from typing import Final

from spec.profiles import Profile

_VERSIONS: Final = {"3.8": "3.8.0-zkref", "3.9": "3.9.3-zkref"}

# The version of the default profile (3.9), for ``zkref --version``.
ZOOKEEPER_VERSION: Final = _VERSIONS["3.9"]


def version_for(profile: Profile) -> str:
    """The version string a server on ``profile`` reports."""
    return _VERSIONS[profile.name]
