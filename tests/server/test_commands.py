"""The ``zkref`` command line: every command is listed, and each calls itself ``zkref <name>``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import COMMANDS, main
from tests.support.servers import REPO_ROOT


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``zkref argv...`` in this process: exit status, stdout, stderr."""
    try:
        status: int | str | None = main(list(argv))
    except SystemExit as stopped:
        status = stopped.code
    captured = capsys.readouterr()
    assert isinstance(status, int), status
    return status, captured.out, captured.err


def test_the_commands_are_serve_ensemble_conformance_sim_check_and_bench() -> None:
    names = [c.name for c in COMMANDS]
    assert names == ["serve", "ensemble", "conformance", "sim", "check", "bench"]
    assert all(c.summary and "\n" not in c.summary for c in COMMANDS)


def test_help_lists_every_command_with_its_summary_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run_main(capsys, "--help")
    assert status == 0
    lines = out.splitlines()
    for command in COMMANDS:
        assert any(
            line.split() and line.split()[0] == command.name and command.summary in line
            for line in lines
        ), f"{command.name} is not listed with its summary:\n{out}"
    assert max(len(line) for line in lines) <= 80


def test_no_command_is_a_usage_error_that_shows_the_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run_main(capsys)
    assert status == 2
    assert "usage: zkref [-h] [--version] COMMAND ..." in err


def test_an_unknown_command_is_refused_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run_main(capsys, "nonesuch")
    assert status == 2
    for command in COMMANDS:
        assert f"'{command.name}'" in err


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_each_commands_usage_calls_it_zkref_and_its_name(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status, out, _ = run_main(capsys, command, "--help")
    assert status == 0
    assert out.startswith(f"usage: zkref {command} ")


def test_bench_subcommands_call_themselves_zkref_bench(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_main(capsys, "bench", "compare", "--help")
    assert status == 0
    assert out.startswith("usage: zkref bench compare ")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["conformance"],
            "zkref conformance: error: one of the arguments --hosts --ensemble is required",
        ),
        (["check"], "zkref check: error: the following arguments are required"),
        (["ensemble", "--size", "4"], "zkref ensemble: --size 4: an ensemble needs an odd"),
        (["bench", "run"], "zkref bench run: error: the following arguments are required"),
        (["bench", "compare", "a=127.0.0.1:1", "a=127.0.0.1:2"], "zkref bench: the two targets"),
    ],
)
def test_a_delegated_commands_errors_name_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    status, _, err = run_main(capsys, *argv)
    assert status == 2
    assert error in err


def test_a_delegated_command_gets_the_rest_of_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-history.jsonl"
    status, _, err = run_main(capsys, "check", str(missing), "--mode", "linearizable")
    assert status == 2  # conformance.cli's "bad input": it read the path it was given
    assert str(missing) in err


@pytest.mark.parametrize(
    ("module", "usage"),
    [
        (["conformance", "run"], "usage: python -m conformance run "),
        (["conformance", "check"], "usage: python -m conformance check "),
        (["bench", "run"], "usage: python -m bench run "),
    ],
)
def test_python_dash_m_keeps_its_own_names(module: list[str], usage: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", *module, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(usage)
