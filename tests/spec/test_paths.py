"""Tests of ``spec.paths``: how znodes are named, and which requests validate names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.acl import OPEN_ACL_UNSAFE
from spec.errors import Code
from spec.modes import CreateMode
from spec.paths import (
    CONFIG,
    QUOTA,
    ROOT,
    SPECIAL_PATHS,
    ZOOKEEPER,
    ancestors,
    child_path,
    is_valid_path,
    node_name,
    parent_path,
    path_error,
    read_lookup_key,
)
from spec.profiles import V3_8, V3_9
from spec.requests import (
    Check,
    Delete,
    ErrorResult,
    Exists,
    GetChildren,
    GetData,
    GetDataResponse,
    Multi,
    MultiResponse,
    SetACL,
    SetData,
    StatResponse,
)
from tests.spec.helpers import Server, body, create, reply_of

# --- the shape of a path ----------------------------------------------------------------


def test_root_alone_is_a_valid_path() -> None:
    assert is_valid_path("/")
    assert path_error("/") is None


@pytest.mark.parametrize("path", ["", "a", "a/b", " /a"])
def test_path_must_start_with_slash(path: str) -> None:
    assert not is_valid_path(path)


@pytest.mark.parametrize("path", ["/a/", "/a/b/", "//"])
def test_path_must_not_end_with_slash(path: str) -> None:
    assert not is_valid_path(path)


@pytest.mark.parametrize("path", ["//a", "/a//b", "/a///b"])
def test_path_must_not_contain_an_empty_name(path: str) -> None:
    assert not is_valid_path(path)


@pytest.mark.parametrize("path", ["/.", "/..", "/a/.", "/a/..", "/a/./b", "/a/../b", "/./a"])
def test_names_dot_and_dot_dot_are_invalid(path: str) -> None:
    assert not is_valid_path(path)


@pytest.mark.parametrize("path", ["/.a", "/a.", "/...", "/a/..b", "/..a/b", "/a/.../b", "/a.b"])
def test_names_that_merely_contain_dots_are_valid(path: str) -> None:
    assert is_valid_path(path)


@pytest.mark.parametrize(
    "char",
    [
        "\u0000",
        "\u0001",
        "\u001f",
        "\u007f",
        "\u0080",
        "\u009f",
        "\ud800",
        "\udfff",
        "\ue000",
        "\uf8ff",
        "\ufff0",
        "\uffff",
    ],
)
def test_forbidden_characters_make_a_path_invalid(char: str) -> None:
    assert not is_valid_path("/a" + char + "b")
    assert not is_valid_path("/" + char)


@pytest.mark.parametrize("char", [" ", "\u00a0", "\u00e9", "\u0100", "\uf900", "\uffef", "~"])
def test_characters_outside_the_forbidden_ranges_are_valid(char: str) -> None:
    assert is_valid_path("/a" + char + "b")


@pytest.mark.parametrize("char", ["\U0001f600", "\U00010000", "\U0010ffff"])
def test_characters_outside_the_basic_multilingual_plane_make_a_path_invalid(char: str) -> None:
    # Java stores them as surrogate pairs, and surrogates are forbidden.
    assert not is_valid_path("/a" + char)


def test_private_use_area_makes_a_path_invalid() -> None:
    assert not is_valid_path("/\ue123")


# --- parents, names, ancestors ------------------------------------------------------------


def test_parent_of_a_nested_path_is_everything_before_the_last_slash() -> None:
    assert parent_path("/a/b") == "/a"
    assert parent_path("/a/b/c") == "/a/b"


def test_parent_of_a_top_level_path_is_the_root() -> None:
    assert parent_path("/a") == ROOT


def test_parent_of_a_path_with_a_trailing_slash_is_the_path_without_it() -> None:
    assert parent_path("/a/") == "/a"


def test_node_name_child_path_and_ancestors() -> None:
    assert node_name("/a/bc") == "bc"
    assert node_name("/a") == "a"
    assert child_path(ROOT, "a") == "/a"
    assert child_path("/a", "b") == "/a/b"
    assert ancestors("/a/b/c") == ["/a/b", "/a", "/"]
    assert ancestors("/a") == ["/"]
    assert ancestors("/") == []


def test_empty_path_is_the_roots_second_name_for_reads() -> None:
    assert read_lookup_key("") == ROOT
    assert read_lookup_key("/a") == "/a"


# --- which requests validate --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/a/", "/a//b", "/a/.", "/a\u0001", "/\U0001f600", ""])
def test_create_rejects_an_invalid_path_with_badarguments(path: str) -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/a")
    code = server.err(sid, create(path))
    # "/a//b" has the parent "/a/", which does not exist: NONODE comes first.
    assert code == (Code.NONODE if path == "/a//b" else Code.BADARGUMENTS)


def test_create_validates_the_path_after_the_sequence_suffix() -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/p")
    # "/p/" is invalid as given, but "/p/0000000000" is fine.
    outcome = server.ok(sid, create("/p/", mode=CreateMode.PERSISTENT_SEQUENTIAL))
    assert server.exists("/p/0000000000")
    assert outcome.reply is not None
    assert server.err(sid, create("/p/")) == Code.BADARGUMENTS


@pytest.mark.parametrize("path", ["/a/", "/a/.", "//", "/a\u0000", "a", ""])
def test_set_data_rejects_an_invalid_path_with_badarguments(path: str) -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/a")
    assert server.err(sid, SetData(path, b"x")) == Code.BADARGUMENTS


@pytest.mark.parametrize("path", ["/a/", "/a/..", "a", ""])
def test_set_acl_rejects_an_invalid_path_with_badarguments(path: str) -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/a")
    assert server.err(sid, SetACL(path, OPEN_ACL_UNSAFE)) == Code.BADARGUMENTS


def test_check_in_multi_rejects_an_invalid_path_with_badarguments() -> None:
    server = Server()
    sid = server.connect()
    response = body(server.call(sid, Multi((Check("/a/", -1),))), MultiResponse)
    assert response.results == (ErrorResult(Code.BADARGUMENTS),)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("a", Code.BADARGUMENTS),  # no "/"
        ("", Code.BADARGUMENTS),
        ("/a\u0000", Code.BADARGUMENTS),
        ("/nope/", Code.NONODE),  # otherwise answered by lookup
        ("/a/", Code.NONODE),
        ("/a//b", Code.NONODE),
        ("/a/.", Code.NONODE),
        ("/\U0001f600", Code.NONODE),
    ],
)
def test_delete_only_rejects_no_slash_nul_or_special_paths(path: str, code: Code) -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/a")
    assert server.err(sid, Delete(path)) == code


@pytest.mark.parametrize("path", sorted(SPECIAL_PATHS))
def test_special_paths_cannot_be_deleted(path: str) -> None:
    server = Server()
    sid = server.connect()
    assert {ROOT, ZOOKEEPER, QUOTA, CONFIG} == SPECIAL_PATHS
    assert server.err(sid, Delete(path)) == Code.BADARGUMENTS
    assert server.exists(path)


def test_creating_below_zookeeper_is_allowed() -> None:
    server = Server()
    sid = server.connect()
    server.ok(sid, create("/zookeeper/foo"))
    assert server.exists("/zookeeper/foo")


@pytest.mark.parametrize("path", ["/a/", "a", "//", "/a/.", "/a\u0001"])
def test_reads_do_not_validate_paths_and_answer_nonode(path: str) -> None:
    server = Server()
    sid = server.connect()
    server.mkdirs(sid, "/a")
    assert server.err(sid, GetData(path)) == Code.NONODE
    assert server.err(sid, Exists(path)) == Code.NONODE
    assert server.err(sid, GetChildren(path)) == Code.NONODE
    assert server.err(sid, GetChildren(path, with_stat=True)) == Code.NONODE


def test_empty_path_names_the_root_for_reads() -> None:
    server = Server()
    sid = server.connect()
    data = body(server.call(sid, GetData("")), GetDataResponse)
    assert data.data == b""
    assert data.stat == server.stat("/")
    assert body(server.call(sid, Exists("")), StatResponse).stat == server.stat("/")
    assert reply_of(server.call(sid, GetChildren(""))).body is not None


def test_empty_path_is_badarguments_for_writes() -> None:
    server = Server()
    sid = server.connect()
    assert server.err(sid, create("")) == Code.BADARGUMENTS
    assert server.err(sid, SetData("", b"")) == Code.BADARGUMENTS


def test_exists_of_a_path_with_nul_is_badarguments_from_3_9() -> None:
    server = Server(V3_9)
    sid = server.connect()
    assert server.err(sid, Exists("/a\u0000")) == Code.BADARGUMENTS


def test_exists_of_a_path_with_nul_is_badarguments_in_3_8_too() -> None:
    server = Server(V3_8)
    sid = server.connect()
    assert server.err(sid, Exists("/a\u0000")) == Code.BADARGUMENTS


_PATH_CHARACTERS = "/a.b\x00\x01\x1f\x7f\x9f\xa0\ud7ff\ud800\uf8ff\uf900\ufff0\uffff\U0001f600é "
_PATH_ALPHABET = st.sampled_from(list(_PATH_CHARACTERS))


@given(st.text(_PATH_ALPHABET, max_size=12))
def test_fast_path_check_agrees_with_the_rule_by_rule_check(path: str) -> None:
    assert is_valid_path(path) == (path_error(path) is None)
