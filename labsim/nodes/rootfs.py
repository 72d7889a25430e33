"""A simulated node's root filesystem: store, system profile generations, current system, boot.

Everything is a real file or relative symlink under the node's state directory; node paths such as
`/run/current-system` map onto it. No processes, no SSH, no volatile state (see `nodestate`).
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from labsim.nodes.storepaths import STORE_DIR, SYSTEM_INFO_FILE, SystemClosure, store_path

PROFILES_DIR = "/nix/var/nix/profiles"
SYSTEM_PROFILE = "/nix/var/nix/profiles/system"
CURRENT_SYSTEM = "/run/current-system"
BOOTED_SYSTEM = "/run/booted-system"
EXTLINUX_CONF = "/boot/extlinux/extlinux.conf"
_GEN_LINK = re.compile(r"^system-(\d+)-link$")
_MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class Generation:
    """One generation of the system profile, as `nix-env --list-generations` shows it."""

    number: int
    path: str
    created: float
    current: bool


class NodeRoot:
    """The node's filesystem rooted at a host directory.

    Usage: `root = NodeRoot(state_dir); root.set_profile(closure.toplevel); root.current_system()`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- paths -------------------------------------------------------------------------------

    def host_path(self, node_path: str) -> Path:
        """The host path of a node path, without following symlinks."""
        return self.root / node_path.lstrip("/")

    def readlink(self, node_path: str) -> str | None:
        """The link text as the node would print it (store targets shown absolute), or None."""
        host = self.host_path(node_path)
        if not host.is_symlink():
            return None
        raw = os.readlink(host)
        if raw.startswith("/") or "/" not in raw:
            return raw
        return posixpath.normpath(posixpath.join(posixpath.dirname(node_path), raw))

    def resolve(self, node_path: str, *, strict: bool = False) -> str | None:
        """Canonical node path following symlinks inside the root (readlink -f; -e if strict)."""
        pending = [p for p in node_path.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            host = self.root.joinpath(*resolved, part)
            if host.is_symlink():
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    return None
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p] + pending
                continue
            if strict and not host.exists():
                return None
            resolved.append(part)
        return "/" + "/".join(resolved)

    def exists(self, node_path: str) -> bool:
        """Whether the node path exists after following symlinks."""
        return self.resolve(node_path, strict=True) is not None

    # -- store -------------------------------------------------------------------------------

    def has_store_path(self, path: str) -> bool:
        """Whether `/nix/store/<name>` is present on the node."""
        return path.startswith(STORE_DIR + "/") and self.host_path(path).is_dir()

    def add_store_path(self, path: str, files: dict[str, str]) -> None:
        """Create a store path with the given files (relative path → text)."""
        top = self.host_path(path)
        top.mkdir(parents=True, exist_ok=True)
        for rel, content in files.items():
            target = top / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            if rel.startswith("bin/"):
                target.chmod(0o755)
        if SYSTEM_INFO_FILE in files:
            closure = SystemClosure.from_json(files[SYSTEM_INFO_FILE])
            for rel, target_path in closure.toplevel_links().items():
                link = top / rel
                if not link.is_symlink():
                    link.symlink_to(target_path)

    def install_closure(self, closure: SystemClosure) -> None:
        """Put a whole system closure into the node's store."""
        for dep in closure.dependency_paths():
            self.add_store_path(dep, {})
        self.add_store_path(closure.toplevel, closure.toplevel_files())

    def system_info(self, path: str) -> SystemClosure | None:
        """The system description of a toplevel store path (following links), if it is one."""
        canonical = self.resolve(path, strict=True)
        if canonical is None:
            return None
        info = self.host_path(canonical) / SYSTEM_INFO_FILE
        if not info.is_file():
            return None
        return SystemClosure.from_json(info.read_text())

    # -- links -------------------------------------------------------------------------------

    def _set_link(self, node_path: str, node_target: str, when: float | None = None) -> None:
        link = self.host_path(node_path)
        link.parent.mkdir(parents=True, exist_ok=True)
        if "/" in node_target:
            text = posixpath.relpath(node_target, posixpath.dirname(node_path))
        else:
            text = node_target
        tmp = link.with_name(f".{link.name}.tmp{os.getpid()}")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(text, tmp)
        if when is not None:
            os.utime(tmp, (when, when), follow_symlinks=False)
        tmp.replace(link)

    def current_system(self) -> str | None:
        """The store path `/run/current-system` points to."""
        return self.resolve(CURRENT_SYSTEM, strict=True)

    def set_current_system(self, path: str) -> None:
        """Point `/run/current-system` at a store path (activation)."""
        self._set_link(CURRENT_SYSTEM, path)

    def set_booted_system(self, path: str) -> None:
        """Point `/run/booted-system` at a store path (boot)."""
        self._set_link(BOOTED_SYSTEM, path)

    # -- generations -------------------------------------------------------------------------

    def generations(self) -> list[Generation]:
        """All generations of the system profile, oldest first."""
        profiles = self.host_path(PROFILES_DIR)
        if not profiles.is_dir():
            return []
        current = self.current_generation()
        found = []
        for entry in profiles.iterdir():
            match = _GEN_LINK.match(entry.name)
            if not match or not entry.is_symlink():
                continue
            number = int(match.group(1))
            target = self.resolve(f"{PROFILES_DIR}/{entry.name}") or ""
            created = entry.lstat().st_mtime
            found.append(Generation(number, target, created, number == current))
        return sorted(found, key=lambda g: g.number)

    def current_generation(self) -> int | None:
        """The generation number the system profile points to."""
        text = self.readlink(SYSTEM_PROFILE)
        match = _GEN_LINK.match(text or "")
        return int(match.group(1)) if match else None

    def profile_path(self) -> str | None:
        """The store path of the system profile's current generation."""
        return self.resolve(SYSTEM_PROFILE, strict=True)

    def set_profile(self, path: str, when: float | None = None) -> int:
        """`nix-env -p system --set PATH`: a new generation unless the newest already is PATH."""
        gens = self.generations()
        if gens and gens[-1].path == path:
            number = gens[-1].number
        else:
            number = gens[-1].number + 1 if gens else 1
            link = f"{PROFILES_DIR}/system-{number}-link"
            self._set_link(link, path, when if when is not None else time.time())
        self._set_link(SYSTEM_PROFILE, f"system-{number}-link")
        return number

    def switch_generation(self, number: int) -> None:
        """Point the profile at an existing generation (caller checks that it exists)."""
        self._set_link(SYSTEM_PROFILE, f"system-{number}-link")

    def delete_generation(self, number: int) -> None:
        """Remove a generation link (never the current one; the caller checks)."""
        self.host_path(f"{PROFILES_DIR}/system-{number}-link").unlink()

    # -- bootloader --------------------------------------------------------------------------

    def install_bootloader(self, default: str) -> None:
        """Write a generic-extlinux-compatible extlinux.conf whose default boots `default`."""
        info = self.system_info(default)
        kernel = info.kernel_version if info else "6.6.63"
        kernel_path = store_path(f"linux-{kernel}", f"linux-{kernel}").rsplit("/", 1)[1]
        lines = [
            "# Generated file, all changes will be lost on nixos-rebuild!",
            "",
            "# Change this to e.g. nixos-42 to temporarily boot to an older configuration.",
            "DEFAULT nixos-default",
            "",
            "MENU TITLE ------------------------------------------------------------",
            "TIMEOUT 50",
        ]
        entries = [("nixos-default", "NixOS - Default", default)]
        for gen in reversed(self.generations()):
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(gen.created))
            gen_info = self.system_info(gen.path)
            version = gen_info.nixos_version if gen_info else "unknown"
            label = f"NixOS - Configuration {gen.number} ({stamp} - {version})"
            entries.append((f"nixos-{gen.number}", label, gen.path))
        for name, label, system in entries:
            lines += [
                "",
                f"LABEL {name}",
                f"  MENU LABEL {label}",
                f"  LINUX ../nixos/{kernel_path}-Image",
                f"  INITRD ../nixos/{kernel_path}-initrd",
                f"  APPEND init={system}/init console=ttyS0,115200 loglevel=4",
                f"  FDTDIR ../nixos/{kernel_path}-dtbs",
            ]
        conf = self.host_path(EXTLINUX_CONF)
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join(lines) + "\n")

    def boot_default(self) -> str | None:
        """The system the bootloader's default entry boots."""
        conf = self.host_path(EXTLINUX_CONF)
        if not conf.is_file():
            return None
        in_default = False
        for line in conf.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("LABEL "):
                in_default = stripped == "LABEL nixos-default"
            elif in_default and stripped.startswith("APPEND init="):
                init = stripped.split()[1].removeprefix("init=")
                return init.removesuffix("/init")
        return None

    def reimage(self, closure: SystemClosure) -> None:
        """A freshly written image: the store holds only `closure`, the one generation (1),
        current, booted and the boot default."""
        for generation in self.generations():
            self.delete_generation(generation.number)
        self.host_path(SYSTEM_PROFILE).unlink(missing_ok=True)
        store = self.host_path(STORE_DIR)
        if store.is_dir():
            shutil.rmtree(store)
        store.mkdir(parents=True)
        self.seed([closure], [time.time()])

    def seed(self, closures: list[SystemClosure], created: list[float]) -> None:
        """Install closures as generations 1..N (the last current, booted and boot default)."""
        for closure, when in zip(closures, created, strict=True):
            self.install_closure(closure)
            self.set_profile(closure.toplevel, when)
        last = closures[-1].toplevel
        self.set_current_system(last)
        self.set_booted_system(last)
        self.install_bootloader(last)
