"""Request preparation: check a write against the tree and turn it into a ``Txn``.

This is ZooKeeper's ``PrepRequestProcessor``: every check of a write, in ZooKeeper's order
(``spec.tree`` states the orders), happens here, against the *view*: the committed tree plus
every change prepared and not yet committed (ZooKeeper's ``outstandingChanges``). The tree
only ever holds committed state; a write prepared here is proposed, and applied by
``DataTree.apply`` only once it commits. So the checks of each write see the writes prepared
before it, as they will be when it is applied.

Changes are ``_Record`` copies of what the checks need (ZooKeeper's ``ChangeRecord``). A
request works on a scratch overlay of them; if it succeeds, the overlay joins the outstanding
changes under the request's zxid (``_remember``), if it fails (an ``ErrorTxn``) the overlay is
dropped, so a failed multi changes nothing. ``committed(zxid)`` forgets what the tree now
holds. Must not change the tree.

Null fields meet the checks where Apache's code meets them: a null path is a
NullPointerException in create and delete (``validatePathForCreate``,
``getParentPathAndValidate``: ``MalformedRequest``, MARSHALLINGERROR) but BADARGUMENTS in
setData, setACL and check (``PathUtils.validatePath`` refuses null); null ACL fields follow
``spec.acl.fixup_acl``. A ``MalformedRequest`` in a multi's sub-op fails the whole multi.
"""

from __future__ import annotations

from collections import deque

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
from spec.acl import (
    ACL,
    ADMIN,
    CREATE,
    DEFAULT_AUTH_PROVIDERS,
    DELETE,
    READ,
    WRITE,
    AuthProviders,
    Id,
    acl_permits,
    fixup_acl,
)
from spec.errors import Code, MalformedRequest, ZooKeeperError
from spec.modes import CreateMode, sequence_suffix, ttl_is_valid
from spec.opcodes import OpCode
from spec.paths import SPECIAL_PATHS, is_valid_path
from spec.profiles import Profile
from spec.stat import int32

_CREATE_MODES = {m.value: m for m in CreateMode}


