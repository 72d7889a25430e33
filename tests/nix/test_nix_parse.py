"""Every `.nix` file (labbot's flake and packaging, the infra template, these tests) parses with
`nix-instantiate --parse`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIX_DIR = ROOT / "nix"
PACKAGING = ROOT / "packaging"
NIX_FILES = sorted(
    [
        ROOT / "flake.nix",
        *NIX_DIR.rglob("*.nix"),
        *PACKAGING.rglob("*.nix"),
        *Path(__file__).parent.rglob("*.nix"),
    ]
)


def parse(nix_bin: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nix_bin, "--store", "dummy://", "--parse", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_the_infra_template_has_its_files_and_labbot_its_own() -> None:
    names = {p.relative_to(NIX_DIR).as_posix() for p in NIX_FILES if p.is_relative_to(NIX_DIR)}
    assert {
        "flake.nix",
        "hosts/common.nix",
        "hosts/tp-node3.nix",
        "hardware/cm4.nix",
        "images/base.nix",
        "lib/inventory.nix",
    } <= names
    # labbot's package and module live in labbot's flake, never copied into the template.
    assert not {n for n in names if n.startswith(("pkgs/", "modules/"))}
    assert (PACKAGING / "pkgs" / "labbot.nix").is_file()
    assert (PACKAGING / "modules" / "labbot.nix").is_file()
    assert (NIX_DIR / "inventory.json").is_file()
    assert (NIX_DIR / ".sops.yaml").is_file()  # one place: the repository's root
    assert not (NIX_DIR / "secrets" / ".sops.yaml").exists()
    assert (NIX_DIR / "renovate.json").is_file()


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nix_file_parses(nix_bin: str, path: Path) -> None:
    result = parse(nix_bin, path)
    assert result.returncode == 0, result.stderr


def test_a_broken_file_does_not_parse(nix_bin: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = 1; b = ; }\n")
    result = parse(nix_bin, broken)
    assert result.returncode != 0
    assert "syntax error" in result.stderr
