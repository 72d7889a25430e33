"""colmena as a subprocess: argv from validated names, output streamed to the job and parsed per node.

Must not pass `--experimental-flake-eval`, globs or tags to `--on`, or run without `RUST_LOG=info`.

Usage::

    colmena = Colmena(config.colmena, run)             # `run` is the job's `JobRun`
    built = await colmena.build(["tp-node3"])          # {"tp-node3": "/nix/store/…-nixos-system-…"}
    outcome = await colmena.apply(Goal.switch, ["tp-node3"])
    outcome.report.reached, outcome.report.failures   # per node, from the plain-mode output

Exit codes (zhaofengli/colmena 0.4.0): 0 every node reached its goal (also with nothing selected,
which labbot treats as an error), 1 any failure, 2 usage error, 101 panic.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import messages
from bot.config import NAME_PATTERN, ColmenaConfig
from bot.errors import IntegrationError
from bot.integrations.colmena_output import (
    ColmenaOutput,
    ColmenaReport,
    ExitMeaning,
    Goal,
    exit_meaning,
)
from bot.integrations.process import ProcessResult, Stream
from bot.integrations.tool_env import tool_environment

NODE_NAMES_EXPRESSION = "{ nodes, ... }: builtins.attrNames nodes"
FORBIDDEN_ARGS = frozenset({"--experimental-flake-eval"})
_ANSI_SGR = re.compile(r"\x1b\[[0-9;]*m")
_NAME = re.compile(NAME_PATTERN)

ProgressCallback = Callable[[str, str], None]
"""Called with (node, phase) when the parsed output shows a node moving on."""


class ProcessRunner(Protocol):
    """Runs a process, streaming its lines (the job's `JobRun` is one)."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
        on_line: Any = None,
    ) -> ProcessResult:
        """Run `argv`; `on_line(stream, text)` sees every line."""
        ...


class ColmenaFailed(IntegrationError):
    """Raised when colmena fails as a whole or for a node whose result is needed (e.g. a build)."""

    def __init__(self, text: str, *, nodes: Sequence[str] = (), exit_code: int | None = None):
        super().__init__(text)
        self.nodes = list(nodes)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ColmenaRun:
    """A finished colmena run: exit status, whether it timed out, and the parsed report."""

    exit_code: int
    timed_out: bool
    report: ColmenaReport
    duration: float

    @property
    def ok(self) -> bool:
        """Exit 0 within the time limit."""
        return self.exit_code == 0 and not self.timed_out


