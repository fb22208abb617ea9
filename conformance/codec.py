"""Spec values as JSON, losslessly: every ``spec.requests`` operation, reply and body.

A history is only as good as its encoding, so this module promises that
``decode_value(encode_value(v), T) == v`` for every value ``v`` of the types below, and it is
checked by a property test.

Encoding rules
--------------
* A dataclass of ``spec.requests`` (an operation, a body, a multi result, a ``Reply``) becomes an
  object with a ``"$type"`` member naming its class (``{"$type": "GetData", "path": "/a",
  "watch": true}``) and one member per field, named as the field. ``Stat``, ``ACL`` and ``Id``
  are objects without ``"$type"`` (their place says what they are).
* ``bytes`` become lowercase hex strings; ``None`` is ``null``. So null data (``null``) and
  empty data (``""``) stay apart, as ZooKeeper keeps them apart.
* Enumerations (``Code``, ``OpCode``) are their integer values; a value the enumeration does
  not know (a server may send any error code) decodes to a plain ``int``.
* Tuples are arrays. Strings are JSON strings (lone surrogates survive as ``\\udxxx`` escapes).

Decoding is driven by the dataclasses' type hints and refuses anything else with
``CodecError``, saying where: a history with a wrong field is bad input, not a violation.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any, TypeVar, cast

from spec import requests as rq
from spec.acl import ACL, Id
from spec.stat import Stat

TAG = "$type"
"""The member naming a tagged value's class (``"type"`` is a field of some operations)."""


class CodecError(ValueError):
    """A JSON value that does not decode to the type asked for."""


# Classes written with a "$type" tag: the members of the Operation, Body and OpResult unions.
_TAGGED: tuple[type, ...] = (
    rq.Create,
    rq.Delete,
    rq.Exists,
    rq.GetData,
    rq.SetData,
    rq.GetACL,
    rq.SetACL,
    rq.GetChildren,
    rq.Check,
    rq.Sync,
    rq.Ping,
    rq.CloseSession,
    rq.Multi,
    rq.MultiRead,
    rq.AddAuth,
    rq.SetWatches,
    rq.AddWatch,
    rq.RemoveWatches,
    rq.CheckWatches,
    rq.GetEphemerals,
    rq.GetAllChildrenNumber,
    rq.WhoAmI,
    rq.Reconfig,
    rq.Unknown,
    rq.ConnectResponse,
    rq.CreateResponse,
    rq.Create2Response,
    rq.StatResponse,
    rq.GetDataResponse,
    rq.GetACLResponse,
    rq.GetChildrenResponse,
    rq.GetChildren2Response,
    rq.SyncResponse,
    rq.GetEphemeralsResponse,
    rq.GetAllChildrenNumberResponse,
    rq.WhoAmIResponse,
    rq.AddWatchResponse,
    rq.MultiResponse,
    rq.Empty,
    rq.CreateResult,
    rq.DeleteResult,
    rq.SetDataResult,
    rq.CheckResult,
    rq.GetDataResult,
    rq.GetChildrenResult,
    rq.ErrorResult,
    rq.Reply,
)
_BY_NAME: dict[str, type] = {cls.__name__: cls for cls in _TAGGED}
_UNTAGGED: tuple[type, ...] = (Stat, ACL, Id)

T = TypeVar("T")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def encode_value(value: object) -> Any:
    """The JSON-ready form (dicts, lists, str, int, bool, None) of a spec value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum members become plain ints
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        out: dict[str, Any] = {}
        if cls in _BY_NAME.values():
            out[TAG] = cls.__name__
        elif cls not in _UNTAGGED:
            raise CodecError(f"no JSON form for {cls.__name__}")
        for field in dataclasses.fields(value):
            out[field.name] = encode_value(getattr(value, field.name))
        return out
    raise CodecError(f"no JSON form for {value!r}")


def decode_value(data: Any, hint: Any, where: str = "$") -> Any:
    """Decode ``data`` as the type ``hint`` (a class, a union, ``tuple[...]``)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _decode_union(data, typing.get_args(hint), where)
    if origin is tuple:
        if not isinstance(data, list):
            raise CodecError(f"{where}: expected an array, got {_show(data)}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(data))
        if len(args) != len(data):
            raise CodecError(f"{where}: expected {len(args)} items, got {len(data)}")
        return tuple(
            decode_value(v, a, f"{where}[{i}]")
            for i, (a, v) in enumerate(zip(args, data, strict=True))
        )
    if hint is type(None):
        if data is not None:
            raise CodecError(f"{where}: expected null, got {_show(data)}")
        return None
    if hint is bool:
        if not isinstance(data, bool):
            raise CodecError(f"{where}: expected true or false, got {_show(data)}")
        return data
    if isinstance(hint, type) and issubclass(hint, enum.IntEnum):
        number = _int(data, where)
        try:
            return hint(number)
        except ValueError:
            return number
    if hint is int:
        return _int(data, where)
    if hint is str:
        if not isinstance(data, str):
            raise CodecError(f"{where}: expected a string, got {_show(data)}")
        return data
    if hint is bytes:
        if not isinstance(data, str):
            raise CodecError(f"{where}: expected a hex string, got {_show(data)}")
        try:
            return bytes.fromhex(data)
        except ValueError:
            raise CodecError(f"{where}: not a hex string: {_show(data)}") from None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(data, hint, where)
    raise CodecError(f"{where}: cannot decode type {hint!r}")


def _int(data: Any, where: str) -> int:
    if not isinstance(data, int) or isinstance(data, bool):
        raise CodecError(f"{where}: expected an integer, got {_show(data)}")
    return data


def _show(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode_union(data: Any, args: tuple[Any, ...], where: str) -> Any:
    if data is None:
        if type(None) in args:
            return None
        raise CodecError(f"{where}: null is not allowed here")
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        return decode_value(data, options[0], where)
    if not isinstance(data, dict) or not isinstance(data.get(TAG), str):
        raise CodecError(f"{where}: expected an object with a {TAG!r}, got {_show(data)}")
    cls = _BY_NAME.get(data[TAG])
    if cls is None or cls not in options:
        raise CodecError(f"{where}: type {data[TAG]!r} is not allowed here")
    return _decode_dataclass(data, cls, where)


def _decode_dataclass(data: Any, cls: type, where: str) -> Any:
    if not isinstance(data, dict):
        raise CodecError(f"{where}: expected an object for {cls.__name__}, got {_show(data)}")
    if cls in _BY_NAME.values() and data.get(TAG) != cls.__name__:
        raise CodecError(f"{where}: expected type {cls.__name__!r}, got {data.get(TAG)!r}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    names = set()
    for field in dataclasses.fields(cls):
        names.add(field.name)
        if field.name not in data:
            raise CodecError(f"{where}: {cls.__name__} lacks {field.name!r}")
        values[field.name] = decode_value(
            data[field.name], hints[field.name], f"{where}.{field.name}"
        )
    extra = set(data) - names - {TAG}
    if extra:
        raise CodecError(f"{where}: {cls.__name__} has unknown members {sorted(extra)}")
    return cls(**values)


def decode_as(data: Any, hint: type[T], where: str = "$") -> T:
    """``decode_value`` for a concrete class, typed."""
    return cast(T, decode_value(data, hint, where))


def decode_operation(data: Any, where: str = "$") -> rq.Operation:
    return cast(rq.Operation, decode_value(data, rq.Operation, where))


def encode_reply(reply: rq.Reply) -> Any:
    return encode_value(reply)


def decode_reply(data: Any, where: str = "$") -> rq.Reply:
    return decode_as(data, rq.Reply, where)
