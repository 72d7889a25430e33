"""Command line of the colmena double (`python -m labsim.colmena`), shaped like colmena 0.4.0's.

Subcommands: apply [GOAL], build, eval/introspect, exec, upload-keys, nix-info. Exit codes:
0 success (also when nothing was selected), 1 any failure, 2 usage error (clap's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import NoReturn

from labsim.colmena.build import local_store_dir
from labsim.colmena.deploy import Deployment, DeployOptions, child_error
from labsim.colmena.evaluate import UnsupportedExpression, evaluate, to_nix_json
from labsim.colmena.hive import (
    SCHEMA_OF_FLAVOR,
    Hive,
    HiveError,
    InventoryNode,
    git_state,
    hive_schema,
    locate_hive,
)
from labsim.colmena.knobs import ColmenaKnobs
from labsim.colmena.progress import JobKind, Output
from labsim.colmena.remote import SshTarget, run_remote
from labsim.colmena.selection import FilterError, NodeFilter

GOALS = ("build", "push", "switch", "boot", "test", "dry-activate", "keys")


class ClapParser(argparse.ArgumentParser):
    """argparse that reports usage errors the way clap does (stderr, exit 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n\nUsage: {self.prog} [OPTIONS]\n\n")
        sys.stderr.write("For more information, try '--help'.\n")
        raise SystemExit(2)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-f", "--config", default=default)
    parser.add_argument("--show-trace", action="store_true", default=default or False)
    parser.add_argument("--impure", action="store_true", default=default or False)
    parser.add_argument("--nix-option", nargs=2, action="append", default=default)
    parser.add_argument("--color", choices=("auto", "always", "never"), default=default)


def _deploy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--on", default=None)
    parser.add_argument("-p", "--parallel", type=int, default=10)
    parser.add_argument("--eval-node-limit", default="auto")
    parser.add_argument("--keep-result", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--no-keys", action="store_true")
    parser.add_argument("--reboot", action="store_true")
    parser.add_argument("--no-substitute", "--no-substitutes", action="store_true")
    parser.add_argument("--no-gzip", action="store_true")
    parser.add_argument("--build-on-target", action="store_true")
    parser.add_argument("--no-build-on-target", action="store_true")
    parser.add_argument("--force-replace-unknown-profiles", action="store_true")
    parser.add_argument("--evaluator", choices=("chunked", "streaming"), default="chunked")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (global flags are accepted before or after the subcommand)."""
    parser = ClapParser(prog="colmena")
    # clap's generated -V/--version prints "<name> <version>" (colmena 0.4.0's Cargo version).
    parser.add_argument("-V", "--version", action="version", version="colmena 0.4.0")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", parser_class=ClapParser, required=True)
    apply = sub.add_parser("apply", prog="colmena apply")
    apply.add_argument("goal", nargs="?", default=None, choices=GOALS)
    _deploy_options(apply)
    build = sub.add_parser("build", prog="colmena build")
    _deploy_options(build)
    keys = sub.add_parser("upload-keys", prog="colmena upload-keys")
    _deploy_options(keys)
    for name in ("eval", "introspect"):
        ev = sub.add_parser(name, prog=f"colmena {name}")
        ev.add_argument("file", nargs="?")
        ev.add_argument("-E", dest="expression")
        ev.add_argument("--instantiate", action="store_true")
        _global_options(ev, suppress=True)
    ex = sub.add_parser("exec", prog="colmena exec")
    ex.add_argument("--on", default=None)
    ex.add_argument("-p", "--parallel", type=int, default=0)
    ex.add_argument("-v", "--verbose", action="store_true")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("nix-info", prog="colmena nix-info")
    for parsed in (apply, build, keys, ex):
        _global_options(parsed, suppress=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the double; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    env_knobs = ColmenaKnobs.load(None)
    if "--experimental-flake-eval" in argv and env_knobs.flavor == "main":
        # main: the hidden flag makes get_hive return Unsupported, hitting an .expect() (exit 101;
        # panic text inferred). 0.4.0 has no such flag: argparse below exits 2 like clap.
        sys.stderr.write(
            "thread 'main' panicked at src/nix/hive/mod.rs:\n"
            "called `Result::unwrap()` on an `Err` value: Unsupported\n"
            "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
        )
        return 101
    args = build_parser().parse_args(argv)
    out = Output(flavor=env_knobs.flavor, rust_log=os.environ.get("RUST_LOG"))
    if args.command == "nix-info":
        out.log("info", "Nix Version: 2.24.10 (labsim double)")
        out.log("info", "Nix Flakes: Supported")
        return 0
    try:
        hive = locate_hive(args.config, Path.cwd())
    except HiveError as exc:
        out.fatal(str(exc), child_failure=False)
        return 1
    knobs = ColmenaKnobs.load(hive.directory)
    out = Output(flavor=knobs.flavor, rust_log=os.environ.get("RUST_LOG"))
    schema = hive_schema(hive.directory) if hive.is_flake else None
    if schema is not None and schema != SCHEMA_OF_FLAVOR[knobs.flavor]:
        # Every command evaluates the hive first; the schema assert fails it (FLAKE_APPLY_SNIPPET
        # in src/nix/hive/mod.rs on main, checkPreparedHive in src/nix/hive/flake.nix of 0.4.0).
        out.raw(
            f"error: The colmenaHive output (schema {schema}) isn't compatible with this "
            "version of Colmena.\n\nHint: Use the same version of Colmena as in the Flake input."
        )
        out.fatal("Nix exited with error code: 1")
        return 1
    if hive.is_flake and git_state(hive.directory).dirty:
        out.raw(f"warning: Git tree '{hive.directory}' is dirty")
    out.log(
        "info", f"Using flake: {hive.uri}" if hive.is_flake else f"Using configuration: {hive.uri}"
    )
    if args.command in ("eval", "introspect"):
        return _eval(args, hive, out)
    fixed_goals = {"build": "build", "upload-keys": "keys", "exec": "exec"}
    goal = fixed_goals.get(args.command) or args.goal
    goal = goal or ("boot" if getattr(args, "reboot", False) else "switch")
    if getattr(args, "reboot", False):
        out.fatal("labsim: --reboot is not simulated", child_failure=False)
        return 1
    if getattr(args, "evaluator", "chunked") == "streaming":
        out.log("warn", "Streaming evaluation is an experimental feature")
    selected = _select(args.on, hive, out, ssh_only=goal != "build")
    if selected is None:
        return 1
    if args.command == "exec":
        return asyncio.run(_exec(args, selected, out))
    if goal == "keys":
        return _upload_keys(selected, out)
    options = DeployOptions(
        goal=goal,
        parallel=args.parallel,
        keep_result=args.keep_result,
        upload_keys=not args.no_keys,
    )
    deployment = Deployment(hive, selected, options, knobs, out, local_store_dir())
    error = asyncio.run(deployment.run())
    out.finish(error)
    return 1 if error else 0


def _select(
    on: str | None, hive: Hive, out: Output, *, ssh_only: bool
) -> list[InventoryNode] | None:
    out.log("info", "Enumerating nodes...")
    every = list(hive.nodes.values())
    if on is None:
        chosen = every
    else:
        try:
            node_filter = NodeFilter.parse(on)
        except FilterError as exc:
            out.fatal(str(exc), child_failure=False)
            return None
        if node_filter.blank:
            out.log("warn", f'Filter "{on}" is blank and will match nothing')
        chosen = node_filter.select(every)
    with_host = [n for n in chosen if n.host is not None]
    targets = with_host if ssh_only else chosen
    skipped = len(chosen) - len(with_host)
    if not targets:
        # colmena 0.4.0 (hive/mod.rs) has this condition inverted: with nothing skipped it
        # prints "No hosts selected (0 skipped)." — reproduced as the source does it.
        out.log(
            "warn", "No hosts selected." if skipped else f"No hosts selected ({skipped} skipped)."
        )
    elif len(targets) == len(every):
        out.log("info", f"Selected all {len(targets)} nodes.")
    elif not ssh_only or skipped == 0:
        out.log("info", f"Selected {len(targets)} out of {len(every)} hosts.")
    else:
        out.log("info", f"Selected {len(targets)} out of {len(every)} hosts ({skipped} skipped).")
    return targets


def _eval(args: argparse.Namespace, hive: Hive, out: Output) -> int:
    expression = args.expression
    if expression is None and args.file:
        expression = Path(args.file).read_text()
    if expression is None:
        out.log(
            "error",
            "Either an expression (-E) or a .nix file containing an expression should be specified",
        )
        return 1
    try:
        value = evaluate(expression, hive.nodes)
    except UnsupportedExpression as exc:
        out.raw(f"error: labsim colmena double: {exc}")
        out.fatal(child_error(1))
        return 1
    sys.stdout.write(to_nix_json(value) + "\n")
    return 0


def _upload_keys(nodes: list[InventoryNode], out: Output) -> int:
    out.hint_label_width([n.name for n in nodes])
    for node in nodes:
        job = out.create(JobKind.UPLOAD_KEYS, [node.name])
        out.running(job, "Uploading keys")
        out.success(job, "Uploaded keys")
    out.finish(None)
    return 0


async def _exec(args: argparse.Namespace, nodes: list[InventoryNode], out: Output) -> int:
    command = [a for a in args.argv if a != "--"] if args.argv[:1] == ["--"] else args.argv
    if not command:
        out.fatal("No command specified", child_failure=False)
        return 1
    out.hint_label_width([n.name for n in nodes])
    limit = asyncio.Semaphore(args.parallel or max(len(nodes), 1))

    async def one(node: InventoryNode) -> None:
        async with limit:
            job = out.create(JobKind.EXECUTE, [node.name])
            out.running(job, "")

            async def show(line: str, is_stdout: bool) -> None:
                out.child(job, line, stdout=is_stdout)

            code = await run_remote(SshTarget.of(node), command, show)
            if code != 0:
                out.failure(job, child_error(code))
            else:
                out.success(job, "Succeeded")

    await asyncio.gather(*(one(node) for node in nodes))
    out.finish(None)
    # colmena 0.4.0's exec exits 0 even when a node failed (fixed on main by PR #191).
    return 0
