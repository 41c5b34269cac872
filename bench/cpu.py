"""CPU seconds from /proc, for the benchmarks that say who spent the machine's cores: a server's
process group or process tree, PostgreSQL's backends, the whole machine."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of_group(leader: int) -> float:
    """CPU seconds (user + system) of every process in `leader`'s process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == leader:  # pgrp (the 5th field; 3rd after the command)
                total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def cpu_of_process(pid: int) -> float:
    """CPU seconds (user + system) of one process: a PostgreSQL backend by its pg_backend_pid()."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_of_postgres() -> float:
    """CPU seconds of every postgres process, and of those that have exited: the postmaster reaps
    its backends, so their time is in its cutime and cstime (without those, a backend closing its
    connection would take its CPU out of the sum, and a window could come out negative)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            if "(postgres)" in stat:
                fields = stat.rsplit(")", 1)[1].split()
                total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICK


def cpu_busy() -> float:
    """Seconds of CPU the whole machine has spent busy (all but idle and iowait), /proc/stat."""
    # user nice system idle iowait irq softirq steal; guest time is already in user
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def cpu_of_server(base: str) -> float:
    """CPU seconds of the `lifeline serve` listening at `base` and every process under it."""
    port = base.rsplit(":", 1)[1]
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        with suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
            pid = int(entry.name)
            parents[pid], used[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK
            if b"serve" in command and b"--port" in command and port.encode() in command:
                roots.append(pid)
    tree = set(roots)
    while grown := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= grown
    return sum(used[pid] for pid in tree)
