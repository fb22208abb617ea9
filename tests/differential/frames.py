"""Mutated client frames for the raw-frame fuzzer (``test_frames_against_apache.py``).

A request is built as a list of jute *fields* (``Int``, ``Long``, ``Bool``, ``Str`` for
ustrings and buffers, ``Count`` for vector counts, ``Raw``), so that mutations can aim at
what the wire means: a length set to -1 (null) or to another negative or too large value, a
vector count changed under its elements, an int or a flag swapped for an odd value, a
string swapped for an odd path, the frame cut short or given trailing bytes, the opcode or
the xid changed. Many cases are well formed with odd values (ACLs with null or unknown ids,
create flags, versions, watcher types, multi sub-ops, setWatches lists, auth packets);
the rest are broken on purpose.

``CaseGenerator(seed)`` is deterministic: the same seed gives the same cases, whatever the
servers answer. Frames that would crash or corrupt Apache ZooKeeper 3.8.0 are never
produced (``poison``): they are the deliberate differences 1, 2 and 3 of
``spec/DIVERGENCES.md``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from reference.jute import (
    AddWatchRequest,
    CreateTTLRequest,
    JuteError,
    Request,
    SetWatches2,
    UnknownRequest,
    decode_request,
)
from spec.opcodes import OpCode

INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
JUTE_MAXBUFFER: Final = 0xFFFFF

FUZZ_ROOT: Final = "/fz"
# Znodes the fixture creates under the fuzz root (``FIXTURE``), and paths cases aim at. None
# of them is ever the parent of a container or a TTL node that could become empty: reaping
# is timed by the server's clock, which the fuzzer cannot see.
PATHS: Final = (
    "/fz/a",
    "/fz/a",
    "/fz/a/b",
    "/fz/ro",
    "/fz/acl",
    "/fz/n",
    "/fz/n/m",
    "/fz/s-",
    "/fz/e",
    "/fz/x",
)
ODD_PATHS: Final[tuple[str | bytes, ...]] = (
    "",
    "/",
    "fz",
    "/fz/",
    "/fz//a",
    "/fz/./a",
    "/fz/a/..",
    "/zookeeper",
    "/zookeeper/config",
    "/fz/\x00",
    "/fz/\u00e9",
    "/fz/\ufffd",
    "/fz/\x7f",
    b"/fz/\xff\xfe",
    b"/fz/\xed\xa0\x80",
)
# Containers and TTL nodes are created only at these leaves (the generator rewrites a
# container or TTL create to one of them).
LEAVES_FOR_REAPED: Final = ("/fz/leaf1", "/fz/leaf2", "/fz/leaf3")
DATA: Final[tuple[bytes | None, ...]] = (None, b"", b"x", b"\x00" * 3, b"data")
DIGEST_ID: Final = "user:smGaoVKd/cQkjm7b88GyorAUz20="  # digest of user:password
ACL_ENTRIES: Final[tuple[tuple[int, str | None, str | None], ...]] = (
    (31, "world", "anyone"),
    (31, "world", "anyone"),
    (1, "world", "anyone"),
    (31, "auth", ""),
    (31, "auth", None),  # kazoo's CREATOR_ALL_ACL
    (31, "digest", DIGEST_ID),
    (31, "digest", "nocolon"),
    (7, "ip", "127.0.0.1"),
    (31, "ip", "127.0.0.0/8"),
    (31, "ip", "10.0.0.0/33"),
    (31, "ip", "::1"),
    (31, "world", "bob"),
    (31, "foo", "bar"),
    (31, "super", ""),
    (31, "sasl", "me"),
    (31, None, "anyone"),
    (31, None, None),
    (31, "world", None),
    (31, "digest", None),
    (31, "ip", None),
    (31, "foo", None),
    (0, "world", "anyone"),
    (32, "world", "anyone"),
    (-1, "world", "anyone"),
)
FLAGS: Final = (0, 0, 1, 2, 3, 4, 5, 6, 7, -1, 9, INT_MAX)
VERSIONS: Final = (-1, -1, 0, 1, 2, -2, INT_MIN, INT_MAX)
TTLS: Final = (-1, 0, 1 << 32, 1 << 40, -5)  # never a small valid TTL: it would be reaped
WATCHER_TYPES: Final = (1, 2, 3, 4, 5, 0, 6, -1, 99)
ADD_WATCH_MODES: Final = (0, 1, 0, 1, 2, -1)
AUTH_SCHEMES: Final[tuple[str | None, ...]] = ("digest", "digest", "ip", "world", "foo", None)
AUTH_DATA: Final[tuple[bytes | None, ...]] = (b"user:password", b"other:secret", b"u", b"", None)
ODD_OPCODES: Final = (0, -1, 10, 20, 23, 99, 108, 1000, -12, INT_MIN)
ODD_XIDS: Final = (-1, -2, -4, -8, 0, INT_MIN, INT_MAX)
INTERESTING_INTS: Final = (-1, 0, 1, 2, -2, 7, 31, 255, INT_MIN, INT_MAX)
BAD_LENGTHS: Final = (-2, -3, -100, INT_MIN, INT_MAX, JUTE_MAXBUFFER * 3)

# The fixture: (path, data, ACL entries, flags), created in order before the first case.
FIXTURE: Final[tuple[tuple[str, bytes | None, tuple[tuple[int, str, str], ...], int], ...]] = (
    (FUZZ_ROOT, b"root", ((31, "world", "anyone"),), 0),
    ("/fz/a", b"a", ((31, "world", "anyone"),), 0),
    ("/fz/a/b", None, ((31, "world", "anyone"),), 0),
    ("/fz/ro", b"ro", ((1, "world", "anyone"),), 0),
    ("/fz/acl", b"secret", ((31, "digest", DIGEST_ID), (1, "world", "anyone")), 0),
    ("/fz/n", b"", ((31, "world", "anyone"),), 0),
)


# --- fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Int:
    value: int


@dataclass(frozen=True)
class Long:
    value: int


@dataclass(frozen=True)
class Bool:
    value: int  # the byte sent: any non-zero is true


@dataclass(frozen=True)
class Str:
    """A ustring or buffer: ``None`` is null; ``length`` overrides the length prefix."""

    value: bytes | None
    length: int | None = None


@dataclass(frozen=True)
class Count:
    """A vector's element count (the elements are the fields that follow)."""

    value: int


