"""What a node reports about itself, read with one SSH command: the command and its parser.

Must not decide what is healthy (that is `handlers/status/digest_report.py`) or raise on odd output: a node's
output is outside input, so whatever cannot be read becomes None or an empty value.

The command is one `sh -c` script of simple commands joined by `;` (no pipes), each preceded
by an `echo` of a section marker, so one round trip answers everything:
`nixos-version --json`, `nixos-rebuild list-generations --json` (the current generation and
its date), `/proc/sys/kernel/random/boot_id`, `/proc/uptime`, `/proc/loadavg`,
`systemctl is-system-running`, `systemctl list-units --failed --no-legend --plain`,
`df -P -B1` of `/` and of the Longhorn path, `readlink` of the booted and the current system's
kernel, initrd and kernel modules (a reboot is pending when they differ: the three links nixpkgs'
nixos/modules/tasks/auto-upgrade.nix compares), and on k3s servers `sudo -n kubectl get nodes` (custom columns) and the cluster's health (`bot/integrations/k3s_cluster.py`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.integrations import k3s_cluster
from bot.integrations.k3s_cluster import ClusterHealth
from bot.outside_text import Outside

MARKER = "@@labbot@@"
ROOT = "/"
_GENERATION_DATE = "%Y-%m-%d %H:%M:%S"
_UNIT = re.compile(r"^[A-Za-z0-9@_.:\\-]+\.[a-z]+$")
_PERCENT = re.compile(r"^(\d{1,3})%$")


class DiskUse(BaseModel):
    """How full the filesystem holding `path` is (a fact of the digest's snapshot, stored as JSON)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    path: str
    mount: str
    size_bytes: int
    used_bytes: int
    used_percent: int


@dataclass(frozen=True)
class NodeReport:
    """Everything one node answered; None (or empty) where a section was missing or unreadable."""

    nixos_version: str | None = None
    configuration_revision: str | None = None
    generation: int | None = None
    generation_date: datetime | None = None
    current_system: str | None = None
    boot_id: str | None = None
    uptime_seconds: float | None = None
    load: tuple[float, float, float] | None = None
    system_state: str | None = None
    failed_units: tuple[str, ...] = ()
    disks: tuple[DiskUse, ...] = ()
    k3s_ready: Mapping[str, bool] | None = None  # k3s node name → Ready, from a server
    reboot_pending: tuple[str, ...] | None = None  # what a reboot would change; None: unknown
    cluster: ClusterHealth | None = None  # from a k3s server
    missing: tuple[str, ...] = field(default=())  # sections that could not be read


def node_script(disk_paths: Sequence[str], *, k3s_server: bool) -> str:
    """The `sh -c` script that gathers a node's facts: fixed commands, and the disk paths from
    the validated config, quoted (the one place labbot hands a node a script, to save round trips)."""
    parts = [
        ("version", "nixos-version --json"),
        ("system", "readlink /run/current-system"),
        ("generations", "nixos-rebuild list-generations --json"),
        ("boot_id", "cat /proc/sys/kernel/random/boot_id"),
        ("uptime", "cat /proc/uptime"),
        ("load", "cat /proc/loadavg"),
        ("state", "systemctl is-system-running"),
        ("failed", "systemctl list-units --failed --no-legend --plain"),
    ]
    parts += [(f"df {path}", f"df -P -B1 {shlex.quote(path)}") for path in disk_paths]
    parts += _boot_link_parts("/run/current-system")
    if k3s_server:
        parts += _k3s_parts()
    return _script(parts)


def _boot_link_parts(target: str) -> list[tuple[str, str]]:
    """`readlink` of the booted system's kernel, initrd and modules and of `target`'s."""
    return [
        (f"{name} {link}", f"readlink {shlex.quote(system)}/{link}")
        for name, system in (("booted", "/run/booted-system"), ("current", target))
        for link in BOOT_LINKS
    ]


def reboot_script(target: str = "/run/current-system") -> str:
    """Only the sections `reboot_pending` reads, against `target` (the running system, or the
    boot default `/nix/var/nix/profiles/system`)."""
    return _script(_boot_link_parts(target))


def _k3s_parts() -> list[tuple[str, str]]:
    return [
        ("k3s", "sudo -n " + shlex.join(k3s_cluster.NODES)),
        ("pods", "sudo -n " + shlex.join(k3s_cluster.PODS)),
        ("volumes", "sudo -n " + shlex.join(k3s_cluster.VOLUMES)),
        ("certificates", "sudo -n " + shlex.join(k3s_cluster.CERTIFICATES)),
    ]


def _script(parts: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"echo {MARKER}{name.replace(' ', ':')}; {command}" for name, command in parts)


def k3s_script() -> str:
    """Only the k3s sections (for a server outside the nodes being looked at)."""
    return _script(_k3s_parts())


def split_sections(stdout: str) -> dict[str, str]:
    """The output of each marked section, by name (`df:/var/lib/longhorn` for disk sections)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            current = sections.setdefault(line[len(MARKER) :].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def parse_report(stdout: str, disk_paths: Sequence[str], now: datetime | None = None) -> NodeReport:
    """Read the script's output; never raises."""
    sections = split_sections(stdout)
    missing: list[str] = []

    def section(name: str) -> str:
        text = sections.get(name, "")
        if not text:
            missing.append(name)
        return text

    version, revision = parse_nixos_version(section("version"))
    generation, date = _current_generation(section("generations"))
    uptime = _first_float(section("uptime"))
    load = _load(section("load"))
    state_text = sections.get("state", "").split()
    failed_text = sections.get("failed", "")
    disks = tuple(
        disk for path in disk_paths if (disk := parse_df(path, section(f"df:{path}"))) is not None
    )
    k3s = k3s_ready(sections["k3s"]) if "k3s" in sections else None
    boot_id = sections.get("boot_id", "").strip() or None
    cluster = parse_cluster(sections, now or datetime.now(UTC)) if "pods" in sections else None
    return NodeReport(
        nixos_version=version,
        configuration_revision=revision,
        generation=generation,
        generation_date=date,
        current_system=_store_path(sections.get("system", "")),
        boot_id=boot_id[:64] if boot_id else None,
        uptime_seconds=uptime,
        load=load,
        system_state=state_text[0][:32] if state_text else None,
        failed_units=parse_failed_units(failed_text),
        disks=disks,
        k3s_ready=k3s,
        reboot_pending=reboot_pending(sections),
        cluster=cluster,
        missing=tuple(missing),
    )


_STORE_PATH = re.compile(r"^/nix/store/[0-9a-z]{32}-[A-Za-z0-9+._?=-]+$")


def _store_path(text: str) -> str | None:
    """A store path as `readlink` printed it, or None."""
    line = text.strip()
    return line if _STORE_PATH.match(line) else None


BOOT_LINKS = ("kernel", "initrd", "kernel-modules")


def reboot_pending(sections: Mapping[str, str]) -> tuple[str, ...] | None:
    """Which of kernel, initrd and kernel modules differ between the booted and the current
    system (empty: none, no reboot needed); None when the links could not be read."""
    differ = []
    for link in BOOT_LINKS:
        booted = sections.get(f"booted:{link}", "").strip()
        current = sections.get(f"current:{link}", "").strip()
        if not booted or not current:
            return None
        if booted != current:
            differ.append(link)
    return tuple(differ)


def parse_cluster(sections: Mapping[str, str], now: datetime) -> ClusterHealth:
    """The cluster's health from a server's `pods`, `volumes` and `certificates` sections."""
    problems = []
    pods = k3s_cluster.parse_pods(sections.get("pods", ""))
    if pods is None:
        problems.append("pods could not be read")
    volumes = k3s_cluster.parse_volumes(sections.get("volumes", ""))
    if volumes is None:
        problems.append("Longhorn volumes could not be read")
    certificates = k3s_cluster.parse_certificates(sections.get("certificates", ""), now)
    if certificates is None:
        problems.append("k3s certificates could not be read")
    return ClusterHealth(
        pods_not_running=pods[0] if pods else None,
        worst_pods=pods[1] if pods else (),
        volumes=volumes,
        certificates=certificates,
        problems=tuple(problems),
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def parse_nixos_version(text: str) -> tuple[str | None, str | None]:
    """`nixos-version --json`: the version and the configuration revision (None if absent)."""
    data = _json(text)
    if not isinstance(data, dict):
        return None, None
    version = data.get("nixosVersion")
    revision = data.get("configurationRevision")
    return (
        Outside(version[:64]) if isinstance(version, str) and version else None,
        revision[:64] if isinstance(revision, str) and revision else None,
    )


def _current_generation(text: str) -> tuple[int | None, datetime | None]:
    """The entry marked current in `nixos-rebuild list-generations --json`.

    Its date is the node's local time; it is read as UTC, NixOS's default `time.timeZone`.
    """
    data = _json(text)
    if not isinstance(data, list):
        return None, None
    for entry in data:
        if not isinstance(entry, dict) or entry.get("current") is not True:
            continue
        number = entry.get("generation")
        if isinstance(number, bool) or not isinstance(number, int):
            return None, None
        date = entry.get("date")
        try:
            when = datetime.strptime(str(date), _GENERATION_DATE).replace(tzinfo=UTC)
        except ValueError:
            when = None
        return number, when
    return None, None


def _first_float(text: str) -> float | None:
    words = text.split()
    try:
        value = float(words[0]) if words else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 and value == value else None


def _load(text: str) -> tuple[float, float, float] | None:
    words = text.split()[:3]
    try:
        one, five, fifteen = (float(w) for w in words)
    except ValueError:
        return None
    values = (one, five, fifteen)
    return values if all(v >= 0 and v == v and v != float("inf") for v in values) else None


def parse_failed_units(text: str) -> tuple[str, ...]:
    """Unit names from `systemctl list-units --failed --no-legend --plain` (bullets tolerated)."""
    units = []
    for line in text.splitlines():
        words = line.replace("●", " ").replace("*", " ").split()
        if words and _UNIT.match(words[0]) and words[0] not in units:
            units.append(Outside(words[0][:255]))
    return tuple(units)


def parse_df(path: str, text: str) -> DiskUse | None:
    """The last line of `df -P -B1 PATH`: filesystem, size, used, available, capacity, mount."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    words = lines[-1].split()
    if len(words) < 6:
        return None
    try:
        size, used, available = (int(w) for w in words[1:4])
    except ValueError:
        return None
    found = _PERCENT.match(words[4])
    if found:
        percent = int(found.group(1))
    elif used + available > 0:
        percent = -(-100 * used // (used + available))  # df rounds up
    else:
        return None
    if min(size, used, available) < 0 or percent > 100:
        return None
    mount = " ".join(words[5:])[:255]
    return DiskUse(path=path, mount=mount, size_bytes=size, used_bytes=used, used_percent=percent)


def k3s_ready(text: str) -> dict[str, bool] | None:
    """k3s node name → Ready, from `k3s_cluster.NODES`' rows; None if none could be read."""
    nodes = k3s_cluster.parse_nodes(text)
    return {name: node.ready for name, node in nodes.items()} if nodes is not None else None
