"""Whether a node answers SSH right now, and recording a freshly flashed node's host key.

Must not keep connections open or trust a host key silently: `probe_ssh` always checks
known_hosts; only `record_host_key` (called after labbot flashed the node itself) changes it.

Usage::

    seen = await probe_ssh(SshTarget.of(node), config.ssh)       # Reachability
    seen.state is SshState.refused                                  # powered off, or booting
    key = await scan_host_key(SshTarget.of(node), timeout=5)      # HostKey, no login
    record_host_key(config.ssh.known_hosts_file, SshTarget.of(node), key)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import asyncssh

from bot.config import SshConfig
from bot.integrations.ssh import SshTarget, failure_reason, login


class SshState(StrEnum):
    """What an SSH login attempt found."""

    reachable = "reachable"
    refused = "refused"  # nothing listens: powered off, or still booting
    timeout = "timeout"
    host_key_changed = "host key changed"
    host_key_unknown = "host key unknown"
    login_refused = "login refused"
    unreachable = "unreachable"  # any other network failure
    not_configured = "not configured"


@dataclass(frozen=True)
class Reachability:
    """The outcome of one probe; `detail` is the reason in a few words (empty when reachable)."""

    node: str
    state: SshState
    detail: str = ""

    @property
    def reachable(self) -> bool:
        """Whether labbot could log in."""
        return self.state is SshState.reachable

    @property
    def answering(self) -> bool:
        """Whether an sshd answered at all (so the node is up), even if labbot could not log in."""
        return self.state in _ANSWERING


_ANSWERING = frozenset(
    {
        SshState.reachable,
        SshState.host_key_changed,
        SshState.host_key_unknown,
        SshState.login_refused,
    }
)


class SshWant(StrEnum):
    """What `wait_for_ssh` waits for."""

    login = "login"  # labbot can log in
    answer = "answer"  # an sshd answers (the node is up)
    silence = "silence"  # no sshd answers (the node is down)

    def met(self, seen: Reachability) -> bool:
        """Whether `seen` is what is wanted."""
        if self is SshWant.login:
            return seen.reachable
        return seen.answering == (self is SshWant.answer)


@dataclass(frozen=True)
class HostKey:
    """A server's public host key: `ssh-ed25519 AAAA…` and its SHA256 fingerprint."""

    line: str
    fingerprint: str


class HostKeyScanFailed(Exception):
    """Raised when no host key could be read from the node (not listening, or no SSH there)."""


async def probe_ssh(endpoint: SshTarget, ssh: SshConfig | None) -> Reachability:
    """Log in once with the configured key, known_hosts checked, then disconnect."""
    if ssh is None:
        return Reachability(endpoint.name, SshState.not_configured)
    try:
        connection = await asyncio.wait_for(login(endpoint, ssh), ssh.connect_timeout_seconds * 2)
    except asyncssh.HostKeyNotVerifiable:
        state = (
            SshState.host_key_changed
            if _listed(ssh.known_hosts_file, endpoint)
            else SshState.host_key_unknown
        )
        return Reachability(endpoint.name, state, state.value)
    except asyncssh.PermissionDenied:
        return Reachability(endpoint.name, SshState.login_refused, f"as {endpoint.user}")
    except ConnectionRefusedError:
        return Reachability(endpoint.name, SshState.refused, "connection refused")
    except (TimeoutError, asyncssh.TimeoutError):
        return Reachability(endpoint.name, SshState.timeout, "timed out")
    except (OSError, asyncssh.Error) as error:
        return Reachability(endpoint.name, SshState.unreachable, failure_reason(error))
    connection.close()
    await connection.wait_closed()
    return Reachability(endpoint.name, SshState.reachable)