class _Record:
    """A node as prep sees it: the fields checks need, copied so a multi can change them."""

    __slots__ = ("acl", "aversion", "child_count", "cversion", "ephemeral_owner", "kind", "version")

    def __init__(
        self,
        acl: tuple[ACL, ...],
        version: int,
        aversion: int,
        cversion: int,
        child_count: int,
        kind: str,
        ephemeral_owner: int = 0,
    ) -> None:
        self.acl = acl
        self.version = version
        self.aversion = aversion
        self.cversion = cversion
        self.child_count = child_count
        self.kind = kind
        self.ephemeral_owner = ephemeral_owner

    def copy(self) -> _Record:
        return _Record(
            self.acl,
            self.version,
            self.aversion,
            self.cversion,
            self.child_count,
            self.kind,
            self.ephemeral_owner,
        )


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

    def __init__(
        self,
        tree: DataTree,
        profile: Profile,
        extended_types_enabled: bool,
        providers: AuthProviders = DEFAULT_AUTH_PROVIDERS,
    ) -> None:
        self.tree = tree
        self.profile = profile
        self.extended_types_enabled = extended_types_enabled
        self.providers = providers
        # The request being prepared: its own changes (None: deleted).
        self._overlay: dict[str, _Record | None] = {}
        # Changes prepared and not committed: path -> (record or None, zxid of the change),
        # and the paths each outstanding zxid changed, oldest first.
        self._outstanding: dict[str, tuple[_Record | None, int]] = {}
        self._outstanding_order: deque[tuple[int, tuple[str, ...]]] = deque()
        # Checked ACL lists by the identity of the list sent (see ``_fixup``).
        self._fixed_acls: dict[int, tuple[tuple[ACL, ...], tuple[ACL, ...]]] = {}

    # --- the view: tree plus pending changes ---------------------------------------------

    def _get(self, path: str) -> _Record:
        if path in self._overlay:
            found = self._overlay[path]
            if found is None:
                raise ZooKeeperError(Code.NONODE, path)
            return found
        outstanding = self._outstanding.get(path)
        if outstanding is not None:
            pending = outstanding[0]
            if pending is None:
                raise ZooKeeperError(Code.NONODE, path)
            record = pending.copy()
        else:
            node = self.tree.nodes.get(path)
            if node is None:
                raise ZooKeeperError(Code.NONODE, path)
            record = _Record(
                node.acl,
                node.version,
                node.aversion,
                node.cversion,
                len(node.children),
                node.kind,
                node.ephemeral_owner,
            )
        self._overlay[path] = record
        return record

    def _exists(self, path: str) -> bool:
        if path in self._overlay:
            return self._overlay[path] is not None
        outstanding = self._outstanding.get(path)
        if outstanding is not None:
            return outstanding[0] is not None
        return path in self.tree.nodes

    # --- outstanding changes -------------------------------------------------------------

    def _remember(self, zxid: int) -> None:
        """The request prepared as ``zxid`` succeeded: its changes become outstanding."""
        overlay = self._overlay
        if not overlay:
            return
        outstanding = self._outstanding
        for path, change in overlay.items():
            outstanding[path] = (change, zxid)
        self._outstanding_order.append((zxid, tuple(overlay)))

    def committed(self, zxid: int) -> None:
        """Every txn up to ``zxid`` is in the tree: forget the changes it holds now."""
        order = self._outstanding_order
        outstanding = self._outstanding
        while order and order[0][0] <= zxid:
            change_zxid, paths = order.popleft()
            for path in paths:
                held = outstanding.get(path)
                if held is not None and held[1] == change_zxid:
                    del outstanding[path]

    def in_view(self, path: str) -> bool:
        """The znode exists once every outstanding change is applied."""
        return self._exists(path)

    def clear_outstanding(self) -> None:
        """Forget every outstanding change (this server stopped leading)."""
        self._outstanding.clear()
        self._outstanding_order.clear()

    @property
    def outstanding_count(self) -> int:
        return len(self._outstanding_order)

    def ephemerals_of(self, session_id: int) -> list[str]:
        """The session's ephemerals in the view, in path order: what a closeSession
        prepared now must delete (``PrepRequestProcessor``: the tree's, plus outstanding
        creates, less outstanding deletes)."""
        paths = set(self.tree.ephemerals_of(session_id))
        for path, (change, _) in self._outstanding.items():
            if change is None:
                paths.discard(path)
            elif change.kind == EPHEMERAL and change.ephemeral_owner == session_id:
                paths.add(path)
        return sorted(paths)

    def _check_acl(self, acl: tuple[ACL, ...], perm: int, caller: Caller) -> None:
        if not acl_permits(acl, perm, caller.auth_ids, self.profile.ipv6_acl, self.providers):
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
            fixed = fixup_acl(acl, caller.auth_ids, self.profile.ipv6_acl, self.providers)
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
        owner = caller.session_id if kind == EPHEMERAL else 0
        self._overlay[path] = _Record(acl, 0, 0, 0, 0, kind, owner)
        return CreateTxn(
            path,
            request.data,
            acl,
            kind,
            owner,
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
        node.acl = acl  # the writes prepared after this one are checked against it
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

    def prepare_delete_container(self, path: str, zxid: int) -> DeleteTxn | ErrorTxn:
        """Prepare the container manager's delete as ``zxid``; a refused one becomes an
        ``ErrorTxn``."""
        self._overlay.clear()
        try:
            txn = self.delete_container(path)
            self._remember(zxid)
            return txn
        except ZooKeeperError as error:
            return ErrorTxn(error.code)
        finally:
            self._overlay.clear()

    def prepare_one(
        self, opcode: int, record: object, caller: Caller, zxid: int
    ) -> SubTxn | SetACLTxn:
        """Prepare one write as ``zxid``; a refused write becomes an ``ErrorTxn``."""
        self._overlay.clear()
        try:
            txn = self._dispatch(opcode, record, caller)
            self._remember(zxid)
            return txn
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

    def prepare_multi(
        self, request: MultiRequest, caller: Caller, zxid: int
    ) -> MultiTxn | ErrorTxn:
        """Prepare a multi as ``zxid``: all sub-ops against the evolving view, or the
        failure layout (which changes nothing).

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
            if not failed:
                self._remember(zxid)
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
