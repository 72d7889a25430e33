"""Nix store path names and the simulated NixOS system closure that lives under one.

Pure data and hashing only; no filesystem layout of a node (see `rootfs`) and no processes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STORE_DIR = "/nix/store"
SYSTEM_INFO_FILE = "labsim-system.json"
NIX_BASE32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"

# NixOS release code names, from nixos/release notes (used by plain `nixos-version`).
CODE_NAMES = {
    "23.05": "Stoat",
    "23.11": "Tapir",
    "24.05": "Uakari",
    "24.11": "Vicuna",
    "25.05": "Warbler",
    "25.11": "Xantusia",
}

# Packages every simulated system carries: (pname, candidate versions, size in bytes). Which
# candidate a closure gets depends on its nixpkgs revision, so a nixpkgs bump changes some of them.
_BASE_PACKAGES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("bash", ("5.2p32", "5.2p37"), 1_700_000),
    ("coreutils", ("9.5",), 6_100_000),
    ("glibc", ("2.40-36", "2.40-66"), 29_500_000),
    ("linux", ("6.6.63", "6.6.66", "6.6.69"), 142_000_000),
    ("nix", ("2.24.10", "2.24.11"), 22_000_000),
    ("openssh", ("9.8p1", "9.9p1"), 4_600_000),
    ("systemd", ("256.8", "256.10"), 35_000_000),
    ("util-linux", ("2.39.4", "2.40.2"), 9_800_000),
)
_K3S_PACKAGE = ("k3s", ("1.30.6+k3s1", "1.31.4+k3s1"), 205_000_000)


def nix_base32(data: bytes) -> str:
    """Encode bytes the way Nix prints hashes in store paths (its own base-32 alphabet)."""
    length = (len(data) * 8 - 1) // 5 + 1
    chars = []
    for n in range(length - 1, -1, -1):
        bit = n * 5
        i, j = divmod(bit, 8)
        value = data[i] >> j
        if i + 1 < len(data):
            value |= data[i + 1] << (8 - j)
        chars.append(NIX_BASE32_ALPHABET[value & 0x1F])
    return "".join(chars)


def store_hash(seed: str) -> str:
    """A 32-character store hash: sha256 of `seed` folded to 160 bits, as Nix compresses hashes."""
    digest = hashlib.sha256(seed.encode()).digest()
    folded = bytearray(20)
    for index, byte in enumerate(digest):
        folded[index % 20] ^= byte
    return nix_base32(bytes(folded))


def store_path(seed: str, name: str) -> str:
    """`/nix/store/<hash>-<name>` for a deterministic seed."""
    return f"{STORE_DIR}/{store_hash(seed)}-{name}"


def split_name_version(name: str) -> tuple[str, str]:
    """Split a store name into (pname, version) at the first dash followed by a digit, like Nix."""
    for index in range(len(name) - 1):
        if name[index] == "-" and name[index + 1].isdigit():
            return name[:index], name[index + 1 :]
    return name, ""


def code_name(nixos_version: str) -> str:
    """The release code name for a version such as `24.11.20250101.abcdef0`."""
    release = ".".join(nixos_version.split(".")[:2])
    return CODE_NAMES.get(release, "Unknown")


@dataclass(frozen=True)
class PackageEntry:
    """One store path of a closure: its package name, version and NAR size."""

    pname: str
    version: str
    size: int

    @property
    def name(self) -> str:
        """The store name (`pname-version`, or just `pname` without a version)."""
        return f"{self.pname}-{self.version}" if self.version else self.pname


@dataclass(frozen=True)
class SystemClosure:
    """A built NixOS system: the toplevel path plus what `nixos-version` and diff-closures need."""

    node: str
    toplevel: str
    nixos_version: str
    nixpkgs_revision: str
    configuration_revision: str | None
    kernel_version: str
    packages: tuple[PackageEntry, ...] = field(default_factory=tuple)

    @property
    def basename(self) -> str:
        """The toplevel's directory name inside the store."""
        return self.toplevel.rsplit("/", 1)[1]

    def dependency_paths(self) -> list[str]:
        """Store paths of the closure other than the toplevel, derived from the package list."""
        return [store_path(f"{p.name}:{p.size}", p.name) for p in self.packages]

    def all_paths(self) -> list[str]:
        """Every store path of the closure, dependencies first (the order Nix copies them)."""
        return [*self.dependency_paths(), self.toplevel]

    def to_json(self) -> str:
        """Serialise to one JSON line (the content of `labsim-system.json`)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SystemClosure:
        """Parse what `to_json` wrote."""
        raw: dict[str, Any] = json.loads(text)
        packages = tuple(PackageEntry(**entry) for entry in raw.pop("packages", []))
        return cls(packages=packages, **raw)

    def toplevel_files(self) -> dict[str, str]:
        """Files of the toplevel directory, relative path → content (markers, not real programs)."""
        init = f"{self.toplevel}/init"
        return {
            "nixos-version": self.nixos_version,
            "kernel-params": f"init={init} console=ttyS0,115200 loglevel=4",
            "init": "#! labsim: stage-2 init marker\n",
            "activate": "#! labsim: activation script marker\n",
            "bin/switch-to-configuration": "#! labsim: switch-to-configuration marker\n",
            SYSTEM_INFO_FILE: self.to_json(),
        }

    def toplevel_links(self) -> dict[str, str]:
        """Symlinks of the toplevel directory, relative path → target, as nixpkgs'
        nixos/modules/system/activation/top-level.nix makes them: the kernel image, its modules
        and the initrd. A node whose booted system links other targets needs a reboot to run
        them (nixpkgs nixos/modules/tasks/auto-upgrade.nix compares exactly these three).
        The initrd is rebuilt with every nixpkgs revision, the kernel only when its version moves."""
        kernel = store_path(f"linux-{self.kernel_version}", f"linux-{self.kernel_version}")
        modules = store_path(
            f"linux-{self.kernel_version}-modules", f"linux-{self.kernel_version}-modules"
        )
        initrd = store_path(
            f"initrd-linux-{self.kernel_version}:{self.nixpkgs_revision}",
            f"initrd-linux-{self.kernel_version}",
        )
        return {
            "kernel": f"{kernel}/Image",
            "kernel-modules": modules,
            "initrd": f"{initrd}/initrd",
        }

    def materialize(self, store_dir: Path) -> Path:
        """Write the toplevel and empty dependency dirs into a host dir standing for a store."""
        for dep in self.dependency_paths():
            (store_dir / dep.rsplit("/", 1)[1]).mkdir(parents=True, exist_ok=True)
        top = store_dir / self.basename
        for rel, content in self.toplevel_files().items():
            target = top / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        (top / "bin/switch-to-configuration").chmod(0o755)
        for rel, link_target in self.toplevel_links().items():
            link = top / rel
            if not link.is_symlink():
                link.symlink_to(link_target)
        return top


def _pick(seed: str, choices: tuple[str, ...]) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return choices[int.from_bytes(digest[:4], "big") % len(choices)]


def nixos_version_for(release: str, last_modified_date: str, nixpkgs_revision: str) -> str:
    """A NixOS version string such as `24.11.20250101.abcdef0`."""
    return f"{release}.{last_modified_date}.{nixpkgs_revision[:7]}"


def build_system(
    node: str,
    *,
    content_hash: str,
    release: str,
    last_modified_date: str,
    nixpkgs_revision: str,
    configuration_revision: str | None,
    k3s: bool,
) -> SystemClosure:
    """Derive the system closure a node gets from a configuration; same inputs → same path."""
    version = nixos_version_for(release, last_modified_date, nixpkgs_revision)
    packages = []
    kernel = "6.6.63"
    for pname, choices, size in (*_BASE_PACKAGES, *((_K3S_PACKAGE,) if k3s else ())):
        chosen = _pick(f"{nixpkgs_revision}:{pname}", choices)
        if pname == "linux":
            kernel = chosen
        wobble = int.from_bytes(hashlib.sha256(f"{pname}-{chosen}".encode()).digest()[:2], "big")
        packages.append(PackageEntry(pname, chosen, size + (wobble % 600) * 1024))
    config_seed = hashlib.sha256(f"{content_hash}:{node}".encode()).digest()
    etc_size = 180_000 + int.from_bytes(config_seed[:2], "big")
    units_size = 60_000 + int.from_bytes(config_seed[2:4], "big") // 4
    packages.append(PackageEntry("etc", "", etc_size))
    packages.append(PackageEntry("system-units", "", units_size))
    name = f"nixos-system-{node}-{version}"
    toplevel = store_path(f"{content_hash}:{node}:{version}", name)
    return SystemClosure(
        node=node,
        toplevel=toplevel,
        nixos_version=version,
        nixpkgs_revision=nixpkgs_revision,
        configuration_revision=configuration_revision,
        kernel_version=kernel,
        packages=tuple(sorted(packages, key=lambda p: p.pname)),
    )