async def wait_for_ssh(
    endpoint: SshTarget,
    ssh: SshConfig | None,
    *,
    timeout: float,
    interval: float = 1.0,
    want: SshWant = SshWant.login,
    cancel: asyncio.Event | None = None,
) -> Reachability:
    """Probe until the node is as wanted (logged in, answering, or silent).

    Returns the last probe's result when `timeout` seconds pass first or `cancel` is set.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        seen = await probe_ssh(endpoint, ssh)
        if want.met(seen) or seen.state is SshState.not_configured:
            return seen
        if loop.time() + interval > deadline or await _cancelled_within(cancel, interval):
            return seen


async def _cancelled_within(cancel: asyncio.Event | None, seconds: float) -> bool:
    """Wait `seconds`; True as soon as `cancel` is set."""
    if cancel is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(cancel.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def scan_host_key(endpoint: SshTarget, *, timeout: float) -> HostKey:
    """The host key the node presents, read without logging in (like `ssh-keyscan`)."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(endpoint.host, endpoint.port, config=None), timeout
        )
    except (OSError, asyncssh.Error, TimeoutError) as error:
        raise HostKeyScanFailed(failure_reason(error)) from None
    if key is None:
        raise HostKeyScanFailed("the server sent no host key")
    public = key.export_public_key("openssh").decode().split()
    return HostKey(" ".join(public[:2]), key.get_fingerprint("sha256"))


async def wait_for_host_key(
    endpoint: SshTarget,
    *,
    timeout: float,
    interval: float,
    connect_timeout: float,
    cancel: asyncio.Event | None = None,
) -> HostKey | None:
    """Scan until the node presents a host key; None when `timeout` passes or `cancel` is set."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await scan_host_key(endpoint, timeout=connect_timeout)
        except HostKeyScanFailed:
            pass
        if loop.time() + interval > deadline or await _cancelled_within(cancel, interval):
            return None


class KeyRecord(StrEnum):
    """What `record_host_key` did to known_hosts."""

    added = "added"  # the endpoint had no line
    replaced = "replaced"  # it had a different key
    unchanged = "unchanged"  # it already had exactly this key


def record_host_key(known_hosts: Path, endpoint: SshTarget, key: HostKey) -> KeyRecord:
    """Make `key` the only known_hosts entry for the endpoint.

    Written atomically with the file's permissions kept. Hashed entries (`|1|…`) that match
    the endpoint are dropped too; the new line is written in plain form.
    """
    try:
        lines = known_hosts.read_text().splitlines()
        mode = known_hosts.stat().st_mode & 0o777
    except FileNotFoundError:
        lines, mode = [], 0o600
    old = [line for line in lines if _names_endpoint(line, endpoint)]
    if not old:
        outcome = KeyRecord.added
    elif all(_key_part(line) == key.line for line in old):
        outcome = KeyRecord.unchanged
    else:
        outcome = KeyRecord.replaced
    kept = [line for line in lines if not _names_endpoint(line, endpoint)]
    kept.append(f"{endpoint.known_hosts_name} {key.line}")
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=known_hosts.parent, prefix=".known_hosts-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(kept) + "\n")
        os.chmod(tmp, mode)
        os.replace(tmp, known_hosts)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return outcome


def _key_part(line: str) -> str:
    """`ssh-ed25519 AAAA…` of a known_hosts line (marker and host field dropped)."""
    fields = line.split()
    if fields and fields[0].startswith("@"):
        fields = fields[1:]
    return " ".join(fields[1:3])


def _names_endpoint(line: str, endpoint: SshTarget) -> bool:
    """Whether a known_hosts line's host field names the endpoint (plain or hashed)."""
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return False
    hosts = fields[1] if fields[0].startswith("@") and len(fields) > 1 else fields[0]
    wanted = endpoint.known_hosts_name
    for entry in hosts.split(","):
        if entry.startswith("|1|"):
            if _hashed_match(entry, wanted):
                return True
        elif entry == wanted:
            return True
    return False


def _hashed_match(entry: str, name: str) -> bool:
    """OpenSSH's HashKnownHosts form: `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`."""
    try:
        _, _, salt, digest = entry.split("|", 3)
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except ValueError:
        return False


def _listed(known_hosts: Path, endpoint: SshTarget) -> bool:
    """Whether known_hosts has any key for the endpoint (so a mismatch means the key changed)."""
    try:
        return any(_names_endpoint(line, endpoint) for line in known_hosts.read_text().splitlines())
    except OSError:
        return False
