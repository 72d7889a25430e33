"""The double's "build": derive each node's system closure from the checkout and store it locally.

A closure's path depends on the checkout's content (+ node name + nixpkgs lock), so the same commit
always builds the same path. The local store is a host directory (`LABSIM_NIX_STORE`) standing for
the deployer's /nix/store; output lines mimic `nix-store --realise`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labsim.colmena.hive import GitState, Hive, InventoryNode, NixpkgsLock
from labsim.nodes.storepaths import SystemClosure, build_system, store_path

STORE_ENV = "LABSIM_NIX_STORE"
BUILD_FAILURE_EXIT = 100  # nix's exit status for a failed build


def local_store_dir() -> Path:
    """The host directory standing for the deployer's /nix/store."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "labsim-nix" / "nix" / "store"


def local_path(store_dir: Path, path: str) -> Path:
    """Host location of a `/nix/store/...` path in the local store."""
    return store_dir / path.rsplit("/", 1)[1]


@dataclass(frozen=True)
class BuildInputs:
    """Everything a node's system derives from: per-node checkout hashes, git, nixpkgs lock."""

    content_hashes: dict[str, str]
    git: GitState
    nixpkgs: NixpkgsLock

    @property
    def configuration_revision(self) -> str | None:
        """What `system.configurationRevision` would be (`self.rev or self.dirtyRev`)."""
        if self.git.revision is None:
            return None
        return self.git.revision + ("-dirty" if self.git.dirty else "")


def system_for(node: InventoryNode, inputs: BuildInputs) -> SystemClosure:
    """The system closure `node` gets from this checkout."""
    return build_system(
        node.name,
        content_hash=inputs.content_hashes[node.name],
        release=inputs.nixpkgs.release,
        last_modified_date=inputs.nixpkgs.date,
        nixpkgs_revision=inputs.nixpkgs.revision,
        configuration_revision=inputs.configuration_revision,
        k3s=node.k3s_role is not None,
    )


def derivation_path(output_name: str, seed: str) -> str:
    """A `.drv` path for an output."""
    return store_path(f"drv:{seed}:{output_name}", f"{output_name}.drv")


def build_log(closure: SystemClosure, store_dir: Path) -> list[str]:
    """stderr lines of `nix-store --realise` for a closure not yet in the local store."""
    if local_path(store_dir, closure.toplevel).is_dir():
        return []
    outputs = ["system-units", "etc", closure.basename.split("-", 1)[1]]
    drvs = [derivation_path(name, closure.toplevel) for name in outputs]
    lines = [f"these {len(drvs)} derivations will be built:"]
    lines += [f"  {drv}" for drv in drvs]
    lines += [f"building '{drv}'..." for drv in drvs]
    return lines


def failure_log(closure: SystemClosure) -> list[str]:
    """stderr lines of a failing build (the `etc` derivation's builder fails)."""
    drv = derivation_path("etc", closure.toplevel)
    top = derivation_path(closure.basename.split("-", 1)[1], closure.toplevel)
    return [
        "these 3 derivations will be built:",
        f"  {derivation_path('system-units', closure.toplevel)}",
        f"  {drv}",
        f"  {top}",
        f"building '{drv}'...",
        f"error: builder for '{drv}' failed with exit code 1;",
        "       last 2 log lines:",
        "       > building /etc",
        "       > error: collision between two files in /etc (labsim injected failure)",
        f"       For full logs, run 'nix log {drv}'.",
        f"error: 1 dependencies of derivation '{top}' failed to build",
    ]


def store_locally(closure: SystemClosure, store_dir: Path) -> Path:
    """Write the closure into the local store; return the toplevel's host path."""
    return closure.materialize(store_dir)


def keep_result(hive: Hive, node: str, host_path: Path) -> Path:
    """`--keep-result`: a GC root symlink `<hive dir>/.gcroots/node-<name>`."""
    root = hive.directory / ".gcroots" / f"node-{node}"
    root.parent.mkdir(parents=True, exist_ok=True)
    if root.is_symlink() or root.exists():
        root.unlink()
    root.symlink_to(host_path)
    return root