@dataclass(frozen=True)
class Raw:
    value: bytes


Field = Int | Long | Bool | Str | Count | Raw

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


def _text(value: str | bytes | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


def encode_fields(fields: Sequence[Field]) -> bytes:
    out = bytearray()
    for f in fields:
        if isinstance(f, (Int, Count)):
            out += _INT.pack(f.value)
        elif isinstance(f, Long):
            out += _LONG.pack(f.value)
        elif isinstance(f, Bool):
            out.append(f.value & 0xFF)
        elif isinstance(f, Str):
            if f.value is None:
                out += _INT.pack(-1 if f.length is None else f.length)
            else:
                out += _INT.pack(len(f.value) if f.length is None else f.length)
                out += f.value
        else:
            out += f.value
    return bytes(out)


def ustring(value: str | bytes | None) -> Str:
    """A ustring field (``None``: null)."""
    return Str(_text(value))


def acl_fields(entries: Sequence[tuple[int, str | None, str | None]] | None) -> list[Field]:
    if entries is None:
        return [Count(-1)]
    out: list[Field] = [Count(len(entries))]
    for perms, scheme, ident in entries:
        out += [Int(perms), ustring(scheme), ustring(ident)]
    return out


def multi_header(op_type: int, done: int = 0, err: int = -1) -> list[Field]:
    return [Int(op_type), Bool(done), Int(err)]


# --- cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFrame:
    """One request frame: header and body fields, then whole-payload edits."""

    xid: int
    opcode: int
    fields: tuple[Field, ...]
    cut: int | None = None  # keep only this many body bytes
    trailing: bytes = b""

    def payload(self) -> bytes:
        body = encode_fields(self.fields)
        if self.cut is not None:
            body = body[: self.cut]
        return _INT.pack(self.xid) + _INT.pack(self.opcode) + body + self.trailing


@dataclass(frozen=True)
class Case:
    """What the fuzzer sends in one step.

    ``kind``: ``request`` (frames on the main connection), ``frame`` (raw bytes on the main
    connection, the length prefix included), ``connect`` (a ConnectRequest on a connection
    of its own; ``session`` says which session id it names).
    """

    index: int
    kind: str
    label: str
    mutations: tuple[str, ...]
    data: bytes  # request: the payload; frame: raw bytes; connect: the ConnectRequest payload
    opcode: int = 0
    session: str = ""  # connect: new, main, main-bad-password, main-null-password, unknown
    # request: more requests sent after ``data``, each after the one before was answered
    then: tuple[tuple[int, bytes], ...] = ()
    # the client closes the connection after the case (see ``watches_null_path``)
    drop_connection: bool = False


def frame(payload: bytes) -> bytes:
    return _INT.pack(len(payload)) + payload


def watches_null_path(payload: bytes) -> bool:
    """Whether this request may leave a watch on the null path (addWatch, or setWatches2's
    persistent lists, with a null path).

    Apache 3.8 never closes a connection that holds one: closing it fails on the null path
    (``spec/DIVERGENCES.md`` 10) and leaves the socket open and unserved. So the fuzzer
    closes such a connection itself, from the client side, after the case.
    """
    try:
        request = decode_request(payload)
    except JuteError:
        return False
    record = request.record if isinstance(request, Request) else None
    if isinstance(record, AddWatchRequest):
        return record.path is None
    if isinstance(record, SetWatches2):
        lists = (record.persistentWatches, record.persistentRecursiveWatches)
        return any(None in paths for paths in lists if paths)
    return False


def poison(payload: bytes) -> str | None:
    """Why Apache ZooKeeper 3.8.0 must not be sent this request frame, or None.

    * opcode 13 (check) outside a multi: no reply, and a txn log the server cannot replay
      (``spec/DIVERGENCES.md`` 1);
    * createTTL (21) with a create mode that is no TTL mode and a negative TTL: passes
      request preparation and then kills the server while it applies the txn (2);
    * createSession (-10) from a client: a second ConnectResponse on the connection (3).
    """
    try:
        request = decode_request(payload)
    except JuteError as error:
        header = error.request_header
        return "check outside multi" if header and header.type == OpCode.check else None
    opcode = request.header.type
    if opcode == OpCode.check:
        return "check outside multi"
    if isinstance(request, UnknownRequest):
        return "createSession from a client" if opcode == OpCode.createSession else None
    assert isinstance(request, Request)
    record = request.record
    if (
        opcode == OpCode.createTTL
        and isinstance(record, CreateTTLRequest)
        and record.flags in (0, 1, 2, 3, 4)
        and record.ttl < 0
    ):
        return "createTTL of a mode without TTL, negative TTL"
    return None


@dataclass
class CaseGenerator:
    """Seeded cases: ``next_case()`` forever, the same sequence for the same seed."""

    seed: int
    rng: random.Random = field(init=False)
    index: int = 0
    xid: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # --- vocabulary ----------------------------------------------------------------------

    def path(self) -> Str:
        r = self.rng.random()
        if r < 0.72:
            return ustring(self.rng.choice(PATHS))
        if r < 0.95:
            return ustring(self.rng.choice(ODD_PATHS))
        return Str(None)

    def acl(self) -> list[Field]:
        r = self.rng.random()
        if r < 0.45:
            return acl_fields([(31, "world", "anyone")])
        if r < 0.50:
            return acl_fields(None)
        if r < 0.55:
            return acl_fields([])
        count = self.rng.choice((1, 1, 1, 2, 2, 3))
        return acl_fields([self.rng.choice(ACL_ENTRIES) for _ in range(count)])

    def data(self) -> Str:
        return Str(self.rng.choice(DATA))

    def flags(self) -> int:
        return self.rng.choice(FLAGS) if self.rng.random() < 0.5 else 0

    def version(self) -> int:
        return self.rng.choice(VERSIONS)

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    # --- request bodies ------------------------------------------------------------------

    def create_fields(self, flags: int, ttl: bool) -> list[Field]:
        path = self.path()
        if flags in (4, 5, 6) and path.value is not None:
            path = ustring(self.rng.choice(LEAVES_FOR_REAPED))
        fields: list[Field] = [path, self.data(), *self.acl(), Int(flags)]
        if ttl:
            fields.append(Long(self.rng.choice(TTLS)))
        return fields

    def sub_op(self, reads: bool) -> list[Field]:
        if reads:
            op_type = self.rng.choice((OpCode.getData, OpCode.getChildren))
            return [*multi_header(op_type), self.path(), Bool(self.rng.choice((0, 1)))]
        op_type = self.rng.choice(
            (
                OpCode.create,
                OpCode.create,
                OpCode.create2,
                OpCode.createContainer,
                OpCode.createTTL,
                OpCode.delete,
                OpCode.setData,
                OpCode.check,
            )
        )
        if op_type in (OpCode.create, OpCode.create2, OpCode.createContainer):
            flags = 4 if op_type == OpCode.createContainer else self.flags()
            return multi_header(op_type) + self.create_fields(flags, False)
        if op_type == OpCode.createTTL:
            flags = self.rng.choice((5, 6, 0))
            return multi_header(op_type) + self.create_fields(flags, True)
        if op_type == OpCode.delete:
            return [*multi_header(op_type), self.path(), Int(self.version())]
        if op_type == OpCode.setData:
            return [*multi_header(op_type), self.path(), self.data(), Int(self.version())]
        return [*multi_header(op_type), self.path(), Int(self.version())]

    def multi_fields(self, reads: bool) -> list[Field]:
        fields: list[Field] = []
        for _ in range(self.rng.choice((0, 1, 1, 2, 2, 3))):
            mixed = reads if self.rng.random() < 0.9 else not reads
            fields += self.sub_op(mixed)
        return fields + multi_header(-1, 1)

    def watch_list(self) -> list[Field]:
        r = self.rng.random()
        if r < 0.08:
            return [Count(-1)]
        if r < 0.12:
            return [Count(self.rng.choice((-2, -9)))]
        items = [self.path() for _ in range(self.rng.choice((0, 0, 1, 1, 2)))]
        return [Count(len(items)), *items]

    def body(self, opcode: int) -> tuple[int, list[Field]]:
        """A (xid, fields) for ``opcode``, well formed, with odd values now and then."""
        rng = self.rng
        xid = self.next_xid()
        if opcode in (OpCode.create, OpCode.create2, OpCode.createContainer):
            flags = 4 if opcode == OpCode.createContainer else self.flags()
            return xid, self.create_fields(flags, False)
        if opcode == OpCode.createTTL:
            return xid, self.create_fields(rng.choice((5, 6, 5, 0, 1, 4, 9)), True)
        if opcode == OpCode.delete:
            return xid, [self.path(), Int(self.version())]
        if opcode in (OpCode.exists, OpCode.getData, OpCode.getChildren, OpCode.getChildren2):
            return xid, [self.path(), Bool(rng.choice((0, 1, 1, 2)))]
        if opcode == OpCode.setData:
            return xid, [self.path(), self.data(), Int(self.version())]
        if opcode in (OpCode.getACL, OpCode.sync, OpCode.getAllChildrenNumber):
            return xid, [self.path()]
        if opcode == OpCode.getEphemerals:
            return xid, [ustring(rng.choice(("/fz", "", "/", "/fz/e", None)))]
        if opcode == OpCode.setACL:
            return xid, [self.path(), *self.acl(), Int(self.version())]
        if opcode in (OpCode.multi, OpCode.multiRead):
            return xid, self.multi_fields(reads=opcode == OpCode.multiRead)
        if opcode in (OpCode.checkWatches, OpCode.removeWatches):
            return xid, [self.path(), Int(rng.choice(WATCHER_TYPES))]
        if opcode == OpCode.addWatch:
            return xid, [self.path(), Int(rng.choice(ADD_WATCH_MODES))]
        if opcode in (OpCode.setWatches, OpCode.setWatches2):
            lists = 3 if opcode == OpCode.setWatches else 5
            fields: list[Field] = [Long(rng.choice((0, 0, 1, 5, 1 << 40, -1)))]
            for _ in range(lists):
                fields += self.watch_list()
            return -8, fields
        if opcode == OpCode.auth:
            return -4, [
                Int(rng.choice((0, 0, 0, 5))),
                ustring(rng.choice(AUTH_SCHEMES)),
                Str(rng.choice(AUTH_DATA)),
            ]
        if opcode == OpCode.sasl:
            return xid, [Str(rng.choice((b"token", b"", None)))]
        if opcode == OpCode.reconfig:
            return xid, [
                ustring(rng.choice((None, "", "server.5=h:1:2;3"))),
                ustring(rng.choice((None, "", "1"))),
                ustring(rng.choice((None, "", "server.1=h:1:2"))),
                Long(rng.choice((-1, 0, 1))),
            ]
        if opcode == OpCode.ping:
            return -2, []
        if opcode == OpCode.deleteContainer:
            return xid, [Raw(b"/fz/leaf1")]
        return xid, []  # closeSession, whoAmI, and opcodes without a body

    # --- mutations -----------------------------------------------------------------------

    def mutate(self, request: RequestFrame, names: list[str]) -> RequestFrame:
        rng = self.rng
        fields = list(request.fields)
        strings = [i for i, f in enumerate(fields) if isinstance(f, Str)]
        counts = [i for i, f in enumerate(fields) if isinstance(f, Count)]
        numbers = [i for i, f in enumerate(fields) if isinstance(f, (Int, Long, Bool))]
        choice = rng.random()
        if choice < 0.22 and strings:
            i = rng.choice(strings)
            fields[i] = Str(None)
            names.append("null string")
        elif choice < 0.32 and strings:
            i = rng.choice(strings)
            old = fields[i]
            assert isinstance(old, Str)
            fields[i] = replace(old, length=rng.choice((*BAD_LENGTHS, -1)))
            names.append("bad length")
        elif choice < 0.42 and counts:
            i = rng.choice(counts)
            old_count = fields[i]
            assert isinstance(old_count, Count)
            new = rng.choice((-1, -2, -5, INT_MIN, old_count.value + 1, old_count.value - 1, 0))
            fields[i] = Count(new)
            names.append("vector count")
        elif choice < 0.55 and numbers:
            i = rng.choice(numbers)
            number = fields[i]
            if isinstance(number, Bool):
                fields[i] = Bool(rng.choice((0, 1, 2, 255)))
            elif isinstance(number, Long):
                fields[i] = Long(rng.choice((0, -1, 1, 2**63 - 1, -(2**63), 1 << 40)))
            else:
                fields[i] = Int(rng.choice(INTERESTING_INTS))
            names.append("number")
        elif choice < 0.62 and strings:
            i = rng.choice(strings)
            fields[i] = ustring(rng.choice(ODD_PATHS))
            names.append("odd string")
        elif choice < 0.72:
            body = len(encode_fields(fields))
            names.append("truncated")
            return replace(request, fields=tuple(fields), cut=rng.randrange(0, max(body, 1)))
        elif choice < 0.78:
            names.append("trailing bytes")
            extra = bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 8))))
            return replace(request, fields=tuple(fields), trailing=request.trailing + extra)
        elif choice < 0.86:
            names.append("other opcode")
            opcodes = [int(op) for op in OpCode if op not in (OpCode.check, OpCode.createSession)]
            return replace(request, opcode=rng.choice(opcodes + list(ODD_OPCODES)))
        elif choice < 0.92:
            names.append("xid")
            return replace(request, xid=rng.choice(ODD_XIDS))
        elif fields:
            i = rng.randrange(len(fields))
            names.append("field dropped" if rng.random() < 0.5 else "field doubled")
            if names[-1] == "field dropped":
                del fields[i]
            else:
                fields.insert(i, fields[i])
        return replace(request, fields=tuple(fields))

    # --- the next case -------------------------------------------------------------------

    def next_case(self) -> Case:
        while True:
            case = self._draw()
            if case.kind != "request":
                return case
            payloads = (case.data, *(p for _, p in case.then))
            why = next((w for w in map(poison, payloads) if w is not None), None)
            if why is None:
                drop = any(watches_null_path(p) for p in payloads)
                return replace(case, drop_connection=drop)
            self.skipped[why] = self.skipped.get(why, 0) + 1

    def _draw(self) -> Case:
        self.index += 1
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            return self._frame_case()
        if r < 0.09:
            return self._connect_case()
        if r < 0.11:
            return self._null_path_watch_case()
        opcode = rng.choice(_OPCODE_WEIGHTS)
        xid, fields = self.body(opcode)
        request = RequestFrame(xid, opcode, tuple(fields))
        names: list[str] = []
        for _ in range(rng.choice((0, 0, 0, 1, 1, 1, 2, 3))):
            request = self.mutate(request, names)
        label = _opcode_name(opcode)
        if request.opcode != opcode:
            label += f" as {_opcode_name(request.opcode)}"
        return Case(self.index, "request", label, tuple(names), request.payload(), request.opcode)

    def _null_path_watch_case(self) -> Case:
        """A watch on the null path, then what 3.8 does with the next request about it."""
        rng = self.rng
        first = self._watch_request(rng.choice(("addWatch", "setWatches2")))
        then = tuple(
            self._watch_request(rng.choice(("addWatch", "setWatches2", "remove", "check")))
            for _ in range(rng.choice((1, 1, 2)))
        )
        return Case(
            self.index, "request", "watches on the null path", (), first[1], first[0], then=then
        )

    def _watch_request(self, kind: str) -> tuple[int, bytes]:
        rng = self.rng
        null = Str(None)
        fields: list[Field]
        if kind == "addWatch":
            opcode, fields = OpCode.addWatch, [null, Int(rng.choice((0, 1)))]
        elif kind == "setWatches2":
            opcode = OpCode.setWatches2
            persistent = [Count(1), null] if rng.random() < 0.5 else [Count(0)]
            recursive = [Count(1), null] if rng.random() < 0.5 else [Count(0)]
            fields = [Long(0), Count(0), Count(0), Count(0), *persistent, *recursive]
        else:
            opcode = OpCode.removeWatches if kind == "remove" else OpCode.checkWatches
            fields = [null, Int(rng.choice((1, 2, 3)))]
        return opcode, RequestFrame(self.next_xid(), opcode, tuple(fields)).payload()

    def _frame_case(self) -> Case:
        rng = self.rng
        xid = self.next_xid()
        payload = struct.pack(">ii", xid, OpCode.getData) + encode_fields([ustring("/fz"), Bool(0)])
        kind = rng.choice(("negative", "too long", "empty", "short header"))
        if kind == "negative":
            data = _INT.pack(rng.choice((-1, -2, INT_MIN))) + payload
        elif kind == "too long":
            data = _INT.pack(rng.choice((JUTE_MAXBUFFER + 1, INT_MAX))) + payload
        elif kind == "empty":
            data = _INT.pack(0) + payload
        else:
            cut = rng.randrange(0, 8)
            data = frame(payload[:cut])
        return Case(self.index, "frame", f"frame length {kind}", (), data)

    def _connect_case(self) -> Case:
        rng = self.rng
        session = rng.choice(
            ("new", "new", "main", "main-bad-password", "main-null-password", "unknown")
        )
        password: Str = Str(bytes(16))
        if session == "main-null-password":
            password = Str(None)
        fields: list[Field] = [
            Int(rng.choice((0, 0, 0, 7, -1))),
            Long(rng.choice((0, 0, 0, -1, 1 << 40))),
            Int(rng.choice((30_000, 30_000, 0, -5, 100_000, 1000))),
            Long(0),  # the session id: filled in by the peer (``session``)
            password,
        ]
        if rng.random() < 0.8:
            fields.append(Bool(rng.choice((0, 0, 1, 5))))
        names: list[str] = []
        if rng.random() < 0.3:
            mutated = self.mutate(RequestFrame(0, 0, tuple(fields)), names)
            fields = list(mutated.fields)
            body = encode_fields(fields)
            if mutated.cut is not None:
                body = body[: mutated.cut]
            body += mutated.trailing
        else:
            body = encode_fields(fields)
        return Case(self.index, "connect", f"connect {session}", tuple(names), body, 0, session)


