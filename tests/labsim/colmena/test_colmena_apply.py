"""The colmena double against simulated nodes: plain-mode output shapes, exit codes, real effects."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from labsim.nodes import NodeSpec, SimCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPECS = [
    NodeSpec("tp-node1", 1, "rk1", ("k3s-server", "rk1"), "server"),
    NodeSpec("tp-node2", 2, "rk1", ("k3s-server", "rk1"), "server"),
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
]
HASH = r"[0-9a-df-np-sv-z]{32}"


@dataclass
class Infra:
    lab: SimCluster
    flake: Path
    env: dict[str, str]


@dataclass
class Run:
    code: int
    stdout: str
    lines: list[str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Infra]:
    async with SimCluster(SPECS, user="deploy") as lab:
        flake = tmp_path_factory.mktemp("infra")
        (flake / "flake.nix").write_text('{ description = "thelab-infra"; outputs = _: { }; }\n')
        (flake / "hosts").mkdir()
        for spec in SPECS:
            (flake / "hosts" / f"{spec.name}.nix").write_text(
                f'{{ networking.hostName = "{spec.name}"; }}\n'
            )
        lab.write_inventory(flake)
        bin_dir = tmp_path_factory.mktemp("bin")
        lab.write_tools(bin_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LABSIM_", "RUST_LOG"))}
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        env.pop("SSH_CONFIG_FILE", None)
        yield Infra(lab, flake, env)


async def colmena(infra: Infra, *args: str, **extra_env: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        "colmena",
        *args,
        cwd=infra.flake,
        env={**infra.env, **extra_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return Run(proc.returncode or 0, out.decode(), err.decode().splitlines())


def match_shape(lines: list[str], shape: list[tuple[str, str]]) -> None:
    """Match lines against (quantifier, regex) pairs in order; quantifier is '1', '+' or '*'."""
    index = 0
    for quantifier, pattern in shape:
        regex = re.compile(pattern)
        count = 0
        while index < len(lines) and regex.fullmatch(lines[index]):
            index += 1
            count += 1
            if quantifier == "1":
                break
        if quantifier in ("1", "+") and count == 0:
            context = lines[index] if index < len(lines) else "<end of output>"
            raise AssertionError(f"line {index}: {context!r} does not match {pattern!r}")
    assert index == len(lines), f"unexpected trailing lines: {lines[index:]}"


def built_path(run: Run, node: str) -> str:
    found = [line for line in run.lines if line.startswith(f"{node} | Built ")]
    assert len(found) == 1, run.lines
    return found[0].split('"')[1]


def example_a(node: str, user: str, *, built: bool) -> list[tuple[str, str]]:
    label = re.escape(node) + r" \| "
    return [
        ("1", r"\[INFO \] Using flake: path:/.+"),
        ("1", r"\[INFO \] Enumerating nodes\.\.\."),
        ("1", r"\[INFO \] Selected 1 out of 3 hosts\."),
        ("1", label + f"Evaluating {node}"),
        ("1", label + f"Evaluated {node}"),
        ("1", label + f"Building {node}"),
        ("1" if built else "*", label + r"these \d+ derivations will be built:"),
        ("+" if built else "*", label + rf"  /nix/store/{HASH}-\S+\.drv"),
        ("+" if built else "*", label + rf"building '/nix/store/{HASH}-\S+\.drv'\.\.\."),
        ("1", label + rf"/nix/store/{HASH}-nixos-system-{node}-\S+"),
        ("1", label + rf'Built "/nix/store/{HASH}-nixos-system-{node}-\S+"'),
        ("1", label + "Pushing system closure"),
        ("1", label + r"copying \d+ paths\.\.\."),
        (
            "+",
            label
            + rf"copying path '/nix/store/{HASH}-\S+' to 'ssh-ng://{user}@127\.0\.0\.1'\.\.\.",
        ),
        ("1", label + "Pushed system closure"),
        ("1", label + "No pre-activation keys to upload"),
        ("1", label + "Activating system profile"),
        ("1", label + r"activating the configuration\.\.\."),
        ("1", label + r"setting up /etc\.\.\."),
        ("1", label + rf"reloading user units for {user}\.\.\."),
        ("*", label + r"restarting .+"),
        ("1", label + "Activation successful"),
        ("1", label + "No post-activation keys to upload"),
        ("1", r" {8} \| All done!"),
    ]


async def test_apply_one_node_matches_example_a_and_switches_it(infra: Infra) -> None:
    node = infra.lab["tp-node3"]
    generation = node.current_generation()
    run = await colmena(infra, "apply", "--on", "tp-node3")
    assert run.code == 0, run.lines
    assert run.stdout == ""
    match_shape(run.lines, example_a("tp-node3", "deploy", built=True))
    path = built_path(run, "tp-node3")
    assert node.current_generation() == generation + 1
    assert node.current_system() == path == node.boot_default()
    assert node.commands_received()[-2:] == [
        f"sudo -H -- nix-env --profile /nix/var/nix/profiles/system --set {path}",
        f"sudo -H -- {path}/bin/switch-to-configuration switch",
    ]


async def test_same_content_builds_same_path_changed_content_a_new_one(infra: Infra) -> None:
    first = await colmena(infra, "build", "--on", "tp-node1,tp-node3")
    again = await colmena(infra, "build", "--on", "tp-node1,tp-node3")
    assert first.code == again.code == 0
    assert built_path(first, "tp-node3") == built_path(again, "tp-node3")
    assert not any("derivations will be built" in line for line in again.lines)
    host_file = infra.flake / "hosts" / "tp-node3.nix"
    original = host_file.read_text()
    host_file.write_text(original + "# tweak\n")
    try:
        changed = await colmena(infra, "build", "--on", "tp-node1,tp-node3")
    finally:
        host_file.write_text(original)
    assert built_path(changed, "tp-node3") != built_path(first, "tp-node3")
    assert built_path(changed, "tp-node1") == built_path(first, "tp-node1")


async def test_failed_activation_matches_example_b(infra: Infra) -> None:
    failing, healthy = infra.lab["tp-node2"], infra.lab["tp-node1"]
    failing.fail_activation(["k3s.service"])
    before = failing.current_generation()
    try:
        run = await colmena(infra, "apply", "--on", "tp-node1,tp-node2")
        assert failing.failed_units() == ["k3s.service"]
    finally:
        failing.clear_faults()
    assert run.code == 1
    lines = run.lines
    assert lines[:5] == [
        "[INFO ] Using flake: path:" + str(infra.flake),
        "[INFO ] Enumerating nodes...",
        "[INFO ] Selected 2 out of 3 hosts.",
        "   (...) | Evaluating tp-node1 and tp-node2",
        "   (...) | Evaluated tp-node1 and tp-node2",
    ]
    assert "tp-node2 | warning: the following units failed: k3s.service" in lines
    assert "tp-node2 | × k3s.service - k3s service" in lines
    assert "tp-node2 | Activation failed: Child process exited with error code: 4" in lines
    assert "tp-node1 | Activation successful" in lines
    tail_start = lines.index("         | Failed: Child process exited with error code: 4")
    match_shape(
        lines[tail_start + 1 :],
        [
            ("1", r"\[ERROR\] Failed to deploy to tp-node2 - Last \d+ lines of logs:"),
            ("1", r"\[ERROR\]  created\)"),
            ("1", r"\[ERROR\]    state\) Running"),
            ("+", r"\[ERROR\]   stderr\) .*"),
            ("1", r"\[ERROR\]  failure\) Child process exited with error code: 4"),
            ("1", r"\[ERROR\] Failed to complete requested operation - Last 1 lines of logs:"),
            ("1", r"\[ERROR\]  failure\) Child process exited with error code: 4"),
            ("1", r"\[ERROR\] -----"),
            (
                "1",
                r"\[ERROR\] Operation failed with error: Child process exited with error code: 4",
            ),
            ("1", r"Hint: Backtrace available - Use `RUST_BACKTRACE=1` environment variable .+"),
        ],
    )
    # Real NixOS: the failed switch still activated the new system and made it the boot default.
    assert failing.current_generation() == before + 1
    assert failing.current_system() == built_path(run, "tp-node2") == failing.boot_default()
    assert healthy.current_system() == built_path(run, "tp-node1")


async def test_empty_selection_succeeds_with_a_warning(infra: Infra) -> None:
    systems = {node.name: node.current_system() for node in infra.lab.nodes}
    run = await colmena(infra, "apply", "--on", "nothing-*")
    assert run.code == 0
    # colmena 0.4.0's source prints "(0 skipped)" here; some of its docs show it without.
    warning = re.compile(r"\[WARN \] No hosts selected( \(0 skipped\))?\.")
    assert any(warning.fullmatch(line) for line in run.lines)
    assert run.lines[-1] == "      | All done!"
    assert {node.name: node.current_system() for node in infra.lab.nodes} == systems


async def test_tag_selection_builds_only_tagged_nodes(infra: Infra) -> None:
    run = await colmena(infra, "build", "--on", "@rk1")
    assert run.code == 0
    assert "[INFO ] Selected 2 out of 3 hosts." in run.lines
    building = sorted(line.split(" | ")[0] for line in run.lines if " | Building " in line)
    assert building == ["tp-node1", "tp-node2"]


async def test_unreachable_node_fails_the_push(infra: Infra) -> None:
    node = infra.lab["tp-node1"]
    await node.ssh_down()
    try:
        run = await colmena(infra, "apply", "--on", "tp-node1")
    finally:
        await node.ssh_up()
    assert run.code == 1
    assert "tp-node1 | Push failed: Child process exited with error code: 1" in run.lines
    assert any(
        line.startswith("[ERROR] Failed to push system closure to tp-node1") for line in run.lines
    )


async def test_build_failure_knob(infra: Infra) -> None:
    run = await colmena(infra, "build", "--on", "tp-node3", LABSIM_COLMENA_FAIL_BUILD="tp-node3")
    assert run.code == 1
    assert "tp-node3 | Build failed: Child process exited with error code: 100" in run.lines
    assert any(line.startswith("[ERROR] Failed to build tp-node3 - Last") for line in run.lines)


async def test_extra_output_lines_knob(infra: Infra) -> None:
    run = await colmena(infra, "build", "--on", "tp-node3", LABSIM_COLMENA_EXTRA_LINES="50")
    assert run.code == 0
    assert sum(1 for line in run.lines if line.startswith("tp-node3 | tp-node3-extra> ")) == 50


async def test_eval_lists_nodes_and_inventory(infra: Infra) -> None:
    names = await colmena(infra, "eval", "-E", "{ nodes, ... }: builtins.attrNames nodes")
    assert names.code == 0
    assert names.stdout == '["tp-node1","tp-node2","tp-node3"]\n'
    expr = (
        "{ nodes, lib, ... }: lib.mapAttrs (_: n: { inherit (n.config.deployment) "
        "tags targetHost targetPort targetUser; }) nodes"
    )
    inventory = await colmena(infra, "eval", "-E", expr)
    doc = json.loads(inventory.stdout)
    node = infra.lab["tp-node3"]
    assert doc["tp-node3"] == {
        "tags": ["k3s-server", "cm4"],
        "targetHost": "127.0.0.1",
        "targetPort": node.port,
        "targetUser": "deploy",
    }
    bad = await colmena(infra, "eval", "-E", "{ nodes, ... }: 1 + 1")
    assert bad.code == 1


async def test_usage_and_filter_errors(infra: Infra) -> None:
    usage = await colmena(infra, "apply", "frobnicate")
    assert usage.code == 2
    assert usage.lines[0].startswith("error: ")
    empty_rule = await colmena(infra, "apply", "--on", "tp-node1,,tp-node2")
    assert empty_rule.code == 1
    assert "[ERROR] Operation failed with error: Filter rule cannot be empty" in empty_rule.lines


async def test_exec_runs_a_command_per_node(infra: Infra) -> None:
    run = await colmena(infra, "exec", "--on", "tp-node3", "--", "hostname")
    assert run.code == 0
    assert "tp-node3 | tp-node3" in run.lines
    assert "tp-node3 | Succeeded" in run.lines
