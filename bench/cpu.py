"""CPU time of a process tree from /proc (Linux): what a server used while the load ran.

A process's utime + stime plus cutime + cstime (its children that ended and were reaped), for
the process and every live descendant: a uvicorn worker that exits, or a PostgreSQL backend
whose connection closed, still counts (in its parent's cumulative fields). Clock ticks are
turned into milliseconds.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, utime + stime + cutime + cstime in ticks) of every visible process."""
    found: dict[int, tuple[int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # the command name (field 2) may hold spaces and parentheses: split after it
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    return found


def tree_ms(root: int) -> float | None:
    """Milliseconds of CPU that `root` and its descendants have used; None if it is gone."""
    procs = _processes()
    if root not in procs:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += procs[pid][1]
        todo += children.get(pid, [])
    return total * _TICK_MS


def parent_of(pid: int) -> int | None:
    """The parent process id of `pid` (e.g. a PostgreSQL backend's postmaster)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    return None
