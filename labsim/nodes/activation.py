"""`<system>/bin/switch-to-configuration switch|boot|test|dry-activate` on the simulated node.

Messages and exit codes follow NixOS's switch-to-configuration (4 = units failed after the switch,
1 = usage); systemd-style unit descriptions and `systemctl status` text live here too.
"""

from __future__ import annotations

import time

from labsim.nodes.console import NodeConsole
from labsim.nodes.invocation import Invocation
from labsim.nodes.nodestate import BrokenSystem, NodeState
from labsim.nodes.units import describe_unit

GOALS = ("switch", "boot", "test", "dry-activate")


def format_timespan(seconds: float) -> str:
    """systemd-like short timespan: `3s`, `5min 2s`, `2h 3min`, `4 days 2h`."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours}h"
    if hours:
        return f"{hours}h {minutes}min"
    if minutes:
        return f"{minutes}min {secs}s"
    return f"{max(secs, 0)}s"


def format_since(when: float, now: float) -> str:
    """`Thu 2024-05-02 10:00:00 UTC; 3s ago` as systemctl status prints it."""
    stamp = time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(when))
    return f"{stamp}; {format_timespan(now - when)} ago"


def unit_status(unit: str, *, failed: bool, since: float, now: float) -> list[str]:
    """`systemctl status UNIT` lines for an active or a failed unit."""
    loaded = f"     Loaded: loaded (/etc/systemd/system/{unit}; enabled; preset: enabled)"
    if failed:
        return [
            f"× {unit} - {describe_unit(unit)}",
            loaded,
            f"     Active: failed (Result: exit-code) since {format_since(since, now)}",
            "   Duration: 2.104s",
            f"    Process: 2345 ExecStart=/nix/store/unit-script-{unit}-start "
            "(code=exited, status=1/FAILURE)",
            "   Main PID: 2345 (code=exited, status=1/FAILURE)",
            "         IP: 0B in, 0B out",
            "        CPU: 1.203s",
        ]
    return [
        f"● {unit} - {describe_unit(unit)}",
        loaded,
        f"     Active: active (running) since {format_since(since, now)}",
        "   Main PID: 1234",
    ]


def switch_to_configuration(inv: Invocation, system: str) -> int:
    """Run `<system>/bin/switch-to-configuration GOAL` (system is the canonical store path)."""
    script = f"{system}/bin/switch-to-configuration"
    goal = inv.argv[1] if len(inv.argv) > 1 else ""
    if goal not in GOALS:
        inv.warn(f"Usage: {script} [switch|boot|test|dry-activate]")
        inv.warn("switch:       make the configuration the boot default and activate now")
        inv.warn("boot:         make the configuration the boot default")
        inv.warn("test:         activate the configuration, but don't make it the boot default")
        inv.warn("dry-activate: show what would be done if this configuration were activated")
        return 1
    if not inv.privileged and goal != "dry-activate":
        # Wording inferred: the real script cannot take /run/nixos/switch-to-configuration.lock.
        inv.warn("Could not open lock - Permission denied")
        return 1
    with inv.files.editing() as state:
        previous = inv.root.current_system()
        if goal == "dry-activate":
            return _dry_activate(inv, system, previous)
        if goal in ("switch", "boot"):
            inv.root.install_bootloader(system)
        if goal == "boot":
            return 0
        return _activate(inv, state, system, previous)


def _restarted_units(inv: Invocation, system: str, previous: str | None) -> list[str]:
    if previous == system or inv.identity.k3s_role is None:
        return []
    return ["k3s.service"]


def _dry_activate(inv: Invocation, system: str, previous: str | None) -> int:
    inv.warn("would activate the configuration...")
    restarted = _restarted_units(inv, system, previous)
    if restarted:
        inv.warn(f"would restart the following units: {', '.join(restarted)}")
    return 0


def _activate(inv: Invocation, state: NodeState, system: str, previous: str | None) -> int:
    if state.pending_fault is not None:
        state.broken_systems[system] = state.pending_fault
        state.pending_fault = None
    restarted = _restarted_units(inv, system, previous)
    inv.warn("activating the configuration...")
    inv.warn("setting up /etc...")
    inv.warn(f"reloading user units for {inv.user}...")
    inv.warn("restarting sysinit-reactivation.target")
    inv.root.set_current_system(system)
    broken = state.broken_systems.get(system, BrokenSystem(units=(), exit_code=0))
    if restarted:
        inv.warn(f"restarting the following units: {', '.join(restarted)}")
    state.failed_units = sorted(broken.units)
    if broken.exit_code == 0 or not broken.units:
        return 0
    NodeConsole(inv.files.root).failed_units(sorted(broken.units))
    inv.warn(f"warning: the following units failed: {', '.join(sorted(broken.units))}")
    for unit in sorted(broken.units):
        inv.warn("")
        for line in unit_status(unit, failed=True, since=inv.now - 1, now=inv.now):
            inv.warn(line)
    return broken.exit_code
