"""`nix store diff-closures BEFORE AFTER` of the nix double, over systems in the local store.

Format as Nix's `renderDiffInfo`: one line per package name (sorted) whose versions changed or
whose size moved by at least 8 KiB: `name: 1.0 → 1.1, +12.3 KiB`; `∅` for absent, `ε` for an
empty version. No ANSI colours (Nix colours the size delta only on a terminal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from labsim.colmena.build import local_path
from labsim.nodes.storepaths import SYSTEM_INFO_FILE, SystemClosure, split_name_version


class InvalidPath(ValueError):
    """Raised when a path is not a system in the local store (`error: path '…' is not valid`)."""


def load_closure(store_dir: Path, path: str) -> SystemClosure:
    """Read a system closure by `/nix/store/...` path or host path."""
    host = Path(path) if Path(path).is_dir() else local_path(store_dir, path.rstrip("/"))
    info = host / SYSTEM_INFO_FILE
    if not info.is_file():
        raise InvalidPath(f"error: path '{path}' is not valid")
    return SystemClosure.from_json(info.read_text())


def _versions(closure: SystemClosure) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for package in closure.packages:
        table.setdefault(package.pname, {})[package.version] = package.size
    pname, version = split_name_version(closure.basename.split("-", 1)[1])
    table.setdefault(pname, {})[version] = 48_000
    return table


@dataclass(frozen=True)
class PackageDiff:
    """How one package name differs between two closures."""

    name: str
    removed: tuple[str, ...]
    added: tuple[str, ...]
    size_delta: int


def diff_closures(before: SystemClosure, after: SystemClosure) -> list[PackageDiff]:
    """Packages whose versions changed or whose size moved by ≥ 8 KiB, sorted by name."""
    old, new = _versions(before), _versions(after)
    result = []
    for name in sorted(set(old) | set(new)):
        old_versions, new_versions = old.get(name, {}), new.get(name, {})
        delta = sum(new_versions.values()) - sum(old_versions.values())
        removed = tuple(sorted(set(old_versions) - set(new_versions)))
        added = tuple(sorted(set(new_versions) - set(old_versions)))
        if removed or added or abs(delta) >= 8 * 1024:
            result.append(PackageDiff(name, removed, added, delta))
    return result


def _show(versions: tuple[str, ...]) -> str:
    if not versions:
        return "∅"
    return ", ".join(v or "ε" for v in versions)


def render(diffs: list[PackageDiff]) -> list[str]:
    """Text lines as `nix store diff-closures` prints them."""
    lines = []
    for diff in diffs:
        items = []
        if diff.removed or diff.added:
            items.append(f"{_show(diff.removed)} → {_show(diff.added)}")
        if abs(diff.size_delta) >= 8 * 1024:
            items.append(f"{diff.size_delta / 1024:+.1f} KiB")
        lines.append(f"{diff.name}: {', '.join(items)}")
    return lines


def render_json(diffs: list[PackageDiff]) -> str:
    """`--json` output: `{"packages": {name: {sizeDelta, versionsBefore, versionsAfter}}}`."""
    packages = {
        d.name: {
            "sizeDelta": d.size_delta,
            "versionsBefore": list(d.removed),
            "versionsAfter": list(d.added),
        }
        for d in diffs
    }
    return json.dumps({"packages": packages}, separators=(",", ":"))
