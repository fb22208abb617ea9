"""Protocol transcripts: each file of ``tests/quorum/testdata`` is a conversation between
real quorum peers (``tests.quorum.interaction``), every output batch printed as text, in
the datadriven format of etcd-raft's testdata (``tests.quorum.datadriven``).

A change of behaviour shows as a text diff. When it is intended, regenerate the files and
read the diff before committing it::

    python -m pytest tests/quorum/test_transcripts.py --rewrite
    # or: ZKREF_REWRITE=1 python -m pytest tests/quorum/test_transcripts.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests.quorum.datadriven import Case, parse, render, run_file
from tests.quorum.interaction import InteractionEnv

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("*.txt"))


def rewriting(config: pytest.Config) -> bool:
    return bool(config.getoption("rewrite", False)) or os.environ.get("ZKREF_REWRITE") == "1"


def run_transcript(path: Path) -> tuple[str, str]:
    """The file as written, and as the peers behave now."""
    written = path.read_text(encoding="utf-8")
    env = InteractionEnv()
    try:

        def handle(case: Case) -> str:
            return env.handle(case)

        return written, run_file(written, handle, str(path))
    finally:
        env.close()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(path: Path, request: pytest.FixtureRequest) -> None:
    written, actual = run_transcript(path)
    if rewriting(request.config):
        if actual != written:
            path.write_text(actual, encoding="utf-8")
        return
    if actual != written:
        diff = "".join(
            difflib.unified_diff(
                written.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"{path.name} (expected)",
                f"{path.name} (actual)",
            )
        )
        pytest.fail(
            f"{path.name} no longer matches; if the change is intended, run with --rewrite "
            f"and read the diff:\n{diff}",
            pytrace=False,
        )


def test_a_transcript_runs_the_same_twice() -> None:
    """Determinism: the same commands print byte-identical text."""
    for path in FILES:
        assert run_transcript(path)[1] == run_transcript(path)[1], path.name


def test_the_file_format_keeps_comments_and_rewrites_only_outputs() -> None:
    written = (
        "# a comment\n\nadd-servers 1\n----\nstale output\n\n"
        "state\n----\n----\nx\n\ny\n----\n----\n"
    )
    env = InteractionEnv()
    try:
        rewritten = run_file(written, env.handle)
    finally:
        env.close()
    assert rewritten.startswith("# a comment\n\nadd-servers 1\n----\n1 LOOKING")
    assert "stale output" not in rewritten
    assert rewritten.endswith("state\n----\n1 LOOKING epoch=0 zxid=0x0\n")
    # Output with blank lines is written between doubled separators and read back whole.
    chunks = parse("cmd\n----\n----\na\n\nb\n----\n----\n")
    assert chunks == [Case(1, "cmd", "a\n\nb")]
    assert render(chunks) == "cmd\n----\n----\na\n\nb\n----\n----\n"
