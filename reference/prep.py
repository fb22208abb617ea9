"""Request preparation: check a write against the tree and turn it into a ``Txn``.

This is ZooKeeper's ``PrepRequestProcessor``: every check of a write, in ZooKeeper's order
(``spec.tree`` states the orders), happens here, against the tree *plus* the changes of
earlier sub-ops of the same multi (an overlay of ``_Record`` copies, ZooKeeper's
``ChangeRecord``). The result is a ``Txn`` — a successful change or an ``ErrorTxn`` — that
``DataTree.apply`` executes without further checks. Must not change the tree.

Null fields meet the checks where Apache's code meets them: a null path is a
NullPointerException in create and delete (``validatePathForCreate``,
``getParentPathAndValidate``: ``MalformedRequest``, MARSHALLINGERROR) but BADARGUMENTS in
setData, setACL and check (``PathUtils.validatePath`` refuses null); null ACL fields follow
``spec.acl.fixup_acl``. A ``MalformedRequest`` in a multi's sub-op fails the whole multi.
"""

from __future__ import annotations

from reference.datatree import CONTAINER, EPHEMERAL, PERSISTENT, TTL, DataTree
from reference.jute import (
    CheckVersionRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    MultiRequest,
    SetACLRequest,
    SetDataRequest,
)
from reference.txn import (
    CheckTxn,
    CreateTxn,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetACLTxn,
    SetDataTxn,
    SubTxn,
)
from spec.acl import ACL, ADMIN, CREATE, DELETE, READ, WRITE, Id, acl_permits, fixup_acl
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.modes import CreateMode, sequence_suffix, ttl_is_valid
from spec.opcodes import OpCode
from spec.paths import SPECIAL_PATHS, is_valid_path
from spec.profiles import Profile
from spec.stat import int32

_CREATE_MODES = {m.value: m for m in CreateMode}


class _Record:
    """A node as prep sees it: the fields checks need, copied so a multi can change them."""

    __slots__ = ("acl", "aversion", "child_count", "cversion", "kind", "version")

    def __init__(
        self,
        acl: tuple[ACL, ...],
        version: int,
        aversion: int,
        cversion: int,
        child_count: int,
        kind: str,
    ) -> None:
        self.acl = acl
        self.version = version
        self.aversion = aversion
        self.cversion = cversion
        self.child_count = child_count
        self.kind = kind


# How many checked ACL lists a Preparer keeps (few distinct lists are in use at a time).
_FIXED_ACLS_MAX = 64


class Caller:
    """Who sends the request: the session id and the ids its connection holds."""

    __slots__ = ("auth_ids", "session_id")

    def __init__(self, session_id: int, auth_ids: list[Id]) -> None:
        self.session_id = session_id
        self.auth_ids = auth_ids


