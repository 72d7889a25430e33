"""Realistic flake.lock (and flake.nix) text for seeding the emulated infra repository.

It must not touch git or the network: it only builds and edits lock-file text deterministically.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# nix writes flake.lock as JSON with 2-space indent and sorted keys (nlohmann::json objects are
# ordered maps), plus a trailing newline; version 7 is the current lock format.
LOCK_VERSION = 7


def fake_rev(seed: str) -> str:
    """A 40-hex git revision derived from `seed` (stable across runs)."""
    return hashlib.sha1(f"rev:{seed}".encode()).hexdigest()


def fake_nar_hash(seed: str) -> str:
    """An SRI sha256 NAR hash (`sha256-<base64>`) derived from `seed`."""
    digest = hashlib.sha256(f"nar:{seed}".encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class FlakeInput:
    """One github-type flake input as it appears in flake.lock.

    Example: ``FlakeInput("nixpkgs", "NixOS", "nixpkgs", fake_rev("a"), fake_nar_hash("a"), 0)``.
    `follows` maps this input's own inputs to the root input they follow (e.g. nixpkgs→nixpkgs);
    `inputs` maps them to other lock nodes by name.
    """

    name: str
    owner: str
    repo: str
    rev: str
    nar_hash: str
    last_modified: int
    ref: str | None = None
    follows: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    top_level: bool = True


def default_flake_inputs(seed: str = "thelab") -> list[FlakeInput]:
    """The homelab's inputs: nixpkgs (nixos-24.11), sops-nix, nixos-generators (+ its nixlib)."""

    def make(name: str, owner: str, repo: str, modified: int, **kw: Any) -> FlakeInput:
        return FlakeInput(
            name,
            owner,
            repo,
            fake_rev(f"{seed}:{name}"),
            fake_nar_hash(f"{seed}:{name}"),
            modified,
            **kw,
        )

    return [
        make("nixpkgs", "NixOS", "nixpkgs", 1736883708, ref="nixos-24.11"),
        make("sops-nix", "Mic92", "sops-nix", 1736515725, follows={"nixpkgs": "nixpkgs"}),
        make(
            "nixos-generators",
            "nix-community",
            "nixos-generators",
            1736878101,
            follows={"nixpkgs": "nixpkgs"},
            inputs={"nixlib": "nixlib"},
        ),
        make("nixlib", "nix-community", "nixpkgs.lib", 1736643958, top_level=False),
    ]


def _node(item: FlakeInput) -> dict[str, Any]:
    locked: dict[str, Any] = {
        "lastModified": item.last_modified,
        "narHash": item.nar_hash,
        "owner": item.owner,
        "repo": item.repo,
        "rev": item.rev,
        "type": "github",
    }
    original: dict[str, Any] = {"owner": item.owner, "repo": item.repo, "type": "github"}
    if item.ref is not None:
        original["ref"] = item.ref
    node: dict[str, Any] = {"locked": locked, "original": original}
    inputs: dict[str, Any] = {name: [target] for name, target in item.follows.items()}
    inputs.update(item.inputs)
    if inputs:
        node["inputs"] = inputs
    return node


def render_flake_lock(inputs: Sequence[FlakeInput] | None = None) -> str:
    """flake.lock text for `inputs` (default: `default_flake_inputs()`)."""
    items = list(inputs) if inputs is not None else default_flake_inputs()
    nodes: dict[str, Any] = {item.name: _node(item) for item in items}
    nodes["root"] = {"inputs": {item.name: item.name for item in items if item.top_level}}
    return dump_lock({"nodes": nodes, "root": "root", "version": LOCK_VERSION})


def dump_lock(lock: dict[str, Any]) -> str:
    """Serialise a parsed lock the way nix does."""
    return json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def locked_rev(lock_text: str, name: str) -> str:
    """The locked rev of input `name`; KeyError if the lock has no such node."""
    rev: str = json.loads(lock_text)["nodes"][name]["locked"]["rev"]
    return rev


def bump_input(
    lock_text: str,
    name: str,
    *,
    rev: str,
    nar_hash: str | None = None,
    last_modified: int | None = None,
) -> str:
    """A copy of `lock_text` with input `name` locked to `rev` (new narHash and lastModified)."""
    lock = json.loads(lock_text)
    locked = lock["nodes"][name]["locked"]
    locked["rev"] = rev
    locked["narHash"] = nar_hash if nar_hash is not None else fake_nar_hash(rev)
    locked["lastModified"] = (
        last_modified if last_modified is not None else int(locked["lastModified"]) + 86_400
    )
    return dump_lock(lock)


def refresh_all_inputs(lock_text: str, seed: str) -> str:
    """Lock file maintenance: every non-root node gets a new rev derived from `seed`."""
    lock = json.loads(lock_text)
    for node_name, node in lock["nodes"].items():
        if "locked" in node:
            rev = fake_rev(f"{seed}:{node_name}")
            node["locked"].update(
                rev=rev,
                narHash=fake_nar_hash(rev),
                lastModified=node["locked"]["lastModified"] + 3600,
            )
    return dump_lock(lock)


def render_flake_nix(inputs: Sequence[FlakeInput] | None = None) -> str:
    """A flake.nix matching `inputs`, with one nixosConfiguration per Turing Pi node."""
    items = [i for i in (inputs if inputs is not None else default_flake_inputs()) if i.top_level]
    lines = ["{", '  description = "thelab: NixOS on a Turing Pi 2";', "", "  inputs = {"]
    for item in items:
        ref = f"/{item.ref}" if item.ref else ""
        lines.append(f'    {item.name}.url = "github:{item.owner}/{item.repo}{ref}";')
        for sub, target in item.follows.items():
            lines.append(f'    {item.name}.inputs.{sub}.follows = "{target}";')
    lines += [
        "  };",
        "",
        "  outputs = { self, nixpkgs, ... }@inputs: {",
        '    nixosConfigurations = nixpkgs.lib.genAttrs [ "node1" "node2" "node3" "node4" ]',
        "      (name: nixpkgs.lib.nixosSystem {",
        '        system = "aarch64-linux";',
        "        specialArgs = { inherit inputs; };",
        "        modules = [ ./hosts/${name}.nix ];",
        "      });",
        "  };",
        "}",
    ]
    return "\n".join(lines) + "\n"


def default_infra_files() -> dict[str, str]:
    """A small but plausible infra repo: flake.nix, flake.lock, one host file per node, README."""
    files = {"flake.nix": render_flake_nix(), "flake.lock": render_flake_lock()}
    for n in range(1, 5):
        files[f"hosts/node{n}.nix"] = (
            "{ ... }:\n{\n"
            f'  networking.hostName = "node{n}";\n'
            '  system.stateVersion = "24.11";\n'
            "}\n"
        )
    files["README.md"] = "# thelab-infra\n\nNixOS configuration for the Turing Pi 2 homelab.\n"
    return files


def with_rev(item: FlakeInput, rev: str) -> FlakeInput:
    """A copy of `item` locked to `rev` with a matching narHash."""
    return replace(item, rev=rev, nar_hash=fake_nar_hash(rev))
