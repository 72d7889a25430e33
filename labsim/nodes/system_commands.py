"""Generic system commands of the simulated node: uptime, df, cat, hostname, sleep, ...
(`systemctl` has its own module).

Formats follow systemd 256 and GNU coreutils/procps as found on NixOS; NixOS-specific tools are in
`nixos_commands` and `activation`.
"""

from __future__ import annotations

import math
import os
import time

from labsim.nodes import journal
from labsim.nodes.invocation import Handler, Invocation
from labsim.nodes.nodestate import Mount, NodeState

_DEFAULT_DISK_USE = {"/": 0.23, "/var/lib/longhorn": 0.08}


def uptime(inv: Invocation) -> int:
    """`uptime` (procps-ng format), `uptime -p`, `uptime -s`."""
    state = inv.files.load_state()
    seconds = max(inv.now - state.boot_time, 0.0)
    args = inv.argv[1:]
    if "-s" in args or "--since" in args:
        inv.say(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.boot_time)))
        return 0
    days, rest = divmod(int(seconds), 86400)
    hours, minutes = divmod(rest // 60, 60)
    if "-p" in args or "--pretty" in args:
        parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
        parts += [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
        inv.say("up " + ", ".join(parts))
        return 0
    clock = time.strftime("%H:%M:%S", time.localtime(inv.now))
    text = f" {clock} up "
    if days:
        text += f"{days} day{'s' if days != 1 else ''}, "
    text += f"{hours:2d}:{minutes:02d}, " if hours else f"{minutes} min, "
    load = _loadavg(state)
    text += f" 0 user,  load average: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
    inv.say(text)
    return 0


def _loadavg(state: NodeState) -> tuple[float, float, float]:
    busy = 0.4 if state.failed_units else 0.0
    return (0.08 + busy, 0.05 + busy / 2, 0.01)


def cat(inv: Invocation) -> int:
    """`cat` of /proc files, /etc/hostname, or any file inside the node's filesystem."""
    state = inv.files.load_state()
    status = 0
    for path in inv.argv[1:]:
        if path == "/proc/uptime":
            up = max(inv.now - state.boot_time, 0.0)
            inv.say(f"{up:.2f} {up * 3.7:.2f}")
        elif path == "/proc/loadavg":
            load = _loadavg(state)
            inv.say(f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} 1/187 {4000 + os.getpid() % 1000}")
        elif path == "/proc/sys/kernel/random/boot_id":
            inv.say(state.boot_id)
        elif path == "/etc/hostname":
            inv.say(inv.identity.name)
        else:
            resolved = inv.root.resolve(path, strict=True)
            host = inv.root.host_path(resolved) if resolved else None
            if host is None or not host.is_file():
                inv.warn(f"cat: {path}: No such file or directory")
                status = 1
                continue
            inv.out.write(host.read_text())
    return status


def df(inv: Invocation) -> int:
    """`df [-P] [-B1|-k|-h] [--output=...] [PATH...]` over the node's mounts (GNU layout)."""
    mounts = inv.identity.mounts
    state = inv.files.load_state()
    block, human, posix, fields = 1024, False, False, None
    paths = []
    args = inv.argv[1:]
    skip_next = False
    for i, arg in enumerate(args):
        if skip_next:
            skip_next = False
        elif arg in ("-h", "--human-readable"):
            human = True
        elif arg in ("-P", "--portability"):
            posix = True
        elif arg == "-k":
            block = 1024
        elif arg.startswith("-B") or arg.startswith("--block-size="):
            raw = arg[2:] if arg.startswith("-B") else arg.split("=", 1)[1]
            if not raw and i + 1 < len(args):
                raw, skip_next = args[i + 1], True
            block = int(raw) if raw.isdigit() else 1024
        elif arg.startswith("--output="):
            fields = arg.split("=", 1)[1].split(",")
        elif not arg.startswith("-"):
            paths.append(arg)
    chosen = []
    for path in paths or [m.target for m in mounts]:
        mount = _mount_for(mounts, path)
        if mount is None:
            inv.warn(f"df: {path}: No such file or directory")
            return 1
        chosen.append(mount)
    names = fields or ["source", "size", "used", "avail", "pcent", "target"]
    table = _df_table([_df_row(m, state) for m in chosen], block, human, posix, names)
    widths = [
        max([_DF_MIN_WIDTH.get(name, 0)] + [len(row[i]) for row in table])
        for i, name in enumerate(names)
    ]
    for row in table:
        cells = []
        for i, (name, cell) in enumerate(zip(names, row, strict=True)):
            if i == len(row) - 1:
                cells.append(cell)
            elif name in ("source", "fstype", "target"):
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell.rjust(widths[i]))
        inv.say(" ".join(cells))
    return 0


_DF_MIN_WIDTH = {"source": 14, "size": 5, "used": 5, "avail": 5, "pcent": 4}


def _mount_for(mounts: tuple[Mount, ...], path: str) -> Mount | None:
    if not path.startswith("/"):
        return None
    best = None
    for mount in mounts:
        prefix = mount.target.rstrip("/") + "/"
        if path == mount.target or path.startswith(prefix):
            if best is None or len(mount.target) > len(best.target):
                best = mount
    return best


def _df_row(mount: Mount, state: NodeState) -> tuple[Mount, int, int]:
    fraction = state.disk_used.get(mount.target, _DEFAULT_DISK_USE.get(mount.target, 0.12))
    used = int(mount.size * min(max(fraction, 0.0), 1.0))
    return mount, used, mount.size - used


def _df_table(
    rows: list[tuple[Mount, int, int]], block: int, human: bool, posix: bool, names: list[str]
) -> list[list[str]]:
    def amount(value: int) -> str:
        return _human(value) if human else str(math.ceil(value / block))

    size_header = "Size" if human else (f"{block}-blocks" if posix else _block_header(block))
    headers = {
        "source": "Filesystem",
        "fstype": "Type",
        "size": size_header,
        "used": "Used",
        "avail": "Avail" if human else "Available",
        "pcent": "Capacity" if posix else "Use%",
        "target": "Mounted on",
    }
    table = [[headers[n] for n in names]]
    for mount, used, avail in rows:
        total = used + avail
        values = {
            "source": mount.source,
            "fstype": mount.fstype,
            "size": amount(mount.size),
            "used": amount(used),
            "avail": amount(avail),
            "pcent": f"{math.ceil(100 * used / total) if total else 0}%",
            "target": mount.target,
        }
        table.append([values[n] for n in names])
    return table


def _block_header(block: int) -> str:
    return "1K-blocks" if block == 1024 else f"{block}B-blocks"


def _human(value: int) -> str:
    units = "KMGTPE"
    amount = float(value)
    if amount < 1024:
        return str(value)
    for unit in units:
        amount /= 1024
        if amount < 10:
            shown = math.ceil(amount * 10) / 10
            if shown < 10:
                return f"{shown:.1f}{unit}"
        if math.ceil(amount) < 1024:
            return f"{math.ceil(amount)}{unit}"
    return f"{math.ceil(amount)}E"


def journalctl(inv: Invocation) -> int:
    """`journalctl` over the node's journal (labsim/nodes/journal.py)."""
    status, lines, error = journal.journalctl(inv.argv[1:], inv.files.root, inv.identity.name)
    for line in lines:
        inv.say(line)
    if error:
        inv.warn(error)
    return status


def hostname(inv: Invocation) -> int:
    """`hostname` (any flags print the short name too)."""
    inv.say(inv.identity.name)
    return 0


def sleep(inv: Invocation) -> int:
    """`sleep SECONDS`."""
    try:
        time.sleep(float(inv.argv[1]) if len(inv.argv) > 1 else 0.0)
    except ValueError:
        inv.warn(f"sleep: invalid time interval '{inv.argv[1]}'")
        return 1
    return 0


def echo(inv: Invocation) -> int:
    """`echo [-n] WORDS...`."""
    words = inv.argv[1:]
    if words[:1] == ["-n"]:
        inv.out.write(" ".join(words[1:]))
    else:
        inv.say(" ".join(words))
    return 0


def whoami(inv: Invocation) -> int:
    """`whoami`."""
    inv.say(inv.effective_user)
    return 0


def uname(inv: Invocation) -> int:
    """`uname [-a|-r|-m|-n|-s]`."""
    info = inv.root.system_info("/run/current-system")
    kernel = info.kernel_version if info else "6.6.63"
    flag = inv.argv[1] if len(inv.argv) > 1 else "-s"
    values = {"-s": "Linux", "-n": inv.identity.name, "-r": kernel, "-m": "aarch64"}
    if flag == "-a":
        inv.say(f"Linux {inv.identity.name} {kernel} #1-NixOS SMP PREEMPT aarch64 GNU/Linux")
    else:
        inv.say(values.get(flag, "Linux"))
    return 0


def constant(status: int) -> Handler:
    """A handler that does nothing and exits with `status` (`true`, `false`, `cd`)."""

    def handler(inv: Invocation) -> int:
        return status

    return handler
