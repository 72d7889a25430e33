"""known_hosts editing after a flash, and SSH probes against a real sshd node."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import SshConfig
from bot.integrations.reachability import (
    HostKey,
    KeyRecord,
    SshState,
    probe_ssh,
    record_host_key,
    scan_host_key,
)
from bot.integrations.ssh import SshTarget
from labsim.nodes import NodeSpec, SimCluster

ENDPOINT = SshTarget("tp-node3", "10.0.0.13", 2222, "deploy")
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLDOLD"
NEW = HostKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWNEWN", "x")
OTHER = "[10.0.0.14]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTHEROTHEROTHEROTHEROTHEROTHER"


def hashed(name: str) -> str:
    salt = b"0123456789abcdefghij"
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


def test_replaces_plain_and_hashed_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(
        f"# comment\n[10.0.0.13]:2222 {OLD}\n{OTHER}\n{hashed('[10.0.0.13]:2222')} {OLD}\n"
    )
    known.chmod(0o640)
    assert record_host_key(known, ENDPOINT, NEW) is KeyRecord.replaced
    assert known.read_text().splitlines() == ["# comment", OTHER, f"[10.0.0.13]:2222 {NEW.line}"]
    assert known.stat().st_mode & 0o777 == 0o640
    assert record_host_key(known, ENDPOINT, NEW) is KeyRecord.unchanged
    assert list(tmp_path.iterdir()) == [known]  # no temporary file left behind


def test_adds_a_line_on_port_22_in_plain_form(tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    endpoint = SshTarget("tp-node1", "tp-node1.lab", 22, "deploy")
    assert record_host_key(known, endpoint, NEW) is KeyRecord.added
    assert known.read_text() == f"tp-node1.lab {NEW.line}\n"


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[SimCluster]:
    async with SimCluster([NodeSpec("tp-node3", 3)], directory=tmp_path / "lab") as cluster:
        yield cluster


async def test_probe_tells_reachable_refused_and_changed_key(cluster: SimCluster) -> None:
    node = cluster["tp-node3"]
    endpoint = SshTarget(node.name, node.host, node.port, node.user)
    ssh = SshConfig(
        key_file=cluster.client_key_path,
        known_hosts_file=cluster.known_hosts_path,
        connect_timeout_seconds=5,
    )
    assert (await probe_ssh(endpoint, ssh)).state is SshState.reachable
    key = await scan_host_key(endpoint, timeout=5)
    assert key.line == " ".join(node.host_key_public.split()[:2])
    assert key.fingerprint.startswith("SHA256:")
    record_host_key(cluster.known_hosts_path, endpoint, NEW)  # a key the node does not have
    assert (await probe_ssh(endpoint, ssh)).state is SshState.host_key_changed
    await node.power_off()
    refused = await probe_ssh(endpoint, ssh)
    assert (refused.state, refused.detail) == (SshState.refused, "connection refused")
    assert (await probe_ssh(endpoint, None)).state is SshState.not_configured
