"""Process-tree helpers for the multi-process tests: find what a test started, stop all of it.

torchrun starts its workers in new sessions, so killing a process group is not enough: the
tree is walked through /proc (Linux) before anything is signalled, and every process found is
stopped (SIGTERM, then SIGKILL), so no worker outlives a failing or hanging test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

GRACE_S = 5.0


def children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_tree(pid: int) -> None:
    """SIGTERM `pid` and everything below it, then SIGKILL what is still there."""
    tree = [pid, *descendants(pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in tree:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and any(_alive(p) for p in tree[1:]):
            time.sleep(0.1)


def run_tree(cmd: list[str] | str, *, timeout_s: float, **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd` (stdout and stderr together, text); on timeout or any exception stop its whole
    tree and raise; on return nothing it started is left running."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except BaseException:
        stop_tree(proc.pid)
        proc.communicate()
        raise
    leftovers = descendants(proc.pid)
    for pid in leftovers:
        stop_tree(pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out)