class Preparer:
    """Prepares writes against ``tree`` under the rules of ``profile``."""

    def __init__(self, tree: DataTree, profile: Profile, extended_types_enabled: bool) -> None:
        self.tree = tree
        self.profile = profile
        self.extended_types_enabled = extended_types_enabled
        self._overlay: dict[str, _Record | None] = {}
        # Checked ACL lists by the identity of the list sent (see ``_fixup``).
        self._fixed_acls: dict[int, tuple[tuple[ACL, ...], tuple[ACL, ...]]] = {}

    # --- the view: tree plus pending changes ---------------------------------------------

    def _get(self, path: str) -> _Record:
        if path in self._overlay:
            found = self._overlay[path]
            if found is None:
                raise ZooKeeperError(Code.NONODE, path)
            return found
        node = self.tree.nodes.get(path)
        if node is None:
            raise ZooKeeperError(Code.NONODE, path)
        record = _Record(
            node.acl, node.version, node.aversion, node.cversion, len(node.children), node.kind
        )
        self._overlay[path] = record
        return record

    def _exists(self, path: str) -> bool:
        if path in self._overlay:
            return self._overlay[path] is not None
        return path in self.tree.nodes

    def _check_acl(self, acl: tuple[ACL, ...], perm: int, caller: Caller) -> None:
        if not acl_permits(acl, perm, caller.auth_ids, self.profile.ipv6_acl):
            raise ZooKeeperError(Code.NOAUTH)

    def _fixup(self, acl: tuple[ACL, ...] | None, caller: Caller) -> tuple[ACL, ...]:
        """The ACL list to store (``spec.acl.fixup_acl``), or INVALIDACL, or
        ``MalformedRequest`` where a null field fails Apache's code.

        The codec hands the same tuple for the same list (``Reader.read_acl_vector``), so
        the result for a list that does not depend on the caller (no ``auth`` entry) is
        kept by the list's identity; the entry holds the list, so the identity stays its.
        """
        fixed_acls = self._fixed_acls
        if acl is not None:
            known = fixed_acls.get(id(acl))
            if known is not None and known[0] is acl:
                return known[1]
        try:
            fixed = fixup_acl(acl, caller.auth_ids, self.profile.ipv6_acl)
        except ValueError as error:
            raise ZooKeeperError(Code.INVALIDACL, str(error)) from None
        if acl is not None and all(entry.id.scheme != "auth" for entry in acl):
            if len(fixed_acls) >= _FIXED_ACLS_MAX:
                fixed_acls.clear()
            fixed_acls[id(acl)] = (acl, fixed)
        return fixed

    @staticmethod
    def _version(current: int, expected: int, path: str) -> int:
        if expected != -1 and expected != current:
            raise ZooKeeperError(Code.BADVERSION, path)
        return int32(current + 1)

    @staticmethod
    def _parent_for_write(path: str | None) -> str:
        if path is None:
            raise MalformedRequest("null path")  # path.lastIndexOf('/')
        if "/" not in path or "\0" in path:
            raise ZooKeeperError(Code.BADARGUMENTS, path)
        return path[: path.rindex("/")] or "/"

    @staticmethod
    def _valid(path: str | None) -> str:
        if path is None or not is_valid_path(path):
            raise ZooKeeperError(Code.BADARGUMENTS, str(path))
        return path

    # --- single writes -------------------------------------------------------------------

    def create(
        self, opcode: int, request: CreateRequest | CreateTTLRequest, caller: Caller
    ) -> CreateTxn:
        mode = _CREATE_MODES.get(request.flags)
        if mode is None:
            raise ZooKeeperError(Code.BADARGUMENTS, f"flags {request.flags}")
        if mode.is_ttl and not self.extended_types_enabled:
            raise ZooKeeperError(Code.UNIMPLEMENTED)
        # Only a createTTL carries a TTL; any other create is checked with ttl -1.
        ttl = (
            request.ttl
            if opcode == OpCode.createTTL and isinstance(request, CreateTTLRequest)
            else -1
        )
        if not ttl_is_valid(mode, ttl) or (opcode == OpCode.createTTL and not mode.is_ttl):
            raise ZooKeeperError(Code.BADARGUMENTS, f"ttl {ttl}")
        parent_path = self._parent_for_write(request.path)
        assert request.path is not None
        acl = self._fixup(request.acl, caller)
        parent = self._get(parent_path)
        self._check_acl(parent.acl, CREATE, caller)
        path = request.path
        if mode.is_sequential:
            path += sequence_suffix(parent.cversion)
        self._valid(path)
        if self._exists(path):
            raise ZooKeeperError(Code.NODEEXISTS, path)
        if parent.kind == EPHEMERAL:
            raise ZooKeeperError(Code.NOCHILDRENFOREPHEMERALS, path)
        if opcode == OpCode.createContainer:
            kind = CONTAINER
        elif opcode == OpCode.createTTL:
            kind = TTL
        else:
            kind = EPHEMERAL if mode.is_ephemeral else PERSISTENT
        new_cversion = int32(parent.cversion + 1)
        if new_cversion > parent.cversion:
            parent.cversion = new_cversion
        parent.child_count += 1
        self._overlay[path] = _Record(acl, 0, 0, 0, 0, kind)
        return CreateTxn(
            path,
            request.data,
            acl,
            kind,
            caller.session_id if kind == EPHEMERAL else 0,
            ttl if kind == TTL else 0,
            new_cversion,
            opcode,
        )

    def delete(self, request: DeleteRequest, caller: Caller) -> DeleteTxn:
        parent_path = self._parent_for_write(request.path)
        assert request.path is not None
        if request.path in SPECIAL_PATHS:
            raise ZooKeeperError(Code.BADARGUMENTS, request.path)
        parent = self._get(parent_path)
        self._check_acl(parent.acl, DELETE, caller)
        node = self._get(request.path)
        self._version(node.version, request.version, request.path)
        if node.child_count > 0:
            raise ZooKeeperError(Code.NOTEMPTY, request.path)
        parent.child_count -= 1
        self._overlay[request.path] = None
        return DeleteTxn(request.path)

    def set_data(self, request: SetDataRequest, caller: Caller) -> SetDataTxn:
        path = self._valid(request.path)
        node = self._get(path)
        self._check_acl(node.acl, WRITE, caller)
        node.version = self._version(node.version, request.version, path)
        return SetDataTxn(path, request.data, node.version)

    def set_acl(self, request: SetACLRequest, caller: Caller) -> SetACLTxn:
        path = self._valid(request.path)
        acl = self._fixup(request.acl, caller)
        node = self._get(path)
        self._check_acl(node.acl, ADMIN, caller)
        node.aversion = self._version(node.aversion, request.version, path)
        return SetACLTxn(path, acl, node.aversion)

    def check(self, request: CheckVersionRequest, caller: Caller) -> CheckTxn:
        path = self._valid(request.path)
        node = self._get(path)
        self._check_acl(node.acl, READ, caller)
        self._version(node.version, request.version, path)
        return CheckTxn(path, request.version)

    def delete_container(self, path: str) -> DeleteTxn:
        """The container manager's delete: only an empty container or TTL node."""
        parent_path = self._parent_for_write(path)
        node = self._get(path)
        if node.child_count > 0:
            raise ZooKeeperError(Code.NOTEMPTY, path)
        if node.kind not in (CONTAINER, TTL):
            raise ZooKeeperError(Code.BADVERSION, path)
        self._get(parent_path).child_count -= 1
        self._overlay[path] = None
        return DeleteTxn(path)

    # --- entry points --------------------------------------------------------------------

    def prepare_delete_container(self, path: str) -> DeleteTxn | ErrorTxn:
        """Prepare the container manager's delete; a refused one becomes an ``ErrorTxn``."""
        self._overlay.clear()
        try:
            return self.delete_container(path)
        except ZooKeeperError as error:
            return ErrorTxn(error.code)
        finally:
            self._overlay.clear()

    def prepare_one(self, opcode: int, record: object, caller: Caller) -> SubTxn | SetACLTxn:
        """Prepare one write; a refused write becomes an ``ErrorTxn``."""
        self._overlay.clear()
        try:
            return self._dispatch(opcode, record, caller)
        except ZooKeeperError as error:
            return ErrorTxn(error.code)
        finally:
            self._overlay.clear()

    def _dispatch(self, opcode: int, record: object, caller: Caller) -> SubTxn | SetACLTxn:
        if isinstance(record, (CreateRequest, CreateTTLRequest)):
            return self.create(opcode, record, caller)
        if isinstance(record, DeleteRequest):
            return self.delete(record, caller)
        if isinstance(record, SetDataRequest):
            return self.set_data(record, caller)
        if isinstance(record, SetACLRequest):
            return self.set_acl(record, caller)
        if isinstance(record, CheckVersionRequest):
            return self.check(record, caller)
        raise ZooKeeperError(Code.MARSHALLINGERROR, f"not a write: {type(record).__name__}")

    def _multi_opcode(self, sent: int, record: object) -> int:
        if not isinstance(record, (CreateRequest, CreateTTLRequest)):
            return sent
        mode = _CREATE_MODES.get(record.flags)
        if mode is None:
            return sent
        if mode.is_container:
            return OpCode.createContainer
        if mode.is_ttl:
            if not isinstance(record, CreateTTLRequest):
                # Op.create re-derives createTTL from the flags and keeps the CreateRequest,
                # which PrepRequestProcessor then casts to a CreateTTLRequest.
                raise MalformedRequest("create sub-op with TTL flags but no TTL")
            return OpCode.createTTL
        # 3.8 re-derives every other create as create; 3.9 keeps the opcode sent.
        return sent if self.profile.multi_create2_result else OpCode.create

    def prepare_multi(self, request: MultiRequest, caller: Caller) -> MultiTxn | ErrorTxn:
        """Prepare a multi: all sub-ops against the evolving view, or the failure layout.

        A sub-op the server cannot process at all (``MalformedRequest``), met before any
        sub-op failed, fails the whole multi: an ``ErrorTxn`` of MARSHALLINGERROR.
        """
        for op in request.ops:
            if op.type not in _MULTI_WRITE_OPCODES:
                return ErrorTxn(Code.MARSHALLINGERROR)
            bad_flags = (
                isinstance(op.request, CreateRequest) and op.request.flags not in _CREATE_MODES
            )
            if bad_flags and self.profile.multi_rejects_bad_create_flags:
                return ErrorTxn(Code.MARSHALLINGERROR)
        self._overlay.clear()
        txns: list[SubTxn] = []
        failed = False
        try:
            for op in request.ops:
                if failed:
                    txns.append(ErrorTxn(Code.RUNTIMEINCONSISTENCY))
                    continue
                try:
                    txn = self._dispatch(
                        self._multi_opcode(op.type, op.request), op.request, caller
                    )
                    assert not isinstance(txn, SetACLTxn)
                    txns.append(txn)
                except MalformedRequest:
                    return ErrorTxn(Code.MARSHALLINGERROR)
                except ZooKeeperError as error:
                    failed = True
                    txns.append(ErrorTxn(error.code))
        finally:
            self._overlay.clear()
        return MultiTxn(tuple(txns))


_MULTI_WRITE_OPCODES = frozenset(
    {
        OpCode.create,
        OpCode.create2,
        OpCode.createContainer,
        OpCode.createTTL,
        OpCode.delete,
        OpCode.setData,
        OpCode.check,
    }
)
