"""labbot's own flake and the infra template built on it, evaluated for real where nothing of
nixpkgs is needed (stand-ins elsewhere): labbot is built from this repository, the template takes
labbot as an input, the CM4 image's initrd remedy and k3s's kernel parameters are set."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NixEval = Callable[[str], object]


def test_the_root_flake_builds_labbot_from_this_repository(nix_eval: NixEval) -> None:
    out = nix_eval("import ./tests/nix/root-flake-outputs.nix { root = ./.; }")
    assert isinstance(out, dict)
    assert out["inputs"] == ["colmena", "nixpkgs"]
    assert out["package"] == {
        "file": str(ROOT / "packaging/pkgs/labbot.nix"),
        "src": str(ROOT),  # the repository itself, not a path outside the flake
    }
    assert out["checks"] == ["labbot"]
    assert out["template"] == str(ROOT / "nix")
    assert {"labbot", "default"} <= set(out["modules"])
    # services.labbot runs this package and the colmena of the flake's own colmena input (the
    # CLI that reads `colmenaHive`), not nixpkgs' colmena 0.4.0.
    assert out["module"] == {
        "imports": [str(ROOT / "packaging/modules/labbot.nix")],
        "package": out["package"],
        "colmenaPackage": "colmena-from-input",
    }


def test_the_template_in_a_repository_of_its_own_takes_labbot_as_an_input(
    nix_eval: NixEval, tmp_path: Path
) -> None:
    # What `nix flake init -t <labbot>#infra` leaves: the template's files in a new git repo.
    infra = tmp_path / "thelab-infra"
    shutil.copytree(ROOT / "nix", infra)
    for argv in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *argv], cwd=infra, check=True, capture_output=True)
    assert not (infra / "pkgs").exists() and not (infra / "modules").exists()
    # The labbot input is labbot's own flake at this repository's path (nixpkgs stood in for).
    out = nix_eval(
        f'import ./tests/nix/flake-outputs.nix {{ flakeDir = {infra}; rev = "x"; labbotRoot = {ROOT}; }}'
    )
    assert isinstance(out, dict)
    assert "labbot" in out["inputs"]
    package = {"file": str(ROOT / "packaging/pkgs/labbot.nix"), "src": str(ROOT)}
    assert out["labbot"]["package"] == package
    assert out["labbot"]["module"] == {
        "imports": [str(ROOT / "packaging/modules/labbot.nix")],
        "package": package,
        "colmenaPackage": "colmena-of-the-infra-flake",  # labbot's colmena follows the lab's
    }
    assert sorted(out["nixosConfigurations"]) == ["tp-node3"]
    flake = (infra / "flake.nix").read_text()
    assert 'url = "github:OWNER/labbot";' in flake and "nixos-26.05" in flake


def test_the_cm4_modules_closure_skips_modules_the_pi_kernel_lacks(nix_eval: NixEval) -> None:
    expr = """
      let
        module = import ./nix/hardware/cm4.nix { pkgs.linuxKernel.packages.linux_rpi4 = "rpi"; };
        overlay = builtins.head module.nixpkgs.overlays;
        prev.makeModulesClosure = args: args;  # returns what the real one is called with
      in (overlay { } prev).makeModulesClosure { rootModules = [ "sun4i-drm" ]; }
    """
    assert nix_eval(expr) == {"rootModules": ["sun4i-drm"], "allowMissing": True}


def test_every_node_gets_the_memory_cgroup_k3s_needs(nix_eval: NixEval) -> None:
    expr = """
      (import ./nix/hosts/common.nix {
        config = { }; lib = { }; pkgs = { }; node = { name = "tp-node3"; port = 22; };
      }).boot.kernelParams
    """
    assert nix_eval(expr) == ["cgroup_enable=memory", "cgroup_memory=1"]
