"""Fixtures for the infra tests: evaluating Nix offline with `nix-instantiate` (Debian nix-bin).

Only builtins evaluate here (no nixpkgs, no network); a dummy store keeps Nix from touching /nix.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NixEval = Callable[[str], object]


@pytest.fixture
def nix_bin() -> str:
    """The nix-instantiate binary; fails the test with the package to install when missing."""
    binary = shutil.which("nix-instantiate")
    if binary is None:
        pytest.fail("nix-instantiate not found: install Debian's nix-bin (./dev does)")
    return binary


@pytest.fixture
def nix_eval(nix_bin: str) -> NixEval:
    """Evaluate a Nix expression (cwd = repo root) strictly to JSON and return it decoded."""
    binary = nix_bin

    def evaluate(expr: str) -> object:
        result = subprocess.run(
            [binary, "--store", "dummy://", "--eval", "--strict", "--json", "-E", expr],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise AssertionError(f"nix-instantiate failed:\n{result.stderr}")
        return json.loads(result.stdout)

    return evaluate
