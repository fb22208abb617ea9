"""The layer rules, checked on the source: imports point down only, and the core does no I/O.

* ``spec/`` imports nothing of ours: it is the document everything else is checked against.
* ``reference/`` (all of it, ``reference/quorum/`` and whatever comes) imports no layer above
  it (``server``, ``conformance``, ``bench``, ``simulation``, ``tests``) and nothing that
  does I/O, reads a clock, starts a thread or draws randomness (``FORBIDDEN_IN_REFERENCE``),
  and opens no file (``open()``, ``Path.open``/``read_*``/``write_*``, ``os.*``). All of
  these enter the core as arguments or events, so that the same core runs on sockets and
  inside a deterministic simulation.
* ``conformance/``, ``bench/`` and ``simulation/`` never import ``server``: they must work
  against servers they know nothing about.
* No shipped package imports ``tests`` (it is not installed).

Every module under those packages is parsed (one that cannot be parsed is a violation, not a
skip); imports count wherever they are written (inside functions, under ``TYPE_CHECKING``),
relative imports are resolved, and ``importlib.import_module``/``__import__`` of a literal
count as imports (of anything else, as a violation: the rule could not be checked).
``test_the_checker_reports_every_kind_of_violation`` proves that each rule can fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import REPO_ROOT

# Top-level packages that are ours, present or planned.
OURS = frozenset({"spec", "reference", "server", "conformance", "bench", "simulation", "tests"})
SHIPPED = ("spec", "reference", "server", "conformance", "bench", "simulation")

FORBIDDEN_IN_REFERENCE = frozenset(
    {
        # I/O: network, files, processes, the event loop.
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "select",
        "subprocess",
        "os",
        "io",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "sqlite3",
        "aiosqlite",
        "signal",
        # Threads and processes.
        "threading",
        "_thread",
        "multiprocessing",
        "concurrent",
        # Clocks and randomness.
        "time",
        "random",
        "secrets",
        "uuid",
    }
)
# Method names that read or write a file (``pathlib.Path``).
FILE_METHODS = frozenset({"open", "read_text", "read_bytes", "write_text", "write_bytes"})
DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True, slots=True)
class Rule:
    """What the modules of one top-level package must not do."""

    package: str
    forbidden: frozenset[str]  # modules (and their submodules) it must not import
    why: str
    no_file_io: bool = False
    # Whether importing a computed module name is accepted: server/cli.py hands commands to
    # other packages by name (its COMMANDS table); anywhere else the rule could not be checked.
    computed_imports: bool = False


RULES = (
    Rule("spec", OURS - {"spec"}, "spec/ imports nothing of ours"),
    Rule(
        "reference",
        frozenset({"server", "conformance", "bench", "simulation", "tests"})
        | FORBIDDEN_IN_REFERENCE,
        "reference/ is sans-IO: no layer above it, no I/O, clock, threads or randomness",
        no_file_io=True,
    ),
    Rule("conformance", frozenset({"server", "tests"}), "conformance/ never imports server"),
    Rule("bench", frozenset({"server", "tests"}), "bench/ never imports server"),
    Rule("simulation", frozenset({"server", "tests"}), "simulation/ never imports server"),
    Rule(
        "server",
        frozenset({"tests"}),
        "a shipped package never imports tests",
        computed_imports=True,
    ),
)


@dataclass(frozen=True, slots=True)
class Violation:
    path: str  # relative to the checked root
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Report:
    modules: tuple[str, ...]  # every module parsed, relative to the root
    violations: tuple[Violation, ...]


def _package_of(relative: Path) -> list[str]:
    """The dotted package a module file belongs to, as a list of names."""
    parts = list(relative.with_suffix("").parts)
    return parts[:-1]  # a module's package is its directory, __init__.py's too


def _resolve(node: ast.ImportFrom, package: list[str]) -> str:
    if node.level == 0:
        return node.module or ""
    base = package[: len(package) - node.level + 1]  # level 1: the module's own package
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported(tree: ast.AST, package: list[str]) -> list[tuple[int, str | None]]:
    """Every module name an import statement or literal dynamic import names, with its line;
    ``None`` for a dynamic import of a computed name."""
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, package)
            found.append((node.lineno, module))
            # ``from x import y`` may import the module x.y.
            found.extend(
                (node.lineno, f"{module}.{alias.name}".lstrip(".")) for alias in node.names
            )
        elif isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            if isinstance(function, ast.Name):
                name = function.id
            if name in DYNAMIC_IMPORTS:
                argument = node.args[0] if node.args else None
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.append((node.lineno, argument.value))
                else:
                    found.append((node.lineno, None))
    return found


def _file_io(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls that open, read or write files: ``open()``, ``x.read_text()``..., ``os.x()``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id == "open":
            found.append((node.lineno, "open()"))
        elif isinstance(function, ast.Attribute):
            owner = function.value
            while isinstance(owner, ast.Attribute):  # os.path.exists -> os
                owner = owner.value
            if isinstance(owner, ast.Name) and owner.id == "os":
                found.append((node.lineno, f"os.{function.attr}()"))
            elif function.attr in FILE_METHODS:
                found.append((node.lineno, f".{function.attr}()"))
    return found


def _matches(module: str, forbidden: frozenset[str]) -> str | None:
    """The forbidden name ``module`` is or lies under, if any."""
    parts = module.split(".")
    for length in range(1, len(parts) + 1):
        prefix = ".".join(parts[:length])
        if prefix in forbidden:
            return prefix
    return None


def check(root: Path) -> Report:
    """Parse every module of every package a rule binds under ``root``; every violation."""
    modules: list[str] = []
    violations: list[Violation] = []
    for rule in RULES:
        for path in sorted((root / rule.package).rglob("*.py")):
            relative = path.relative_to(root)
            name = relative.as_posix()
            modules.append(name)
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
            except (SyntaxError, UnicodeDecodeError, ValueError) as error:
                line = getattr(error, "lineno", None) or 1
                violations.append(Violation(name, line, f"cannot be parsed: {error}"))
                continue
            seen: set[tuple[int, str]] = set()
            for line, module in _imported(tree, _package_of(relative)):
                if module is None:
                    if rule.computed_imports:
                        continue
                    violations.append(
                        Violation(name, line, f"a dynamic import of a computed name ({rule.why})")
                    )
                    continue
                hit = _matches(module, rule.forbidden)
                if hit is not None and (line, hit) not in seen:
                    seen.add((line, hit))
                    violations.append(Violation(name, line, f"imports {module} ({rule.why})"))
            if rule.no_file_io:
                for line, call in _file_io(tree):
                    violations.append(Violation(name, line, f"calls {call} ({rule.why})"))
    return Report(tuple(modules), tuple(violations))


# --- the repository ------------------------------------------------------------------------


def test_the_repository_keeps_the_layer_rules() -> None:
    report = check(REPO_ROOT)
    assert not report.violations, "layer rules broken:\n" + "\n".join(
        str(v) for v in report.violations
    )


def test_every_module_of_every_layer_is_parsed() -> None:
    report = check(REPO_ROOT)
    for package in ("spec", "reference", "server", "conformance", "bench"):
        on_disk = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / package).rglob("*.py")}
        assert on_disk, package
        assert on_disk <= set(report.modules)
    assert "reference/jute/records.py" in report.modules


# --- the checker has teeth -----------------------------------------------------------------

# A synthetic tree: every line marked "# VIOLATION" must be reported, and nothing else.
SYNTHETIC = {
    "spec/__init__.py": "",
    "spec/chapter.py": """\
