"""What /proc says about a process and the machine: CPU seconds, resident memory, busy cores."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()      # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime (fields 14, 15 of stat)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) in kB, from /proc/<pid>/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def pids_named(name: str) -> list[int]:
    """Processes whose command name (/proc/<pid>/comm) is `name`: read only, for CPU accounting."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)       # idle + iowait
    total = sum(values[:8])                                         # without guest time (counted in user)
    return total - idle, total


@dataclass
class CpuWindow:
    """CPU use of named groups of processes, and of the whole machine, between start() and stop()."""

    groups: dict[str, list[int]]

    def start(self) -> "CpuWindow":
        self._t0 = os.times().elapsed
        self._cpu0 = {g: [cpu_seconds(p) for p in pids] for g, pids in self.groups.items()}
        self._machine0 = machine_ticks()
        return self

    def stop(self) -> dict[str, float]:
        """Per group, CPU use in percent of one core; '_machine' is the busy share of all cores in %."""
        wall = max(1e-6, os.times().elapsed - self._t0)
        out = {}
        for group, pids in self.groups.items():
            used = 0.0
            for pid, before in zip(pids, self._cpu0[group]):
                after = cpu_seconds(pid)
                if before is not None and after is not None:
                    used += after - before
            out[group] = 100.0 * used / wall
        busy1, total1 = machine_ticks()
        busy0, total0 = self._machine0
        out["_machine"] = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
        out["_wall"] = wall
        return out


def pid_listening(port: int) -> int | None:
    """The process holding the listening TCP socket on `port` (read from /proc/net/tcp and fds)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None
