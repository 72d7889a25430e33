"""Every file the Markdown documentation points at is in the repository.

A link to a file that is not in the repository leaves a new user stranded: they follow the README
to set up their lab and find nothing there. So for every `*.md` file in the repository (outside
hidden directories and `node_modules`) this checks

- each relative Markdown link target, `[text](target)`, and
- each backticked repository path (`nix/hosts/common.nix`, `deploy/k8s/labbot.yaml`, …),

exists relative to the Markdown file's folder, the repository root, or `nix/` (the infra flake,
whose README and examples name paths inside the infra repository, such as `hosts/tp-node3.nix`).
It also makes sure no document points at notes that were never part of the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the infra flake lives here; paths "inside the infra repository" are relative to it.
INFRA = ROOT / "nix"

MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")
PATH_SUFFIXES = (".md", ".nix", ".py", ".yaml", ".yml", ".json", ".toml")
# A machine's file system written relative to its root (`etc/labsim/identity.json` inside a
# simulated node's state dir): the repository has no such top-level folders.
MACHINE_ROOTS = ("etc/", "var/", "run/", "usr/", "boot/", "opt/", "srv/")
# Files the documentation tells the reader to create: they cannot be in the repository.
TO_BE_CREATED = {
    "handlers/hello/__init__.py",  # README, "Adding a capability": the example's files
    "handlers/hello/messages.py",
    "tests/scenarios/test_hello.py",
    "secrets/secrets.yaml",  # the infra repo's secrets: made with `sops` on first set-up
}
# Pointers to notes that were never in this repository.
FORBIDDEN = (
    "../shared",
    "seed/turing-pi-nixos-plan.md",
    "style-anchors.md",
    "reference/colmena.md",
)


def markdown_files() -> list[Path]:
    """Every Markdown file of the repository, outside hidden folders and node_modules."""
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not any(
            part.startswith(".") or part == "node_modules"
            for part in path.relative_to(ROOT).parts[:-1]
        )
    )


def link_targets(text: str) -> list[str]:
    """Relative targets of the Markdown links in `text`, without their `#anchor`."""
    targets = []
    for match in MARKDOWN_LINK.finditer(FENCE.sub("", text)):
        target = match.group(1).split("#", 1)[0]
        if not target or target.startswith(("http://", "https://", "mailto:", "/")):
            continue
        targets.append(target)
    return targets


def looks_like_repository_path(token: str) -> bool:
    """Whether a backticked token names a file in a repository: a relative path with a folder
    and a known suffix, not a URL, a home or absolute path, a placeholder or a glob."""
    return (
        "/" in token
        and token.endswith(PATH_SUFFIXES)
        and not token.startswith(("/", "http", "~", "$", *MACHINE_ROOTS))
        # `{file: /path}`, `${infra}/…`, `https://…`: not plain paths.
        and not any(char in token for char in "<*{}:=")
        and not any(char.isspace() for char in token)
    )


def backticked_paths(text: str) -> list[str]:
    """Repository-looking paths in the inline code spans of `text` (outside fenced blocks)."""
    return [
        token
        for token in (match.group(1).strip() for match in CODE_SPAN.finditer(FENCE.sub("", text)))
        if looks_like_repository_path(token)
    ]


def resolves(target: str, document: Path) -> bool:
    """Whether `target` exists next to `document`, at the repository root, or in `nix/`."""
    return target in TO_BE_CREATED or any(
        (base / target).exists() for base in (document.parent, ROOT, INFRA)
    )


def test_markdown_files_are_found() -> None:
    found = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "nix/README.md"} <= found


def test_heuristic_recognises_paths_and_skips_the_rest() -> None:
    assert looks_like_repository_path("nix/hosts/common.nix")
    assert looks_like_repository_path("deploy/k8s/labbot.yaml")
    for token in (
        "config.example.yaml",  # no folder: a file name, also fine, but not checked
        "/etc/labbot/config.yaml",
        "https://example.com/a.md",
        "~/.config/sops/age/keys.txt",
        "hosts/<name>.nix",
        "result/sd-image/*.json",
        "{file: /run/secrets/x.yaml}",
        "labbot check-config /etc/labbot/config.yaml",
        "etc/labsim/identity.json",
    ):
        assert not looks_like_repository_path(token), token


def test_every_linked_or_named_file_exists() -> None:
    missing = []
    for document in markdown_files():
        text = document.read_text()
        for target in [*link_targets(text), *backticked_paths(text)]:
            if not resolves(target, document):
                missing.append(f"{document.relative_to(ROOT)}: {target}")
    assert not missing, "Files named in the documentation but not in the repository:\n" + "\n".join(
        missing
    )


def test_no_pointers_to_notes_outside_the_repository() -> None:
    found = [
        f"{document.relative_to(ROOT)}: {needle}"
        for document in markdown_files()
        for needle in FORBIDDEN
        if needle in document.read_text()
    ]
    assert not found, "Pointers to files that are not in the repository:\n" + "\n".join(found)
