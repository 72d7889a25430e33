"""`systemctl` on the simulated node: is-system-running, the failed units, is-active/status,
show, start/restart/stop of known units, and reboot.

Formats and exit codes follow systemd 256 (src/systemctl/): an unknown unit is `inactive`
(is-active exits 3), `not-found` in `show`, and `Unit X not found.` with exit 5 on a change.
The node's units are the common ones, k3s's on k3s nodes, and any that failed.
"""

from __future__ import annotations

import json

from labsim.nodes import power_requests
from labsim.nodes.activation import unit_status
from labsim.nodes.invocation import Invocation
from labsim.nodes.nodestate import NodeState
from labsim.nodes.units import UNIT_DESCRIPTIONS, describe_unit


def systemctl(inv: Invocation) -> int:
    """`systemctl is-system-running|--failed|list-units --failed|is-active|status|restart|...`."""
    args = [a for a in inv.argv[1:] if a not in ("--no-pager", "-q", "--quiet", "--wait")]
    flags = {a for a in args if a.startswith("-")}
    words = [a for a in args if not a.startswith("-")]
    state = inv.files.load_state()
    failed = sorted(state.failed_units)
    verb = words[0] if words else ("list-units" if "--failed" in flags else "")
    if verb == "is-system-running":
        inv.say("degraded" if failed else "running")
        return 1 if failed else 0
    if verb in ("list-units", "") and ("--failed" in flags or "--state=failed" in flags):
        return _list_failed(inv, failed, flags)
    if verb in ("is-active", "is-failed", "status") and len(words) > 1:
        return _unit_query(inv, verb, words[1:], failed, state)
    if verb in ("start", "restart", "reset-failed", "reload", "stop"):
        return _unit_change(inv, verb, words[1:])
    if verb == "show" and len(words) > 1:
        return _show(inv, args, words[1:], failed)
    if verb == "reboot" and len(words) == 1:
        return _reboot(inv)
    inv.warn(f"labsim: systemctl {' '.join(inv.argv[1:])} is not simulated")
    return 1


def _list_failed(inv: Invocation, failed: list[str], flags: set[str]) -> int:
    rows = [(u, "loaded", "failed", "failed", describe_unit(u)) for u in failed]
    if "--output=json" in flags or "-ojson" in flags:
        keys = ("unit", "load", "active", "sub", "description")
        inv.say(json.dumps([dict(zip(keys, row, strict=True)) for row in rows]))
        return 0
    legend = "--no-legend" not in flags
    plain = "--plain" in flags
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(_HEADERS)]
    prefix = "" if plain else "  "
    if legend:
        inv.say(prefix + _pad_row(_HEADERS, widths))
    for row in rows:
        bullet = "" if plain else "● "
        inv.say(bullet + _pad_row(row, widths))
    if legend and not rows:
        inv.say("0 loaded units listed.")
    elif legend:
        inv.say("")
        inv.say("LOAD   = Reflects whether the unit definition was properly loaded.")
        inv.say("ACTIVE = The high-level unit activation state, i.e. generalization of SUB.")
        inv.say("SUB    = The low-level unit activation state, values depend on unit type.")
        inv.say(f"{len(rows)} loaded units listed.")
    return 0


_HEADERS = ("UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION")


def _pad_row(row: tuple[str, ...], widths: list[int]) -> str:
    cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
    return " ".join([*cells, row[-1]])


def _unit_query(
    inv: Invocation, verb: str, units: list[str], failed: list[str], state: NodeState
) -> int:
    status = 0
    known = node_units(inv)
    for unit in units:
        is_failed = unit in failed
        if unit not in known:
            # systemd: an unknown unit is inactive; `status` says it cannot be found (exit 4).
            if verb == "status":
                inv.warn(f"Unit {unit} could not be found.")
                status = status or 4
            else:
                inv.say("inactive")
                status = status or (3 if verb == "is-active" else 1)
            continue
        if verb == "is-active":
            inv.say("failed" if is_failed else "active")
            status = status or (3 if is_failed else 0)
        elif verb == "is-failed":
            inv.say("failed" if is_failed else "active")
            status = status or (0 if is_failed else 1)
        else:
            since = inv.now - 1 if is_failed else state.boot_time
            for line in unit_status(unit, failed=is_failed, since=since, now=inv.now):
                inv.say(line)
            status = status or (3 if is_failed else 0)
    return status


def _show(inv: Invocation, args: list[str], units: list[str], failed: list[str]) -> int:
    """`systemctl show -p LoadState,ActiveState,SubState [--value] UNIT`: `Key=value` lines, or
    only the values with `--value`, in the order asked (systemd src/systemctl/systemctl-show.c).
    A unit the node does not have shows `LoadState=not-found`, `ActiveState=inactive`."""
    wanted: list[str] = []
    values_of_flags: set[str] = set()
    for i, arg in enumerate(args):
        if arg in ("-p", "--property") and i + 1 < len(args):
            wanted += args[i + 1].split(",")
            values_of_flags.add(args[i + 1])
        elif arg.startswith("--property="):
            wanted += arg.split("=", 1)[1].split(",")
    units = [u for u in units if u not in values_of_flags]
    known = node_units(inv)
    for unit in units:
        loaded = unit in known
        values = {
            "Id": unit,
            "LoadState": "loaded" if loaded else "not-found",
            "ActiveState": ("failed" if unit in failed else "active") if loaded else "inactive",
            "SubState": ("failed" if unit in failed else "running") if loaded else "dead",
            "Description": describe_unit(unit),
        }
        for key in wanted or list(values):
            value = values.get(key, "")
            inv.say(value if "--value" in args else f"{key}={value}")
    return 0


def node_units(inv: Invocation) -> set[str]:
    """The units this node has: the common ones, k3s's on k3s nodes, and any that failed."""
    units = {u for u in UNIT_DESCRIPTIONS if u != "k3s.service"}
    if inv.identity.k3s_role:
        units.add("k3s.service")
    return units | set(inv.files.load_state().failed_units)


def _reboot(inv: Invocation) -> int:
    """`systemctl reboot`: queue the reboot and return at once; the session ends when the node
    goes down (systemd src/systemctl/systemctl-start-special.c asks logind, which checks polkit)."""
    if not inv.privileged:
        inv.warn("Call to Reboot failed: Access denied")
        return 1
    if inv.identity.power_requests:
        power_requests.request(inv.identity.power_requests, "reboot", str(inv.files.root))
    return 0


def _unit_change(inv: Invocation, verb: str, units: list[str]) -> int:
    if not inv.privileged:
        inv.warn(f"Failed to {verb} {' '.join(units)}: Access denied")
        return 4
    known = node_units(inv)
    missing = [u for u in units if u not in known]
    if missing and verb != "reset-failed":
        # systemd's answer for a unit that has no unit file (bus error NoSuchUnit), exit 5.
        inv.warn(f"Failed to {verb} {missing[0]}: Unit {missing[0]} not found.")
        return 5
    current = inv.root.current_system() or ""
    with inv.files.editing() as state:
        broken = state.broken_systems.get(current)
        for unit in units:
            if verb in ("start", "restart") and broken and unit in broken.units:
                inv.warn(
                    f"Job for {unit} failed because the control process exited with error code."
                )
                inv.warn(f'See "systemctl status {unit}" and "journalctl -xeu {unit}" for details.')
                return 1
            if unit in state.failed_units and verb in ("start", "restart", "reset-failed"):
                state.failed_units.remove(unit)
        if verb == "reset-failed" and not units:
            state.failed_units = []
    return 0
