"""The `nix` CLI on the deployer: `nix store diff-closures --json` between two systems.

Must not change the store; errors are translated into `NixFailed` here.

Usage::

    diff = await Nix("nix", timeout=60).diff_closures(old_system, new_system)
    diff.changes  # PackageChange("k3s", ("1.30.6",), ("1.31.4",), 16384), ...
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from bot import messages
from bot.errors import IntegrationError
from bot.integrations.process import ProcessError, Stream, run_process
from bot.integrations.tool_env import tool_environment

_MAX_STDERR_LINES = 20


class NixFailed(IntegrationError):
    """Raised when a nix command fails or prints something that does not parse."""


@dataclass(frozen=True)
class PackageChange:
    """One package name whose versions or size differ between two closures."""

    name: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    size_delta: int

    @property
    def version_changed(self) -> bool:
        """Whether versions were added or removed (not only the size moved)."""
        return bool(self.before or self.after)


@dataclass(frozen=True)
class ClosureDiff:
    """What `nix store diff-closures` reports between two systems."""

    changes: tuple[PackageChange, ...]

    @property
    def size_delta(self) -> int:
        """The closure's size change in bytes (sum over the reported packages)."""
        return sum(change.size_delta for change in self.changes)

    @property
    def version_changes(self) -> tuple[PackageChange, ...]:
        """Only the packages whose versions changed."""
        return tuple(change for change in self.changes if change.version_changed)


def parse_diff_json(text: str) -> ClosureDiff:
    """Parse `--json` output: `{"packages": {name: {sizeDelta, versionsBefore, versionsAfter}}}`."""
    try:
        document = json.loads(text)
        packages = document["packages"]
        changes = tuple(
            PackageChange(
                name=str(name),
                before=tuple(str(v) for v in entry.get("versionsBefore", [])),
                after=tuple(str(v) for v in entry.get("versionsAfter", [])),
                size_delta=int(entry.get("sizeDelta", 0)),
            )
            for name, entry in sorted(packages.items())
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NixFailed(messages.nix_output_unreadable("diff-closures", str(exc))) from None
    return ClosureDiff(changes)


class Nix:
    """Runs `nix` subcommands with a timeout and the allowlisted environment."""

    def __init__(self, binary: str, *, timeout: float, cancel: asyncio.Event | None = None) -> None:
        self._binary = binary
        self._timeout = timeout
        self._cancel = cancel

    async def diff_closures(self, before: str, after: str) -> ClosureDiff:
        """The package-level difference from system `before` to system `after`."""
        argv = [self._binary, "store", "diff-closures", "--json", before, after]
        stdout: list[str] = []
        stderr: list[str] = []

        def line(stream: Stream, text: str) -> None:
            if stream is Stream.stdout:
                stdout.append(text)
            elif len(stderr) < _MAX_STDERR_LINES:
                stderr.append(text)

        try:
            result = await run_process(
                argv,
                env=tool_environment(),
                cwd=None,
                timeout=self._timeout,
                on_line=line,
                cancel=self._cancel,
            )
        except ProcessError as exc:
            raise NixFailed(str(exc)) from None
        if not result.ok:
            detail = " ".join(s.strip() for s in stderr if s.strip()) or f"exit {result.exit_code}"
            raise NixFailed(messages.nix_failed("store diff-closures", detail))
        return parse_diff_json("\n".join(stdout))