class NodeListCache:
    """colmena's node names, cached in a file until `ttl` passes or a watched file changes."""

    def __init__(self, path: Path, ttl_seconds: float, watched: Sequence[Path]) -> None:
        self._path = path
        self._ttl = ttl_seconds
        self._watched = list(watched)

    def _fingerprint(self) -> list[str]:
        marks = []
        for path in self._watched:
            try:
                stat = path.stat()
            except OSError:
                marks.append(f"{path}:-")
                continue
            marks.append(f"{path}:{stat.st_mtime_ns}:{stat.st_size}")
        return marks

    def get(self) -> list[str] | None:
        """The cached names, or None when absent, stale or for other files."""
        try:
            entry = json.loads(self._path.read_text())
            fresh = time.time() - float(entry["at"]) < self._ttl
            if fresh and entry["fingerprint"] == self._fingerprint():
                return [str(name) for name in entry["names"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return None

    def put(self, names: Sequence[str]) -> None:
        """Remember `names` for the current files."""
        entry = {"at": time.time(), "fingerprint": self._fingerprint(), "names": list(names)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps(entry))


class Colmena:
    """The colmena CLI over the infra flake; see the module docstring."""

    def __init__(
        self,
        config: ColmenaConfig,
        runner: ProcessRunner,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self._config = config
        self._runner = runner
        self._on_progress = on_progress

    # --- argv -----------------------------------------------------------------------------

    def hive_file(self) -> Path | None:
        """`flake.nix` (preferred) or `hive.nix` in the flake dir; None lets colmena search."""
        for name in ("flake.nix", "hive.nix"):
            candidate = self._config.flake_dir / name
            if candidate.is_file():
                return candidate
        return None

    def command(
        self, subcommand: str, *, goal: Goal | None = None, nodes: Sequence[str] = ()
    ) -> list[str]:
        """The argv of one colmena run; node names are checked and passed to `--on` verbatim."""
        for name in nodes:
            if not _NAME.match(name):
                raise ValueError(f"not a node name: {name!r}")
        argv = [self._config.binary]
        hive = self.hive_file()
        if hive is not None:
            argv += ["-f", str(hive)]
        argv.append(subcommand)
        if goal is not None:
            argv.append(goal.value)
        if subcommand in ("apply", "build"):
            if not nodes:
                raise ValueError("colmena needs explicit nodes for --on")
            argv += ["--on", ",".join(nodes), "-p", str(self._config.parallel)]
            argv += self._config.extra_args
        if FORBIDDEN_ARGS & set(argv):
            raise ValueError(
                "--experimental-flake-eval is never passed (colmena main panics on it)"
            )
        return argv

    def environment(self) -> dict[str, str]:
        """The process environment: the allowlist plus `RUST_LOG=info` (main hides INFO otherwise)."""
        return tool_environment({"RUST_LOG": "info"})

    # --- runs -----------------------------------------------------------------------------

    async def node_names(self, cache: NodeListCache | None = None) -> list[str]:
        """The nodes colmena's hive declares (`colmena eval -E …`), from the cache when fresh."""
        if cache is not None:
            cached = cache.get()
            if cached is not None:
                return cached
        argv = [*self.command("eval"), "-E", NODE_NAMES_EXPRESSION]
        stdout: list[str] = []

        def line(stream: Stream, text: str) -> None:
            if stream is Stream.stdout:
                stdout.append(text)

        result = await self._runner.run(
            argv,
            env=self.environment(),
            timeout=self._config.eval_timeout_seconds,
            cwd=str(self._config.flake_dir),
            on_line=line,
        )
        if result.timed_out:
            raise ColmenaFailed(messages.colmena_timed_out("eval", result.duration))
        if result.exit_code != 0:
            raise ColmenaFailed(
                messages.colmena_eval_failed(messages.colmena_exit(result.exit_code)),
                exit_code=result.exit_code,
            )
        names = _json_names("".join(stdout))
        if names is None:
            raise ColmenaFailed(messages.colmena_eval_unreadable(" ".join(stdout)[:200]))
        if cache is not None:
            cache.put(names)
        return names

    async def build(self, nodes: Sequence[str]) -> dict[str, str]:
        """Build the nodes' systems; returns the built store path per node or raises."""
        outcome = await self._run("build", Goal.build, nodes, self._config.build_timeout_seconds)
        report = outcome.report
        missing = [n for n in nodes if n not in report.built]
        if outcome.ok and not missing:
            return dict(report.built)
        failures = {n: f"{f.stage} failed: {f.error}" for n, f in report.failures.items()}
        if outcome.timed_out:
            text = messages.colmena_timed_out("build", outcome.duration)
        elif report.cannot_build:
            needed, here = next(iter(report.cannot_build.values()))
            text = messages.cannot_build_for(needed, here, sorted(report.cannot_build))
        else:
            text = messages.colmena_build_failed(
                failures, missing, messages.colmena_exit(outcome.exit_code)
            )
        raise ColmenaFailed(text, nodes=missing or list(nodes), exit_code=outcome.exit_code)

    async def apply(self, goal: Goal, nodes: Sequence[str]) -> ColmenaRun:
        """Deploy `goal` to the nodes; per-node failures are in the report, not raised.

        Raises `ColmenaFailed` when colmena did nothing: a usage error (2), a panic (101), or
        no hosts selected (an exit 0 that deployed nothing).
        """
        timeout = self._config.apply_timeout_seconds
        outcome = await self._run("apply", goal, nodes, timeout)
        meaning = exit_meaning(outcome.exit_code)
        if not outcome.timed_out and meaning in (ExitMeaning.usage, ExitMeaning.panic):
            raise ColmenaFailed(
                messages.colmena_exit(outcome.exit_code), nodes=nodes, exit_code=outcome.exit_code
            )
        if outcome.report.no_hosts_selected:
            raise ColmenaFailed(messages.colmena_selected_nothing(nodes), nodes=nodes)
        return outcome

    async def _run(
        self, subcommand: str, goal: Goal, nodes: Sequence[str], timeout: float
    ) -> ColmenaRun:
        argv = self.command(subcommand, goal=goal if subcommand == "apply" else None, nodes=nodes)
        output = ColmenaOutput(nodes, goal)

        def line(stream: Stream, text: str) -> None:
            event = output.feed(_ANSI_SGR.sub("", text))
            if event is not None and self._on_progress is not None:
                self._on_progress(event.node, event.phase.value)

        result = await self._runner.run(
            argv,
            env=self.environment(),
            timeout=timeout,
            cwd=str(self._config.flake_dir),
            on_line=line,
        )
        return ColmenaRun(result.exit_code, result.timed_out, output.report(), result.duration)


def _json_names(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [str(v) for v in value]
