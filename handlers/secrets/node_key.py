"""A node's age recipient, derived from its ed25519 SSH host key read over a verified SSH login.

Must not read, ask for or handle any private key: only the node's public host key travels.

sops-nix decrypts on the node with the age identity it derives from
`/etc/ssh/ssh_host_ed25519_key` (`sops.age.sshKeyPaths`), so the recipient is derived from the
public half of exactly that file. It is read over `SshPool`, whose login checks the node's host
key against `ssh.known_hosts_file`; if known_hosts also lists an ed25519 key for the node, the
file must hold that same key.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from bot.config import Node, SshConfig
from bot.errors import UserError
from bot.integrations.age_keys import SshPublicKey, parse_ssh_public_keys
from bot.integrations.ssh import SshPool, SshTarget
from handlers.secrets import messages

HOST_KEY_PUB = "/etc/ssh/ssh_host_ed25519_key.pub"


@dataclass(frozen=True)
class NodeRecipient:
    """A node's age recipient and where it came from (an ssh key fingerprint, or given)."""

    node: str
    recipient: str
    source: str


async def fetch_node_recipient(ssh: SshConfig | None, node: Node) -> NodeRecipient:
    """Read the node's ed25519 host key over SSH and derive its age recipient (ssh-to-age)."""
    if ssh is None:
        raise UserError(messages.sops_no_ssh(node.name))
    async with SshPool(ssh, [SshTarget.of(node)]) as pool:
        result = await pool.run(node.name, ["cat", HOST_KEY_PUB])
    if not result.ok:
        reason = result.failure_line[:200]
        raise UserError(messages.sops_host_key_unreadable(node.name, HOST_KEY_PUB, reason))
    keys = parse_ssh_public_keys(result.stdout)
    if len(keys) != 1:
        raise UserError(messages.sops_host_key_count(node.name, HOST_KEY_PUB, len(keys)))
    key = keys[0]
    text = await asyncio.to_thread(_read, ssh.known_hosts_file)
    known = known_ed25519_keys(text, node.host, node.ssh_port)
    if known and key.public_key not in {item.public_key for item in known}:
        raise UserError(
            messages.sops_host_key_mismatch(node.name, HOST_KEY_PUB, str(ssh.known_hosts_file))
        )
    return NodeRecipient(
        node.name, key.age_recipient, messages.sops_key_source_ssh(key.fingerprint)
    )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def known_ed25519_keys(known_hosts: str, host: str, port: int) -> list[SshPublicKey]:
    """The ed25519 keys a known_hosts text lists for `host:port` (plain or hashed entries)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return [
        key
        for key in parse_ssh_public_keys(known_hosts)
        if key.host is not None and _names_host(key.host, name)
    ]


def _names_host(field: str, name: str) -> bool:
    """Whether a known_hosts host field names `name` exactly (wildcards are not followed)."""
    if field.startswith("|1|"):
        try:
            _, _, salt, digest = field.split("|", 3)
            expected = base64.b64decode(digest)
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(mac, expected)
    return name in field.split(",")
