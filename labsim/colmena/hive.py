"""Find the hive (flake.nix or hive.nix) the way colmena 0.4.0 does and read the lab inventory.

The doubles cannot evaluate Nix, so node facts come from `<hive dir>/inventory.json`:
`{"nodes": {"tp-node3": {"host", "port", "user", "tags", "slot", "module", "k3s_role"}}}`.
Also: the checkout's content hash (drives built store paths), git revision, nixpkgs lock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

INVENTORY_FILE = "inventory.json"
_HASH_SKIP_DIRS = {".git", ".gcroots", "__pycache__", ".direnv"}
_HASH_SKIP_PREFIXES = ("result", ".labsim")
DEFAULT_NIXPKGS_REV = "abcdef0123456789abcdef0123456789abcdef01"
DEFAULT_NIXPKGS_DATE = "20250101"
DEFAULT_RELEASE = "24.11"


class HiveError(RuntimeError):
    """Raised when no hive is found or the inventory is unusable (colmena exits 1)."""


@dataclass(frozen=True)
class InventoryNode:
    """One node of the inventory; `host` None means no targetHost (apply skips it)."""

    name: str
    host: str | None
    port: int | None
    user: str | None
    tags: tuple[str, ...]
    slot: int | None
    module: str | None
    k3s_role: str | None


@dataclass(frozen=True)
class Hive:
    """A located hive: flake or legacy file, its directory and the nodes it declares."""

    is_flake: bool
    file: Path
    directory: Path
    nodes: dict[str, InventoryNode]

    @property
    def uri(self) -> str:
        """`git+file:///dir` or `path:/dir` for a flake; the file path for a legacy hive."""
        if not self.is_flake:
            return str(self.file)
        if (self.directory / ".git").exists():
            return f"git+file://{self.directory}"
        return f"path:{self.directory}"


def locate_hive(config: str | None, cwd: Path) -> Hive:
    """Resolve `-f/--config` (or walk up from cwd) to a hive and load its inventory."""
    if config is None:
        file = _walk_up(cwd)
    elif not Path(config).exists() and ":" in config:
        file = _from_flake_uri(config)
    else:
        path = (cwd / config).resolve()
        if path.is_dir():
            # `-f .` is a legacy hive path (nix imports DIR/default.nix), never a flake.
            path = path / "default.nix"
        if not path.is_file():
            raise HiveError(f"error: getting status of '{path}': No such file or directory")
        file = path
    directory = file.parent
    return Hive(file.name == "flake.nix", file, directory, load_inventory(directory))


def _walk_up(cwd: Path) -> Path:
    current = cwd.resolve()
    while True:
        for name in ("flake.nix", "hive.nix"):
            if (current / name).is_file():
                return current / name
        if current.parent == current:
            raise HiveError(
                f'Could not find `hive.nix` or `flake.nix` in "{cwd}" or any parent directory'
            )
        current = current.parent


def _from_flake_uri(uri: str) -> Path:
    for prefix in ("git+file://", "path:", "file://"):
        if uri.startswith(prefix):
            directory = Path(uri[len(prefix) :].split("?", 1)[0])
            if (directory / "flake.nix").is_file():
                return directory / "flake.nix"
            raise HiveError(f"error: path '{directory}/flake.nix' does not exist")
    raise HiveError(f"error: labsim colmena double only reads local flakes, not '{uri}'")


SCHEMA_OF_FLAVOR = {"0.4.0": "v0", "main": "v0.5"}
"""The one hive schema each colmena reads: `compatibleSchema` in src/nix/hive/flake.nix of
v0.4.0 ("v0"), `HIVE_SCHEMA` in src/nix/hive/mod.rs on main ("v0.5", since 41ed664, "hive:
Promote schema version to v0.5"); github.com/zhaofengli/colmena."""


def hive_schema(directory: Path) -> str | None:
    """What the flake's `colmenaHive.__schema` evaluates to (colmena's `lib.makeHive` sets it,
    src/nix/hive/eval.nix), from inventory.json's `hive_schema`; None when the flake has no
    `colmenaHive` output (colmena then evaluates the raw `colmena` output itself)."""
    try:
        raw = json.loads((directory / INVENTORY_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    schema = raw.get("hive_schema")
    return str(schema) if schema else None


def load_inventory(directory: Path) -> dict[str, InventoryNode]:
    """Parse `<directory>/inventory.json` into nodes keyed (and sorted) by name."""
    path = directory / INVENTORY_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise HiveError(f"labsim: no {INVENTORY_FILE} next to the hive in {directory}") from None
    except json.JSONDecodeError as exc:
        raise HiveError(f"labsim: {path} is not valid JSON: {exc}") from None
    nodes = {}
    for name, entry in sorted(dict(raw.get("nodes", {})).items()):
        if not isinstance(entry, dict):
            raise HiveError(f"labsim: node {name!r} in {path} is not an object")
        nodes[name] = InventoryNode(
            name=name,
            host=entry.get("host", name),
            port=int(entry["port"]) if entry.get("port") is not None else None,
            user=entry.get("user", "root"),
            tags=tuple(entry.get("tags", [])),
            slot=int(entry["slot"]) if entry.get("slot") is not None else None,
            module=entry.get("module"),
            k3s_role=entry.get("k3s_role"),
        )
    return nodes


def content_hash(directory: Path, node: str | None = None, others: set[str] | None = None) -> str:
    """sha256 over the checkout's files, as the node's configuration sees them.

    Skips VCS data, result links and the inventory (it only feeds `deployment.*`, which does not
    change a system), and files or directories named after *other* nodes (`hosts/tp-node1.nix`
    does not change tp-node3's system): shared files change every node, a node's own only it.
    """
    skip_stems = (others or set()) - {node} if node else set()
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _HASH_SKIP_DIRS
            and not d.startswith(_HASH_SKIP_PREFIXES)
            and d not in skip_stems
        )
        for name in sorted(filenames):
            if name.startswith(_HASH_SKIP_PREFIXES) or name == INVENTORY_FILE:
                continue
            if name.split(".", 1)[0] in skip_stems:
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest.update(str(path.relative_to(directory)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class GitState:
    """The checkout's HEAD revision (None outside git), commit count and whether it is dirty."""

    revision: str | None
    rev_count: int
    dirty: bool
    last_modified: int


@functools.cache
def git_state(directory: Path) -> GitState:
    """Ask git about the checkout (a few git calls, once per process)."""
    if not (directory / ".git").exists():
        return GitState(None, 0, False, int(directory.stat().st_mtime))

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    revision = git("rev-parse", "HEAD") or None
    count = git("rev-list", "--count", "HEAD")
    stamp = git("log", "-1", "--format=%ct")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return GitState(
        revision=revision,
        rev_count=int(count) if count.isdigit() else 0,
        dirty=dirty,
        last_modified=int(stamp) if stamp.isdigit() else int(directory.stat().st_mtime),
    )


@dataclass(frozen=True)
class NixpkgsLock:
    """The locked nixpkgs input: revision, lastModified date (YYYYMMDD) and release."""

    revision: str
    date: str
    release: str


def nixpkgs_lock(directory: Path) -> NixpkgsLock:
    """Read nixpkgs from `flake.lock` (defaults when absent)."""
    try:
        lock = json.loads((directory / "flake.lock").read_text())
        node = lock["nodes"]["nixpkgs"]
        locked = node["locked"]
        ref = str(node.get("original", {}).get("ref", ""))
        release = ref.removeprefix("nixos-").removeprefix("release-") or DEFAULT_RELEASE
        if not release[:2].isdigit():
            release = DEFAULT_RELEASE
        date = time.strftime("%Y%m%d", time.gmtime(int(locked["lastModified"])))
        return NixpkgsLock(str(locked["rev"]), date, release)
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return NixpkgsLock(DEFAULT_NIXPKGS_REV, DEFAULT_NIXPKGS_DATE, DEFAULT_RELEASE)
