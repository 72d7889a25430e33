"""Reading nix flake.lock files: the root flake's locked inputs, and what changed between two locks.

Must not run nix or touch the network or the disk: it only parses JSON text it is given.

Lock format (versions 5–7): ``{"nodes": {...}, "root": "root", "version": 7}``; the root node's
``inputs`` map an input name to a node key, or to a "follows" path (a list of input names walked
from the root). A node's ``locked`` holds ``type``, ``owner``/``repo`` or ``url``, ``rev``,
``lastModified`` (epoch seconds) and ``narHash``; ``original`` holds what flake.nix asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SUPPORTED_VERSIONS = range(5, 8)
_MAX_FOLLOWS_DEPTH = 32
_REPO_TYPES = frozenset({"github", "gitlab", "sourcehut"})


class FlakeLockError(ValueError):
    """Raised when text is not a flake.lock this module can read; the message says what is wrong."""


@dataclass(frozen=True)
class LockedInput:
    """One input of the root flake as locked: where it comes from, which revision, how old.

    Example: ``[i.source for i in locked_inputs(text)] == ["NixOS/nixpkgs", "Mic92/sops-nix"]``.
    """

    name: str
    type: str
    owner: str | None
    repo: str | None
    url: str | None
    ref: str | None
    rev: str | None
    last_modified: datetime | None
    nar_hash: str | None

    @property
    def source(self) -> str:
        """`owner/repo` for github/gitlab/sourcehut inputs, else the URL, else the type."""
        if self.type in _REPO_TYPES and self.owner and self.repo:
            return f"{self.owner}/{self.repo}"
        return self.url or self.type

    @property
    def short_rev(self) -> str | None:
        """The first 7 characters of the revision, as git and Renovate show it."""
        return self.rev[:7] if self.rev else None


class ChangeKind(StrEnum):
    """How an input differs between two locks."""

    added = "added"
    removed = "removed"
    updated = "updated"


@dataclass(frozen=True)
class InputChange:
    """One root input that differs between two locks (None on the side where it is absent)."""

    name: str
    kind: ChangeKind
    source: str
    old_rev: str | None
    new_rev: str | None
    old_date: datetime | None
    new_date: datetime | None


def locked_inputs(text: str) -> list[LockedInput]:
    """The root flake's inputs in `text`, sorted by name; `FlakeLockError` if it is malformed."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FlakeLockError(f"flake.lock is not valid JSON: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise FlakeLockError("flake.lock must be a JSON object")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise FlakeLockError("flake.lock has no integer 'version'")
    if version not in SUPPORTED_VERSIONS:
        raise FlakeLockError(f"flake.lock version {version} is not supported (5 to 7 are)")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise FlakeLockError("flake.lock has no 'nodes' object")
    root = data.get("root", "root")
    if not isinstance(root, str) or root not in nodes:
        raise FlakeLockError(f"flake.lock's root node {root!r} is missing")
    found = [
        _locked_input(name, nodes, _resolve(nodes, root, ref, name, 0))
        for name, ref in _inputs_of(nodes, root).items()
    ]
    return sorted(found, key=lambda item: item.name)


def diff_locks(old_text: str, new_text: str) -> list[InputChange]:
    """Root inputs added, removed or re-locked (rev, narHash, date) from old to new text."""
    old = {item.name: item for item in locked_inputs(old_text)}
    new = {item.name: item for item in locked_inputs(new_text)}
    changes: list[InputChange] = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None:
            if (before.rev, before.nar_hash, before.last_modified, before.source) == (
                after.rev,
                after.nar_hash,
                after.last_modified,
                after.source,
            ):
                continue
            kind = ChangeKind.updated
        else:
            kind = ChangeKind.added if before is None else ChangeKind.removed
        shown = after or before
        assert shown is not None
        changes.append(
            InputChange(
                name=name,
                kind=kind,
                source=shown.source,
                old_rev=before.rev if before else None,
                new_rev=after.rev if after else None,
                old_date=before.last_modified if before else None,
                new_date=after.last_modified if after else None,
            )
        )
    return changes


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _node(nodes: dict[str, Any], key: str) -> dict[str, Any]:
    node = nodes.get(key)
    if not isinstance(node, dict):
        raise FlakeLockError(f"flake.lock node {key!r} is missing or not an object")
    return node


def _inputs_of(nodes: dict[str, Any], key: str) -> dict[str, Any]:
    inputs = _node(nodes, key).get("inputs", {})
    if not isinstance(inputs, dict):
        raise FlakeLockError(f"flake.lock node {key!r} has 'inputs' that is not an object")
    return inputs


def _resolve(nodes: dict[str, Any], root: str, ref: Any, name: str, depth: int) -> str:
    """The node key an input reference points to, following "follows" paths from the root."""
    if depth > _MAX_FOLLOWS_DEPTH:
        raise FlakeLockError(f"flake.lock input {name!r}: 'follows' paths loop")
    if isinstance(ref, str):
        return ref
    if not isinstance(ref, list) or not all(isinstance(part, str) for part in ref):
        raise FlakeLockError(f"flake.lock input {name!r} is neither a node key nor a follows path")
    key = root
    for part in ref:
        inputs = _inputs_of(nodes, key)
        if part not in inputs:
            path = "/".join(ref)
            raise FlakeLockError(f"flake.lock input {name!r} follows {path!r}, which is missing")
        key = _resolve(nodes, root, inputs[part], name, depth + 1)
    return key


def _locked_input(name: str, nodes: dict[str, Any], key: str) -> LockedInput:
    node = _node(nodes, key)
    locked = node.get("locked", {})
    original = node.get("original", {})
    if not isinstance(locked, dict) or not isinstance(original, dict):
        raise FlakeLockError(f"flake.lock node {key!r}: 'locked' or 'original' is not an object")
    # A node with nothing locked (an input that follows the root flake itself) is "unlocked".
    kind = locked.get("type") if locked else original.get("type", "unlocked")
    if not isinstance(kind, str):
        raise FlakeLockError(f"flake.lock node {key!r} has no string 'type'")
    return LockedInput(
        name=name,
        type=kind,
        owner=_text(locked, "owner", key),
        repo=_text(locked, "repo", key),
        url=_text(locked, "url", key) or _text(locked, "path", key),
        ref=_text(original, "ref", key) or _text(locked, "ref", key),
        rev=_text(locked, "rev", key),
        last_modified=_timestamp(locked.get("lastModified"), key),
        nar_hash=_text(locked, "narHash", key),
    )


def _text(fields: dict[str, Any], field: str, key: str) -> str | None:
    value = fields.get(field)
    if value is None or isinstance(value, str):
        return value
    raise FlakeLockError(f"flake.lock node {key!r}: {field!r} is not a string")


def _timestamp(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FlakeLockError(f"flake.lock node {key!r}: 'lastModified' is not an integer")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise FlakeLockError(
            f"flake.lock node {key!r}: 'lastModified' {value} is out of range"
        ) from None
