"""nix/flake.nix: which nodes it builds and deploys, from which modules, at which revision.

The outputs are evaluated with stand-in inputs (flake-outputs.nix), since neither nixpkgs nor
the network is available here; what is checked is the flake's own wiring.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import InventoryConfig, Node

ROOT = Path(__file__).resolve().parents[2]
NIX_DIR = ROOT / "nix"
REV = "0123456789abcdef0123456789abcdef01234567"

NixEval = Callable[[str], object]


def outputs(nix_eval: NixEval, args: str = f'rev = "{REV}";') -> Any:
    return nix_eval(f"import ./tests/nix/flake-outputs.nix {{ flakeDir = ./nix; {args} }}")


def labbot_nodes() -> list[Node]:
    config = InventoryConfig.model_validate(
        {"boards": [{"name": "turingpi", "bmc": "turingpi"}], "file": NIX_DIR / "inventory.json"}
    )
    return list(config.nodes)


def test_the_plans_inputs(nix_eval: NixEval) -> None:
    assert outputs(nix_eval)["inputs"] == [
        "colmena",
        "labbot",
        "nixos-generators",
        "nixpkgs",
        "sops-nix",
    ]


def test_builds_exactly_the_non_deferred_nodes(nix_eval: NixEval) -> None:
    out = outputs(nix_eval)
    active = sorted(n.name for n in labbot_nodes() if not n.deferred)
    assert sorted(out["nixosConfigurations"]) == active == ["tp-node3"]
    assert sorted(out["hive"]["nodes"]) == active
    assert sorted(out["hive"]["nodeSpecialArgs"]) == active
    assert out["hive"]["madeFromColmenaOutput"] is True


def test_hive_deploys_to_the_inventory_targets(nix_eval: NixEval) -> None:
    hive = outputs(nix_eval)["hive"]["nodes"]
    for node in labbot_nodes():
        if node.deferred:
            continue
        assert hive[node.name]["deployment"] == {
            "targetHost": node.host,
            "targetUser": node.ssh_user,
            "targetPort": node.ssh_port,
            "tags": list(node.tags),
        }


def test_configurations_and_hive_use_the_same_existing_modules(nix_eval: NixEval) -> None:
    out = outputs(nix_eval)
    for name, config in out["nixosConfigurations"].items():
        assert config["system"] == "aarch64-linux"
        assert config["modules"] == out["hive"]["nodes"][name]["imports"]
        files = [m for m in config["modules"] if isinstance(m, str) and m.startswith("/")]
        assert [Path(f).relative_to(NIX_DIR).as_posix() for f in files] == [
            f"hardware/{config['node']['module']}.nix",
            "hosts/common.nix",
            f"hosts/{name}.nix",
        ]
        assert all(Path(f).is_file() for f in files)
        assert "input:sops-nix" in config["modules"]


def test_image_is_the_cm4_sd_image(nix_eval: NixEval) -> None:
    image = outputs(nix_eval)["image"]
    assert (image["system"], image["format"]) == ("aarch64-linux", "sd-aarch64")
    files = [m for m in image["modules"] if isinstance(m, str)]
    assert [Path(f).relative_to(NIX_DIR).as_posix() for f in files] == [
        "hardware/cm4.nix",
        "images/base.nix",
    ]


def _revisions(modules: list[Any]) -> list[object]:
    return [
        m["system"]["configurationRevision"]
        for m in modules
        if isinstance(m, dict) and "configurationRevision" in m.get("system", {})
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (f'rev = "{REV}";', REV),
        (f'dirtyRev = "{REV}-dirty";', f"{REV}-dirty"),
        ("", None),
    ],
    ids=["clean", "dirty", "no-git"],
)
def test_configuration_revision_comes_from_the_flake(
    nix_eval: NixEval, args: str, expected: str | None
) -> None:
    out = outputs(nix_eval, args)
    assert _revisions(out["nixosConfigurations"]["tp-node3"]["modules"]) == [expected]
    assert _revisions(out["hive"]["nodes"]["tp-node3"]["imports"]) == [expected]
    assert _revisions(out["image"]["modules"]) == [expected]


@pytest.mark.parametrize("path", sorted(NIX_DIR.rglob("*.nix")), ids=lambda p: p.name)
def test_no_impure_lookups(nix_bin: str, path: Path) -> None:
    # `<nixpkgs>` parses to __findFile; flakes evaluate purely and have no NIX_PATH.
    parsed = subprocess.run(
        [nix_bin, "--store", "dummy://", "--parse", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for impure in ("__findFile", "__nixPath", "getEnv", "currentSystem", "currentTime"):
        assert impure not in parsed, f"{path.name} uses {impure}"
