"""Find and end the processes below a simulated sshd without leaving zombies behind (Linux /proc),
and tie a helper process's life to the lab process's.

Orphans are not reaped on every host (PID 1 may not reap), so the tree is ended leaves first:
a killed command is reaped by its sshd session, which then exits and is reaped by the listener.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcInfo:
    """A process as /proc/PID/stat describes it."""

    pid: int
    ppid: int
    comm: str
    state: str


def read_proc(pid: int) -> ProcInfo | None:
    """Parse /proc/PID/stat, or None if the process is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may contain spaces; fields after the last ')' are fixed.
    open_paren, close_paren = raw.index("("), raw.rindex(")")
    fields = raw[close_paren + 2 :].split()
    return ProcInfo(pid, int(fields[1]), raw[open_paren + 1 : close_paren], fields[0])


def descendants(root_pid: int) -> list[ProcInfo]:
    """Every live process below `root_pid`, parents before children."""
    children: dict[int, list[ProcInfo]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        info = read_proc(int(entry.name))
        if info is not None and info.state != "Z":
            children.setdefault(info.ppid, []).append(info)
    ordered: list[ProcInfo] = []
    frontier = [root_pid]
    while frontier:
        pid = frontier.pop(0)
        for child in children.get(pid, []):
            ordered.append(child)
            frontier.append(child.pid)
    return ordered


def is_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    info = read_proc(pid)
    return info is not None and info.state != "Z"


def signal_quietly(pid: int, sig: signal.Signals) -> None:
    """Send a signal, ignoring processes that already went away."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_tree(root_pid: int) -> None:
    """SIGKILL everything below `root_pid` at once (last resort; may leave zombies)."""
    for proc in descendants(root_pid):
        signal_quietly(proc.pid, signal.SIGKILL)


async def end_tree(root_pid: int) -> None:
    """End everything below `root_pid` (not root itself), leaves first, and wait until gone.

    Non-child processes give no event on being reaped, so this polls /proc with a short backoff;
    wrap it in `asyncio.timeout` and fall back to `kill_tree`.
    """
    delay = 0.005
    while True:
        below = descendants(root_pid)
        if not below:
            return
        parents = {p.ppid for p in below}
        leaves = [p for p in below if p.pid not in parents]
        for proc in leaves:
            # Commands die hard (like a power cut); sshd processes get SIGTERM so they tidy up.
            sig = signal.SIGTERM if proc.comm == "sshd" else signal.SIGKILL
            signal_quietly(proc.pid, sig)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """In a forked child: get `sig` when the parent dies (prctl PR_SET_PDEATHSIG), so a crashed
    lab process leaves no sshd or node shell behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)
