"""`nix flake metadata [--json] [FLAKE]` of the nix double for a local checkout.

JSON keys as Nix prints them (compact, sorted): description, lastModified, locked, locks,
original, originalUrl, path, resolved, resolvedUrl, revCount, revision (or dirtyRevision), url.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from pathlib import Path

from labsim.colmena.hive import content_hash, git_state
from labsim.nodes.storepaths import store_path

_EMPTY_LOCK: dict[str, object] = {"nodes": {"root": {}}, "root": "root", "version": 7}


def flake_dir_of(ref: str, cwd: Path) -> Path:
    """The local directory of a flake reference (`.`, a path, `git+file://…`, `path:…`)."""
    ref = ref.split("#", 1)[0] or "."
    for prefix in ("git+file://", "path:", "file://"):
        if ref.startswith(prefix):
            return Path(ref[len(prefix) :].split("?", 1)[0])
    return (cwd / ref).resolve()


def _description(directory: Path) -> str | None:
    try:
        text = (directory / "flake.nix").read_text()
    except FileNotFoundError:
        return None
    match = re.search(r'description\s*=\s*"((?:[^"\\]|\\.)*)"', text)
    return match.group(1) if match else None


def _nar_hash(directory: Path) -> str:
    digest = hashlib.sha256(content_hash(directory).encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def metadata(directory: Path) -> tuple[dict[str, object], list[str]]:
    """The metadata document and stderr warnings (a dirty tree warns like Nix does)."""
    if not (directory / "flake.nix").is_file():
        raise FileNotFoundError(f"error: path '{directory}/flake.nix' does not exist")
    git = git_state(directory)
    warnings = [f"warning: Git tree '{directory}' is dirty"] if git.dirty else []
    nar_hash = _nar_hash(directory)
    try:
        locks = json.loads((directory / "flake.lock").read_text())
    except FileNotFoundError:
        locks = _EMPTY_LOCK
    doc: dict[str, object] = {
        "lastModified": git.last_modified,
        "locks": locks,
        "path": store_path(nar_hash, "source"),
    }
    description = _description(directory)
    if description is not None:
        doc["description"] = description
    if git.revision is None:
        url = f"path:{directory}"
        original = {"path": str(directory), "type": "path"}
        locked = {**original, "lastModified": git.last_modified, "narHash": nar_hash}
        doc.update(url=f"{url}?lastModified={git.last_modified}&narHash={nar_hash}")
    else:
        url = f"git+file://{directory}"
        original = {"type": "git", "url": f"file://{directory}"}
        locked = {**original, "lastModified": git.last_modified, "narHash": nar_hash}
        doc["revCount"] = git.rev_count
        if git.dirty:
            doc["dirtyRevision"] = f"{git.revision}-dirty"
            locked["dirtyRev"] = f"{git.revision}-dirty"
            doc["url"] = url
        else:
            doc["revision"] = git.revision
            locked.update(rev=git.revision, revCount=git.rev_count)
            doc["url"] = f"{url}?rev={git.revision}&revCount={git.rev_count}"
    doc.update(
        original=original,
        originalUrl=url,
        resolved=original,
        resolvedUrl=url,
        locked=locked,
    )
    return doc, warnings


def render_text(doc: dict[str, object]) -> list[str]:
    """The human-readable `nix flake metadata` lines."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(str(doc["lastModified"]))))
    lines = [
        f"Resolved URL:  {doc['resolvedUrl']}",
        f"Locked URL:    {doc['url']}",
    ]
    if "description" in doc:
        lines.append(f"Description:   {doc['description']}")
    lines.append(f"Path:          {doc['path']}")
    revision = doc.get("revision") or doc.get("dirtyRevision")
    if revision:
        lines.append(f"Revision:      {revision}")
    if "revCount" in doc:
        lines.append(f"Revisions:     {doc['revCount']}")
    lines.append(f"Last modified: {stamp}")
    return lines
