"""A guard that kills the servers a run started if the run itself dies without stopping them.

A run stops its servers on every exit it sees (the end, an error, Ctrl-C, SIGTERM); the one
it cannot see is its own ``kill -9``. ``Reaper`` covers it: a small child process
(``python -m conformance.reaper``) that reads lines from a pipe, ``add PID`` and
``remove PID``; when the pipe closes — the run exited, however — it sends SIGKILL to every
PID still listed, and to the process group each leads (a server runs in a session of its
own, so a JVM's helpers go too). A PID is only killed while it is the process that was added:
its start time (``/proc/PID/stat``) must still match, so a recycled PID is left alone.

The reaper needs nothing from the run's threads (unlike ``prctl(PR_SET_PDEATHSIG)``, which
fires when the *thread* that forked exits) and holds nothing but the PIDs it was given.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO


def start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/PID/stat`` (when the process started); None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text.rsplit(")", 1)[1].split()[19]


class Reaper:
    """The guard process, seen from the run (see the module docstring)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._pipe: IO[str] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "conformance.reaper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # a Ctrl-C at the terminal is the run's to handle
        )
        self._pipe = self._process.stdin

    def _say(self, line: str) -> None:
        if self._pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                self._pipe.write(line + "\n")
                self._pipe.flush()

    def add(self, pid: int) -> None:
        self._say(f"add {pid} {start_time(pid) or '-'}")

    def remove(self, pid: int) -> None:
        self._say(f"remove {pid}")

    def stop(self) -> None:
        """Close the pipe (the reaper kills what is still listed, then exits) and reap it."""
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
            self._process = None


def _kill(pid: int, started: str) -> None:
    if started == "-" or start_time(pid) != started:
        return  # gone, or another process now has the PID
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # the group it leads (start_new_session)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def main() -> int:
    listed: dict[int, str] = {}
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "add" and words[1].isdigit():
            listed[int(words[1])] = words[2]
        elif len(words) == 2 and words[0] == "remove" and words[1].isdigit():
            listed.pop(int(words[1]), None)
    for pid, started in listed.items():
        _kill(pid, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