_OPCODE_WEIGHTS: Final[tuple[int, ...]] = (
    (OpCode.create,) * 6
    + (OpCode.create2,) * 3
    + (OpCode.createContainer, OpCode.createTTL, OpCode.createTTL)
    + (OpCode.delete,) * 3
    + (OpCode.exists,) * 2
    + (OpCode.getData,) * 2
    + (OpCode.setData,) * 3
    + (OpCode.getACL, OpCode.setACL, OpCode.setACL, OpCode.setACL)
    + (OpCode.getChildren, OpCode.getChildren2, OpCode.sync)
    + (OpCode.multi,) * 6
    + (OpCode.multiRead,) * 3
    + (OpCode.checkWatches, OpCode.removeWatches, OpCode.removeWatches)
    + (OpCode.addWatch,) * 3
    + (OpCode.setWatches, OpCode.setWatches2, OpCode.setWatches2)
    + (OpCode.auth,) * 3
    + (OpCode.sasl, OpCode.reconfig, OpCode.getEphemerals, OpCode.getAllChildrenNumber)
    + (OpCode.ping, OpCode.whoAmI, OpCode.closeSession)
    + (OpCode.deleteContainer, 10, 0, -1, 99)
)


def _opcode_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name
    except ValueError:
        return f"opcode {opcode}"


__all__ = [
    "FIXTURE",
    "FUZZ_ROOT",
    "Case",
    "CaseGenerator",
    "Field",
    "acl_fields",
    "encode_fields",
    "frame",
    "poison",
    "ustring",
    "watches_null_path",
]
