"""Chapter: paths — how znodes are named.

Rules
-----
* A path is a string of ``/``-separated names starting with ``/``; ``/`` alone is the root.
  It must not end with ``/``, must not contain an empty name (``//``) or a name that is
  exactly ``.`` or ``..`` (``.a`` and ``...`` are fine).
* Forbidden characters (checked per UTF-16 code unit, as Java strings hold them): U+0000,
  U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF and U+FFF0–U+FFFF. Because every character
  outside the Basic Multilingual Plane is stored as a surrogate pair, any such character
  (an emoji, for example) makes a path invalid; so does the private use area.
* Writes validate: create (after the sequence suffix is appended), setData, setACL and check
  reject an invalid path with BADARGUMENTS. delete only rejects a path with no ``/``, with a
  NUL, or one of the special paths; anything else it answers by lookup (NONODE).
* Reads do not validate: getData, exists, getChildren of ``/a/``, ``a`` or ``//`` are answered
  NONODE; the empty path ``""`` names the root for reads (the Java data tree keeps the root
  under both ``""`` and ``/``), but a watch set through ``""`` is registered under ``""`` and
  so never fires. exists alone refuses a path with NUL (BADARGUMENTS).
* Special paths cannot be deleted: ``/``, ``/zookeeper``, ``/zookeeper/quota``,
  ``/zookeeper/config``. The name ``zookeeper`` is documented as reserved, but creating
  below ``/zookeeper`` is allowed.
* The parent of ``/a/b`` is ``/a``; the parent of ``/a`` is ``/`` (``""`` in Java, which is
  the root).

Source: ``org.apache.zookeeper.common.PathUtils.validatePath``,
``PrepRequestProcessor.validatePathForCreate``/``getParentPathAndValidate``,
``DataTree.isSpecialPath``; programmer's guide "ZNodes".
"""

from __future__ import annotations

import re

ROOT = "/"
ZOOKEEPER = "/zookeeper"
QUOTA = "/zookeeper/quota"
CONFIG = "/zookeeper/config"
SPECIAL_PATHS = frozenset({ROOT, ZOOKEEPER, QUOTA, CONFIG})


def _utf16_units(path: str) -> list[int]:
    raw = path.encode("utf-16-be", "surrogatepass")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, len(raw), 2)]


def _forbidden(unit: int) -> bool:
    return (
        0x0001 <= unit <= 0x001F
        or 0x007F <= unit <= 0x009F
        or 0xD800 <= unit <= 0xF8FF
        or 0xFFF0 <= unit <= 0xFFFF
    )


def path_error(path: str) -> str | None:
    """Why ``path`` is invalid, or None when ``PathUtils.validatePath`` accepts it."""
    if path == "":
        return "path length must be > 0"
    if path[0] != "/":
        return "path must start with /"
    if path == "/":
        return None
    if path[-1] == "/":
        return "path must not end with /"
    units = _utf16_units(path)
    dot, slash = ord("."), ord("/")
    last = slash
    for i in range(1, len(units)):
        c = units[i]
        at_name_end = i + 1 == len(units) or units[i + 1] == slash
        if c == 0:
            return f"null character not allowed @{i}"
        if c == slash and last == slash:
            return f"empty node name specified @{i}"
        if c == dot and last == dot:
            if units[i - 2] == slash and at_name_end:
                return f"relative paths not allowed @{i}"
        elif c == dot:
            if units[i - 1] == slash and at_name_end:
                return f"relative paths not allowed @{i}"
        elif _forbidden(c):
            return f"invalid character @{i}"
        last = c
    return None


# Names of one or more characters that are all allowed (anything outside the BMP is a
# surrogate pair in Java, hence refused); "." and ".." names are checked apart.
_VALID_NAMES = re.compile("(?:/[^/\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\U0010ffff]+)+")


def is_valid_path(path: str) -> bool:
    """Whether ``path`` passes ``PathUtils.validatePath`` (fast; agrees with ``path_error``)."""
    if path == ROOT:
        return True
    if _VALID_NAMES.fullmatch(path) is None:
        return False
    if "/." not in path:
        return True
    return not any(name in (".", "..") for name in path.split("/"))


def parent_path(path: str) -> str:
    """The parent as ZooKeeper computes it: everything before the last ``/`` (root for ``/a``).

    Only meaningful for a path containing ``/``; ``/a/`` has the parent ``/a``.
    """
    parent = path[: path.rindex("/")]
    return parent if parent else ROOT


def node_name(path: str) -> str:
    """The last name of ``path`` (what getChildren lists under the parent)."""
    return path[path.rindex("/") + 1 :]


def child_path(parent: str, name: str) -> str:
    """The full path of ``name`` under ``parent``."""
    return ("" if parent == ROOT else parent) + "/" + name


def ancestors(path: str) -> list[str]:
    """Proper ancestors of a valid path, nearest first, ending with the root."""
    out: list[str] = []
    while path != ROOT:
        path = parent_path(path)
        out.append(path)
    return out


def read_lookup_key(path: str) -> str:
    """Reads look paths up unvalidated; ``""`` is the root's second name."""
    return ROOT if path == "" else path
