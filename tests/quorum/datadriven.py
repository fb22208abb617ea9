"""Data-driven test files in the format of cockroachdb/datadriven (etcd-raft's testdata).

A file is a series of cases; blank lines and ``#`` comment lines between them are kept as
they are. A case is a command line, a ``----`` line, and the expected output, which ends at
the first blank line (or the end of the file)::

    add-servers 3
    ----
    1 LOOKING epoch=0 zxid=0x0

Output that has blank lines of its own is written between doubled separators::

    command
    ----
    ----
    output

    with a blank line
    ----
    ----

``run_file`` runs every case through a handler and returns the file as it should be: the
same text when every output matches. Rewriting a file is writing that text back, which is
what etcd-raft's ``go test -rewrite`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SEPARATOR = "----"


class DataDrivenError(Exception):
    """A test file that does not follow the format (its line is in the message)."""


@dataclass(frozen=True, slots=True)
class Case:
    """One command of a file and the output it expects; ``line`` counts from 1."""

    line: int
    command: str
    expected: str


@dataclass(frozen=True, slots=True)
class Verbatim:
    """Comment and blank lines between cases, kept as written."""

    text: str


Chunk = Case | Verbatim


def parse(text: str, path: str = "<text>") -> list[Chunk]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline
    chunks: list[Chunk] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            chunks.append(Verbatim(line))
            i += 1
            continue
        command_line = i + 1
        i += 1
        if i >= len(lines) or lines[i] != SEPARATOR:
            raise DataDrivenError(f"{path}:{command_line}: {line!r} is not followed by {SEPARATOR}")
        i += 1
        output: list[str] = []
        if i < len(lines) and lines[i] == SEPARATOR:
            i += 1
            while i + 1 < len(lines) and not (lines[i] == SEPARATOR and lines[i + 1] == SEPARATOR):
                output.append(lines[i])
                i += 1
            if i + 1 >= len(lines):
                raise DataDrivenError(f"{path}:{command_line}: the doubled {SEPARATOR} never ends")
            i += 2
        else:
            while i < len(lines) and lines[i].strip():
                output.append(lines[i])
                i += 1
        chunks.append(Case(command_line, line, "\n".join(output)))
    return chunks


def render(chunks: list[Chunk]) -> str:
    lines: list[str] = []
    for chunk in chunks:
        if isinstance(chunk, Verbatim):
            lines.append(chunk.text)
            continue
        lines.append(chunk.command)
        lines.append(SEPARATOR)
        if not chunk.expected:
            continue
        output = chunk.expected.split("\n")
        if any(not out.strip() for out in output):
            lines.extend([SEPARATOR, *output, SEPARATOR, SEPARATOR])
        else:
            lines.extend(output)
    return "\n".join(lines) + "\n"


def run_file(text: str, handle: Callable[[Case], str], path: str = "<text>") -> str:
    """Run each case of ``text`` through ``handle``; the file with the outputs it gave."""
    chunks = parse(text, path)
    ran: list[Chunk] = []
    for chunk in chunks:
        if isinstance(chunk, Case):
            actual = handle(chunk).rstrip("\n")
            chunk = Case(chunk.line, chunk.command, actual)
        ran.append(chunk)
    return render(ran)