from __future__ import annotations
import re
from spec import other
from . import other as again
import reference.core  # VIOLATION
from server.config import ServerConfig  # VIOLATION
from conformance import checker  # VIOLATION
from bench.cli import main  # VIOLATION
def later() -> None:
    import simulation  # VIOLATION
""",
    "reference/__init__.py": "",
    "reference/core.py": """\
from __future__ import annotations
import struct
import zlib
from typing import TYPE_CHECKING
from sortedcontainers import SortedSet
from spec.errors import Code
from reference import txn
from .jute import records
from .time import ticks
import socket  # VIOLATION
import asyncio.events  # VIOLATION
from time import monotonic  # VIOLATION
import random as chance  # VIOLATION
import threading  # VIOLATION
import sqlite3  # VIOLATION
import aiosqlite  # VIOLATION
import selectors  # VIOLATION
import subprocess  # VIOLATION
import os  # VIOLATION
from pathlib import Path  # VIOLATION
from server.config import ServerConfig  # VIOLATION
import conformance  # VIOLATION
from bench import wire  # VIOLATION
if TYPE_CHECKING:
    import server  # VIOLATION
from .. import server  # VIOLATION

def clean(text: str, node: object) -> str:
    text.replace("a", "b")
    return str(node)

def dirty(path: object, name: str) -> None:
    open(name)  # VIOLATION
    path.read_text()  # VIOLATION
    path.write_bytes(b"")  # VIOLATION
    path.open()  # VIOLATION
    os.remove(name)  # VIOLATION
    os.path.exists(name)  # VIOLATION
    __import__("socket")  # VIOLATION
    importlib.import_module("server.cli")  # VIOLATION
    importlib.import_module(name)  # VIOLATION
""",
    "reference/quorum/__init__.py": "",
    "reference/quorum/peer.py": """\
from reference.core import clean
import socket  # VIOLATION
from ...server import cli  # VIOLATION
""",
    "reference/broken.py": "def (:  # VIOLATION\n",
    "conformance/__init__.py": "",
    "conformance/client.py": """\
import asyncio
import socket
from reference.jute import records
from server import cli  # VIOLATION
from tests.support import servers  # VIOLATION
""",
    "bench/__init__.py": "",
    "bench/worker.py": """\
import time
from .server import Target
import server.server  # VIOLATION
""",
    "simulation/__init__.py": "",
    "simulation/net.py": "from server.config import ServerConfig  # VIOLATION\nimport random\n",
    "server/__init__.py": "",
    "server/cli.py": """\
import asyncio
import socket
from conformance import cli
from bench import cli as bench_cli
from tests import conftest  # VIOLATION
open("zoo.cfg")
importlib.import_module(name)
""",
}


def test_the_checker_reports_every_kind_of_violation(tmp_path: Path) -> None:
    expected: set[tuple[str, int]] = set()
    for name, text in SYNTHETIC.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for number, line in enumerate(text.splitlines(), start=1):
            if line.endswith("# VIOLATION"):
                expected.add((name, number))
    report = check(tmp_path)
    reported = {(v.path, v.line) for v in report.violations}
    missed = sorted(expected - reported)
    extra = sorted(str(v) for v in report.violations if (v.path, v.line) not in expected)
    assert not missed, f"not reported: {missed}"
    assert not extra, f"reported but allowed: {extra}"
    assert set(report.modules) == set(SYNTHETIC)
    # Each report names the file, the line, what was done and which rule it breaks.
    socket = next(v for v in report.violations if v.message.startswith("imports socket"))
    assert str(socket) == (
        f"reference/core.py:{socket.line}: imports socket (reference/ is sans-IO: no layer "
        "above it, no I/O, clock, threads or randomness)"
    )
    assert any(
        str(v).startswith("reference/broken.py:1: cannot be parsed") for v in report.violations
    )
