"""Ed25519 key pairs in OpenSSH format for simulated hosts and the lab's SSH client.

Key material only (files with 0600 permissions); no sshd configuration or known_hosts logic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A private key file and its OpenSSH public line (`ssh-ed25519 AAAA... comment`)."""

    private_path: Path
    public_line: str


def write_ed25519_keypair(path: Path, comment: str) -> KeyPair:
    """Generate an ed25519 key, write `path` (0600) and `path.pub`, return both."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {comment}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    path.with_name(path.name + ".pub").write_text(line + "\n")
    return KeyPair(private_path=path, public_line=line)
