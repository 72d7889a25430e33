"""The nix double: `nix build` of an image, `nix store diff-closures`, `nix flake metadata`."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from labsim.colmena import install_colmena_double, install_nix_double

INVENTORY = {"nodes": {"tp-node3": {"host": "127.0.0.1", "port": 22, "user": "deploy",
                                    "tags": ["cm4"], "slot": 3, "module": "cm4",
                                    "k3s_role": "server"}}}  # fmt: skip


def lock(rev: str, stamp: int) -> str:
    nixpkgs = {
        "locked": {"lastModified": stamp, "narHash": "sha256-x", "owner": "NixOS",
                   "repo": "nixpkgs", "rev": rev, "type": "github"},
        "original": {"owner": "NixOS", "ref": "nixos-24.11", "repo": "nixpkgs", "type": "github"},
    }  # fmt: skip
    doc = {"nodes": {"nixpkgs": nixpkgs, "root": {"inputs": {"nixpkgs": "nixpkgs"}}}}
    return json.dumps({**doc, "root": "root", "version": 7})


@dataclass
class Tools:
    flake: Path
    env: dict[str, str]
    store: Path

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.flake, env=self.env, capture_output=True, text=True, check=False
        )


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    flake = tmp_path / "infra"
    flake.mkdir()
    (flake / "flake.nix").write_text('{ description = "thelab-infra"; outputs = _: { }; }\n')
    (flake / "inventory.json").write_text(json.dumps(INVENTORY))
    (flake / "flake.lock").write_text(lock("1" * 40, 1735689600))
    store = tmp_path / "local/nix/store"
    install_colmena_double(tmp_path / "bin", nix_store=store)
    install_nix_double(tmp_path / "bin", nix_store=store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABSIM_")}
    env["PATH"] = f"{tmp_path / 'bin'}:{env['PATH']}"
    return Tools(flake, env, store)


def test_nix_build_writes_an_image_into_the_local_store(tools: Tools) -> None:
    attr = ".#packages.aarch64-linux.cm4-image"
    first = tools.run("nix", "build", attr, "--print-out-paths", "-L")
    assert first.returncode == 0, first.stderr
    out = Path(first.stdout.strip())
    assert out.parent == tools.store
    assert re.fullmatch(
        r"[0-9a-df-np-sv-z]{32}-nixos-sd-image-24\.11\.20250101\.1111111-aarch64-linux\.img",
        out.name,
    )
    compressed = importlib.util.find_spec("zstandard") is not None
    images = list((out / "sd-image").iterdir())
    assert [p.name.endswith(".img.zst" if compressed else ".img") for p in images] == [True]
    data = images[0].read_bytes()
    if compressed:
        zstandard = importlib.import_module("zstandard")
        data = zstandard.ZstdDecompressor().decompress(data)
    assert data.startswith(b"LABSIM-SD-IMAGE\npackages.aarch64-linux.cm4-image\n")
    assert data[510:512] == b"\x55\xaa"
    assert "these 4 derivations will be built:" in first.stderr
    assert "> Creating filesystem" in first.stderr
    assert (tools.flake / "result").resolve() == out
    again = tools.run("nix", "build", attr, "--print-out-paths")
    assert again.stdout == first.stdout and again.stderr == ""


def test_diff_closures_shows_version_and_size_changes(tools: Tools) -> None:
    before = tools.run("colmena", "build")
    (tools.flake / "flake.lock").write_text(lock("2" * 40, 1736899200))
    after = tools.run("colmena", "build")
    assert before.returncode == after.returncode == 0

    def built(run: subprocess.CompletedProcess[str]) -> str:
        return next(line for line in run.stderr.splitlines() if " | Built " in line).split('"')[1]

    diff = tools.run("nix", "store", "diff-closures", built(before), built(after))
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines == sorted(lines, key=lambda line: line.split(":")[0])
    shape = re.compile(r"[\w.+-]+: (\S.* → \S.*?(, [+-]\d+\.\d KiB)?|[+-]\d+\.\d KiB)")
    assert all(shape.fullmatch(line) for line in lines), lines
    assert "nixos-system-tp-node3: 24.11.20250101.1111111 → 24.11.20250115.2222222" in lines
    missing = tools.run(
        "nix", "store", "diff-closures", built(before), "/nix/store/" + "0" * 32 + "-x"
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: path '/nix/store/")


def test_flake_metadata_json_for_a_git_checkout(tools: Tools) -> None:
    git = ["git", "-C", str(tools.flake), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clean = tools.run("nix", "flake", "metadata", "--json")
    doc = json.loads(clean.stdout)
    assert {"description", "lastModified", "locked", "locks", "original", "originalUrl",
            "path", "resolved", "resolvedUrl", "revCount", "revision", "url"} <= set(doc)  # fmt: skip
    assert doc["revision"] == head and doc["revCount"] == 1
    assert doc["originalUrl"] == f"git+file://{tools.flake}"
    assert doc["locks"]["nodes"]["nixpkgs"]["locked"]["rev"] == "1" * 40
    (tools.flake / "flake.nix").write_text("{ outputs = _: { }; }\n")
    dirty = tools.run("nix", "flake", "metadata", "--json")
    assert dirty.stderr == f"warning: Git tree '{tools.flake}' is dirty\n"
    assert json.loads(dirty.stdout)["dirtyRevision"] == f"{head}-dirty"


def test_a_hive_of_another_schema_is_refused_by_colmena_and_shown_by_nix_eval(
    tools: Tools,
) -> None:
    attribute = f"{tools.flake}#colmenaHive.__schema"
    absent = tools.run("nix", "eval", "--raw", attribute)
    assert absent.returncode == 1 and "does not provide attribute" in absent.stderr
    # colmena main's lib.makeHive made the hive; the double is colmena 0.4.0 (reads "v0").
    (tools.flake / "inventory.json").write_text(json.dumps({**INVENTORY, "hive_schema": "v0.5"}))
    shown = tools.run("nix", "eval", "--raw", attribute)
    assert (shown.returncode, shown.stdout) == (0, "v0.5")
    refused = tools.run("colmena", "eval", "-E", "{ nodes, ... }: builtins.attrNames nodes")
    assert refused.returncode == 1
    assert "The colmenaHive output (schema v0.5) isn't compatible" in refused.stderr
    tools.env["LABSIM_COLMENA_FLAVOR"] = "main"
    read = tools.run("colmena", "eval", "-E", "{ nodes, ... }: builtins.attrNames nodes")
    assert read.returncode == 0, read.stderr
