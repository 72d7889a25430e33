"""Which files and nodes a `.sops.yaml` covers: encrypted files its rules match, nodes with keys.

Must not decrypt or run sops: it reads the repo's file list, `.sops.yaml` and sops metadata only.

sops picks a file's creation rule by matching each `path_regex` (Go regexp, unanchored) against
the file's path relative to the folder that holds `.sops.yaml`; Python's `re.search` agrees with
Go on the patterns such rules use (anchors, escapes, classes, alternation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import yaml

from bot.config import SopsConfig
from bot.errors import UserError
from handlers.secrets import messages
from handlers.secrets.sops_yaml import recipients, rule_files


def encrypted_files(
    root: Path, tracked: Iterable[str], sops_yaml_text: str, settings: SopsConfig
) -> list[Path]:
    """Tracked files (repo-relative) that a creation rule matches and that hold sops metadata."""
    folder = PurePosixPath(settings.sops_yaml.as_posix()).parent
    patterns = []
    for regex in rule_files(sops_yaml_text):
        try:
            patterns.append(re.compile(regex))
        except re.error as exc:
            raise UserError(messages.sops_bad_path_regex(regex, str(exc))) from None
    found: list[Path] = []
    for name in sorted(tracked):
        path = PurePosixPath(name)
        if str(folder) != "." and folder not in path.parents:
            continue
        relative = str(path.relative_to(folder))
        if any(pattern.search(relative) for pattern in patterns) and _has_sops_metadata(
            root / name
        ):
            found.append(Path(name))
    return found


def unmatched_files(configured: Sequence[Path], found: Sequence[Path]) -> list[str]:
    """The configured secrets files that are not among the files the rules match."""
    have = {path.as_posix() for path in found}
    return [path.as_posix() for path in configured if path.as_posix() not in have]


def _has_sops_metadata(path: Path) -> bool:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(document, dict) and isinstance(document.get("sops"), dict)


def node_keys(sops_yaml_text: str, node_names: Iterable[str]) -> dict[str, str]:
    """The inventory nodes that have a key in `.sops.yaml` (anchor named after the node)."""
    keys = recipients(sops_yaml_text)
    return {name: keys[name] for name in node_names if name in keys}


def recipient_names(sops_yaml_text: str, file_recipients: Iterable[str]) -> list[str]:
    """Anchor names for a file's recipients (the recipient itself when it has no anchor)."""
    by_value = {value: name for name, value in recipients(sops_yaml_text).items()}
    return [by_value.get(recipient, recipient) for recipient in file_recipients]
