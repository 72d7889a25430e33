"""Command line of the nix double (`python -m labsim.nixtool`, installed as `nix`).

Supported: `nix build FLAKE#ATTR [--print-out-paths] [-L] [--no-link] [-o LINK]`,
`nix store diff-closures [--json] A B`, `nix flake metadata [--json] [FLAKE]`, `nix --version`,
`nix show-config` / `nix config show` (a few settings), `nix eval --raw
FLAKE#colmenaHive.__schema` (the hive's schema from its inventory.json).
Knobs: LABSIM_NIX_IMAGE_SIZE (bytes), LABSIM_NIX_BUILD_FAIL (any value fails `nix build`),
LABSIM_NIX_EXTRA_PLATFORMS (default `aarch64-linux`: the double builds the nodes' aarch64
systems, as a machine with binfmt emulation does; empty: it could not).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from labsim.colmena.build import local_store_dir
from labsim.colmena.hive import hive_schema
from labsim.nixtool.closures import InvalidPath, diff_closures, load_closure, render, render_json
from labsim.nixtool.flake import flake_dir_of, metadata, render_text
from labsim.nixtool.image import plan_image, realise_image

VERSION = "nix (Nix) 2.24.10"


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the double; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    args = _drop_global_options(args)
    if args[:1] == ["--version"]:
        print(VERSION)
        return 0
    if args[:1] == ["build"]:
        return _build(args[1:])
    if args[:1] == ["show-config"] or args[:2] == ["config", "show"]:
        return _show_config()
    if args[:2] == ["store", "diff-closures"]:
        return _diff(args[2:])
    if args[:2] == ["flake", "metadata"] or args[:2] == ["flake", "info"]:
        return _metadata(args[2:])
    if args[:1] == ["eval"]:
        return _eval(args[1:])
    _err(f"error: labsim nix double: 'nix {' '.join(args)}' is not simulated")
    return 1


def _eval(args: list[str]) -> int:
    """`nix eval [--raw|--json] FLAKE#colmenaHive.__schema`, the one attribute the double knows
    (it cannot evaluate Nix): the schema from the hive's inventory.json."""
    raw = "--raw" in args
    refs = [a for a in args if not a.startswith("-")]
    if len(refs) != 1 or not refs[0].endswith("#colmenaHive.__schema"):
        _err(f"error: labsim nix double: 'nix eval {' '.join(args)}' is not simulated")
        return 1
    directory = flake_dir_of(refs[0], Path.cwd())
    schema = hive_schema(directory)
    if schema is None:
        system = {"x86_64": "x86_64-linux", "aarch64": "aarch64-linux"}.get(os.uname().machine)
        attribute = "colmenaHive.__schema"
        _err(
            f"error: flake 'path:{directory}' does not provide attribute "
            f"'packages.{system}.{attribute}', 'legacyPackages.{system}.{attribute}' or "
            f"'{attribute}'"
        )
        return 1
    sys.stdout.write(schema if raw else json.dumps(schema) + "\n")
    return 0


def _show_config() -> int:
    """`name = value` per setting, as Nix prints its configuration (the settings and their
    meaning: the Nix manual, "nix.conf": system, extra-platforms, builders)."""
    machine = os.uname().machine
    system = {"x86_64": "x86_64-linux", "aarch64": "aarch64-linux"}.get(machine, machine)
    extra = os.environ.get("LABSIM_NIX_EXTRA_PLATFORMS", "aarch64-linux")
    print("builders = ")
    print("experimental-features = flakes nix-command")
    print(f"extra-platforms = {extra}")
    print(f"system = {system}")
    return 0


def _drop_global_options(args: list[str]) -> list[str]:
    """Remove `--extra-experimental-features X`, `--option A B` and friends."""
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("--extra-experimental-features", "--experimental-features"):
            index += 2
            continue
        if arg == "--option":
            index += 3
            continue
        if arg in ("--impure", "--show-trace", "--no-warn-dirty", "--refresh", "--offline"):
            index += 1
            continue
        out.append(arg)
        index += 1
    return out


def _build(args: list[str]) -> int:
    print_paths, print_logs, link = False, False, "result"
    installables: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--print-out-paths":
            print_paths = True
        elif arg in ("-L", "--print-build-logs"):
            print_logs = True
        elif arg == "--no-link":
            link = ""
        elif arg in ("-o", "--out-link") and index + 1 < len(args):
            link = args[index + 1]
            index += 1
        elif not arg.startswith("-"):
            installables.append(arg)
        index += 1
    if len(installables) != 1 or "#" not in installables[0]:
        _err("error: labsim nix double: expected exactly one installable FLAKE#ATTRIBUTE")
        return 1
    ref, attribute = installables[0].split("#", 1)
    directory = flake_dir_of(ref, Path.cwd())
    if not (directory / "flake.nix").is_file():
        _err(f"error: path '{directory}/flake.nix' does not exist")
        return 1
    plan = plan_image(directory, attribute)
    store = local_store_dir()
    if os.environ.get("LABSIM_NIX_BUILD_FAIL"):
        _err(f"error: builder for '{plan.drv}' failed with exit code 1;")
        _err(f"       For full logs, run 'nix log {plan.drv}'.")
        return 1
    already = (store / plan.out_path.rsplit("/", 1)[1] / "sd-image" / plan.image_name).is_file()
    if not already:
        for line in plan.messages:
            _err(line)
        if print_logs:
            for line in plan.build_log:
                _err(line)
    host, _ = realise_image(plan, store)
    if link:
        target = Path.cwd() / link
        if target.is_symlink():
            target.unlink()
        target.symlink_to(host)
    if print_paths:
        print(host)
    return 0


def _diff(args: list[str]) -> int:
    as_json = "--json" in args
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 2:
        _err("error: 'nix store diff-closures' requires two arguments: BEFORE AFTER")
        return 1
    store = local_store_dir()
    try:
        before = load_closure(store, _resolve_link(paths[0]))
        after = load_closure(store, _resolve_link(paths[1]))
    except InvalidPath as exc:
        _err(str(exc))
        return 1
    diffs = diff_closures(before, after)
    if as_json:
        print(render_json(diffs))
    else:
        for line in render(diffs):
            print(line)
    return 0


def _resolve_link(path: str) -> str:
    candidate = Path(path)
    if candidate.is_symlink():
        return str(candidate.resolve())
    return path


def _metadata(args: list[str]) -> int:
    as_json = "--json" in args
    refs = [a for a in args if not a.startswith("--")]
    directory = flake_dir_of(refs[0] if refs else ".", Path.cwd())
    try:
        doc, warnings = metadata(directory)
    except FileNotFoundError as exc:
        _err(str(exc))
        return 1
    for warning in warnings:
        _err(warning)
    if as_json:
        print(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    else:
        for line in render_text(doc):
            print(line)
    return 0
