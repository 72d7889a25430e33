"""The colmena client: argv and environment, per-node results, failures, and the node-list cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.config import ColmenaConfig
from bot.integrations.colmena import Colmena, ColmenaFailed, NodeListCache
from bot.integrations.colmena_output import Goal, Stage
from bot.integrations.process import ProcessResult, Stream

PATH = "/nix/store/kb9y1xg624qs3aqx1fv67majr3qw091d-nixos-system-tp-node3-24.11.20250114.2ba7ed3"


class FakeRunner:
    """Plays back colmena output for each call and records what was run."""

    def __init__(self, *runs: tuple[int, list[str], list[str]]) -> None:
        self._runs = list(runs)
        self.calls: list[tuple[list[str], dict[str, str], str | None]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
        on_line: Any = None,
    ) -> ProcessResult:
        self.calls.append((list(argv), dict(env), cwd))
        code, stderr, stdout = self._runs.pop(0)
        for line in stderr:
            on_line(Stream.stderr, line)
        for line in stdout:
            on_line(Stream.stdout, line)
        return ProcessResult(code, timed_out=False, cancelled=False, duration=0.1)


@pytest.fixture
def config(tmp_path: Path) -> ColmenaConfig:
    (tmp_path / "flake.nix").write_text("{ }\n")
    return ColmenaConfig(flake_dir=tmp_path, binary="/opt/colmena", parallel=3)


async def test_build_passes_explicit_nodes_and_rust_log_and_returns_paths(
    config: ColmenaConfig,
) -> None:
    runner = FakeRunner((0, [f'tp-node3 | Built "{PATH}"', "         | All done!"], []))
    built = await Colmena(config, runner).build(["tp-node3"])
    assert built == {"tp-node3": PATH}
    argv, env, cwd = runner.calls[0]
    flake = str(config.flake_dir / "flake.nix")
    assert argv == ["/opt/colmena", "-f", flake, "build", "--on", "tp-node3", "-p", "3"]
    assert env["RUST_LOG"] == "info" and cwd == str(config.flake_dir)
    assert "--experimental-flake-eval" not in argv
    assert not any(k.startswith(("SLACK", "LABSIM_GITHUB")) for k in env)


def test_on_takes_node_names_only(config: ColmenaConfig) -> None:
    colmena = Colmena(config, FakeRunner())
    assert colmena.command("apply", goal=Goal.boot, nodes=["a", "b"])[3:7] == [
        "apply",
        "boot",
        "--on",
        "a,b",
    ]
    for bad in ("@k3s", "tp-*", "a,b", ""):
        with pytest.raises(ValueError):
            colmena.command("apply", goal=Goal.switch, nodes=[bad])


async def test_failed_build_names_the_node_and_explains_the_exit_code(
    config: ColmenaConfig,
) -> None:
    lines = ["tp-node3 | Build failed: Child process exited with error code: 100"]
    with pytest.raises(ColmenaFailed) as caught:
        await Colmena(config, FakeRunner((1, lines, []))).build(["tp-node3"])
    text = str(caught.value)
    assert "tp-node3: build failed: Child process exited with error code: 100" in text
    assert "colmena exited 1: at least one node failed" in text
    assert caught.value.exit_code == 1 and caught.value.nodes == ["tp-node3"]


async def test_apply_reports_per_node_and_refuses_an_empty_selection(
    config: ColmenaConfig,
) -> None:
    lines = [
        "tp-node3 | Activation successful",
        "tp-node1 | Activation failed: Child process exited with error code: 4",
    ]
    seen: list[tuple[str, str]] = []
    colmena = Colmena(
        config,
        FakeRunner((1, lines, []), (0, ["[WARN ] No hosts selected (0 skipped)."], [])),
        on_progress=lambda node, phase: seen.append((node, phase)),
    )
    outcome = await colmena.apply(Goal.switch, ["tp-node3", "tp-node1"])
    assert outcome.report.reached == {"tp-node3"}
    assert outcome.report.failures["tp-node1"].stage is Stage.activate
    assert seen == [("tp-node3", "done"), ("tp-node1", "failed")]
    with pytest.raises(ColmenaFailed, match="No hosts selected"):
        await colmena.apply(Goal.switch, ["tp-node3"])


@pytest.mark.parametrize("code", [2, 101])
async def test_apply_that_did_nothing_is_an_error(config: ColmenaConfig, code: int) -> None:
    with pytest.raises(ColmenaFailed) as caught:
        await Colmena(config, FakeRunner((code, [], []))).apply(Goal.switch, ["tp-node3"])
    assert caught.value.exit_code == code


async def test_node_names_are_cached_until_a_watched_file_changes(
    config: ColmenaConfig, tmp_path: Path
) -> None:
    cache = NodeListCache(tmp_path / "state" / "nodes.json", 3600, [tmp_path / "flake.nix"])
    runner = FakeRunner(
        (0, ["[INFO ] Using flake: x"], ['["tp-node1","tp-node3"]']),
        (0, [], ['["tp-node3"]']),
    )
    colmena = Colmena(config, runner)
    assert await colmena.node_names(cache) == ["tp-node1", "tp-node3"]
    assert await colmena.node_names(cache) == ["tp-node1", "tp-node3"]
    assert len(runner.calls) == 1
    assert runner.calls[0][0][-2:] == ["-E", "{ nodes, ... }: builtins.attrNames nodes"]
    (tmp_path / "flake.nix").write_text("{ changed = true; }\n")
    assert await colmena.node_names(cache) == ["tp-node3"]
    assert len(runner.calls) == 2


async def test_unreadable_node_list_is_an_error(config: ColmenaConfig) -> None:
    with pytest.raises(ColmenaFailed, match="not a JSON list"):
        await Colmena(config, FakeRunner((0, [], ["{}"]))).node_names()
