"""The simulated infra repo's secrets, laid out as the infra template has them: `.sops.yaml`, secrets.yaml.

Must not be imported by the bot: it generates test identities and writes them into the lab dir.

`.sops.yaml` sits at the repo root with one anchored key per recipient: `admin` (the operator's
personal key), `labbot` (the bot's key, which the lab config hands to the bot) and one per CM4
node, named after the node and derived from its ssh host key as sops-nix does (RK1 nodes are
added later, as the plan says). `secrets/secrets.yaml` holds a `k3s_token`, encrypted by the
real sops binary.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyrage

from bot.integrations.age_keys import ssh_ed25519_to_age_recipient
from bot.integrations.sops import Sops
from labsim.nodes.node import SimNode

SOPS_YAML = ".sops.yaml"
SECRETS_FILE = "secrets/secrets.yaml"
BOT_KEY_FILE = "sops/labbot-age.key"
ADMIN_KEY_FILE = "sops/admin-age.key"


def bot_key_path(directory: Path) -> Path:
    """Where the lab writes the bot's age identity (the config's `sops.age_key` file)."""
    return directory / BOT_KEY_FILE


def render_sops_yaml(keys: Mapping[str, str]) -> str:
    """The template's `.sops.yaml`: anchored keys, one rule for secrets/secrets.yaml naming them all."""
    comments = {"admin": "the operator's personal key", "labbot": "labbot's key (sops.age_key)"}
    lines = ["# sops configuration of the infra secrets (plan, Phase 5).", "keys:"]
    for name, recipient in keys.items():
        lines.append(f"  - &{name} {recipient}  # {comments.get(name, f'{name} (ssh host key)')}")
    lines += [
        "creation_rules:",
        "  # k3s token and friends",
        "  - path_regex: secrets/secrets\\.yaml$",
        "    key_groups:",
        "      - age:",
        *(f"        - *{name}" for name in keys),
    ]
    return "\n".join(lines) + "\n"


async def seed_sops(directory: Path, nodes: Iterable[SimNode]) -> dict[str, str]:
    """Write fresh admin and bot identities under `directory`; return the encrypted repo files.

    The started CM4 `nodes` get keys derived from their host keys; RK1 nodes do not (yet).
    """
    host_keys = {node.name: node.host_key_public for node in nodes if node.spec.module == "cm4"}
    admin = pyrage.x25519.Identity.generate()
    bot = pyrage.x25519.Identity.generate()
    bot_path, admin_path = bot_key_path(directory), directory / ADMIN_KEY_FILE
    for path, identity in ((bot_path, bot), (admin_path, admin)):
        _write_private(path, f"# public key: {identity.to_public()}\n{identity}\n")
    keys = {"admin": str(admin.to_public()), "labbot": str(bot.to_public())}
    keys |= {name: ssh_ed25519_to_age_recipient(line) for name, line in host_keys.items()}
    sops_yaml = render_sops_yaml(keys)
    token = f"K10{secrets.token_hex(32)}::server:{secrets.token_hex(16)}"
    with tempfile.TemporaryDirectory(prefix="labsim-sops-") as scratch:
        root = Path(scratch)
        (root / SOPS_YAML).write_text(sops_yaml)
        sops = Sops(root, identity=str(bot), config=Path(SOPS_YAML), timeout=30)
        await sops.encrypt_new(Path(SECRETS_FILE), {"k3s_token": token})
        encrypted = (root / SECRETS_FILE).read_text()
    return {SOPS_YAML: sops_yaml, SECRETS_FILE: encrypted}


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
