"""Parses colmena's plain-mode output (zhaofengli/colmena 0.4.0) into per-node progress and results.

Pure and total: any text is accepted (unknown lines are kept as stray lines), nothing raises.

Usage::

    output = ColmenaOutput(["tp-node3"], Goal.switch)
    for line in stderr_lines:
        output.feed(line)
    report = output.report()  # built paths, nodes that reached the goal, failures per node

Both log prefix styles are understood: 0.4.0's `[INFO ] ` and main's ` INFO ` (level padded to
five). Job lines are `<label right-aligned> | <text>`; only labels that are selected node names,
`(...)` (multi-node jobs) or empty (the meta job) count as job lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.outside_text import Outside


class Goal(StrEnum):
    """colmena's deployment goals that labbot uses."""

    build = "build"
    push = "push"
    switch = "switch"
    boot = "boot"
    test = "test"
    dry_activate = "dry-activate"


GOAL_SUCCESS: Mapping[Goal, str] = {
    Goal.switch: "Activation successful",
    Goal.boot: "Will be activated next boot",
    Goal.test: "Activation successful (test)",
    Goal.dry_activate: "Dry activation successful",
    Goal.push: "Pushed system closure",
}


class Stage(StrEnum):
    """Where in the deployment a node failed."""

    evaluate = "evaluate"
    build = "build"
    push = "push"
    keys = "keys"
    activate = "activate"
    reboot = "reboot"
    other = "other"

    @property
    def before_activation(self) -> bool:
        """Whether a failure here leaves the node untouched."""
        return self in (Stage.evaluate, Stage.build, Stage.push)


class Phase(StrEnum):
    """A node's latest known step, for progress display."""

    waiting = "waiting"
    evaluating = "evaluating"
    building = "building"
    built = "built"
    pushing = "pushing"
    pushed = "pushed"
    activating = "activating"
    done = "done"
    failed = "failed"


class LogLevel(StrEnum):
    """colmena's log levels."""

    error = "error"
    warn = "warn"
    info = "info"
    debug = "debug"
    trace = "trace"


@dataclass(frozen=True)
class LogLine:
    """A log record (`[INFO ] …` on 0.4.0, ` INFO …` on main)."""

    level: LogLevel
    text: str


@dataclass(frozen=True)
class JobLine:
    """A `label | text` line; `node` is None for `(...)` and meta (empty label) lines."""

    label: str
    node: str | None
    text: str


@dataclass(frozen=True)
class StrayLine:
    """Anything else (child processes sharing stderr, the backtrace hint, eval's JSON)."""

    text: str


ParsedLine = LogLine | JobLine | StrayLine


@dataclass(frozen=True)
class NodeFailure:
    """Why a node failed: the stage and colmena's error text."""

    stage: Stage
    error: str

    @property
    def exit_code(self) -> int | None:
        """The remote/child exit code in `Child process exited with error code: N`, if any."""
        found = _EXIT_CODE.search(self.error)
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class ProgressEvent:
    """A node moved to a new phase (returned by `ColmenaOutput.feed`)."""

    node: str
    phase: Phase


@dataclass(frozen=True)
class ColmenaReport:
    """What one colmena run said about each node."""

    nodes: tuple[str, ...]
    built: Mapping[str, str]
    reached: frozenset[str]
    failures: Mapping[str, NodeFailure]
    failed_units: Mapping[str, tuple[str, ...]]
    selected: int | None
    no_hosts_selected: bool
    errors: tuple[str, ...]
    # Nodes whose system this machine cannot build: (the system needed, this machine's).
    cannot_build: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def unknown(self) -> list[str]:
        """Nodes with neither success nor failure (e.g. their chunk failed in `(...)`)."""
        return [n for n in self.nodes if n not in self.reached and n not in self.failures]


_LEVELS = "INFO|WARN|ERROR|DEBUG|TRACE"
_LOG_PREFIX = re.compile(rf"^(?:\[({_LEVELS}) ?\] |\s?({_LEVELS}) )")
_REPLAYED_FAILURE = re.compile(r"^\s*failure\) (.*)$")
_UNSPECIFIED = "colmena printed no error text for it"
_JOB_LINE = re.compile(r"^(.*?) \| (.*)$")
_EXIT_CODE = re.compile(r"error code: (-?\d+)")
_BUILT = re.compile(r'^Built "((?:[^"\\]|\\.)*)"( on target node)?$')
_STORE_PATH = re.compile(r"^/nix/store/[0-9a-z]{32}-[A-Za-z0-9+._?=-]+$")
_FAILED_UNITS = re.compile(r"warning: the following units failed: (.*)$")
_SELECTED = re.compile(r"^Selected (?:all (\d+) nodes|(\d+) out of \d+ hosts)")
_STAGE_FAILURES = (
    ("Evaluation failed: ", Stage.evaluate),
    ("Build failed: ", Stage.build),
    ("Push failed: ", Stage.push),
    ("Key upload failed: ", Stage.keys),
    ("Activation failed: ", Stage.activate),
    ("Reboot failed: ", Stage.reboot),
    ("Failed: ", Stage.other),
)
_SUMMARIES = (
    ("Failed to evaluate ", Stage.evaluate),
    ("Failed to build ", Stage.build),
    ("Failed to push system closure to ", Stage.push),
    ("Failed to upload keys to ", Stage.keys),
    ("Failed to deploy to ", Stage.activate),
    ("Failed to reboot ", Stage.reboot),
    ("Failed to complete job on ", Stage.other),
)
_RUNNING = (
    ("Evaluating ", Phase.evaluating),
    ("Building ", Phase.building),
    ("Pushing system closure", Phase.pushing),
    ("Activating system profile", Phase.activating),
)


def parse_line(line: str, nodes: Iterable[str]) -> ParsedLine:
    """Classify one line of colmena's stderr (or stdout)."""
    prefix = _LOG_PREFIX.match(line)
    if prefix:
        level = (prefix.group(1) or prefix.group(2)).lower()
        return LogLine(LogLevel(level), line[prefix.end() :])
    job = _JOB_LINE.match(line)
    if job:
        label = job.group(1).strip()
        known = set(nodes)
        if label in known:
            return JobLine(label, label, job.group(2))
        if label in ("", "(...)"):
            return JobLine(label, None, job.group(2))
    return StrayLine(line)


def names_in_list(text: str, nodes: Iterable[str]) -> list[str]:
    """Node names in colmena's `a, b, and c` list text (truncated lists yield what they name)."""
    known = set(nodes)
    words = re.split(r",\s*(?:and\s+)?|\s+and\s+", text.strip())
    return [word.strip() for word in words if word.strip() in known]


# Nix's refusal to build for another platform (NixOS/nix, LocalDerivationGoal::startBuilder in
# src/libstore/build/local-derivation-goal.cc, DerivationGoal in older releases: "a '%s' with
# features {%s} is required to build '%s', but I am a '%s' with features {%s}"), in a node's
# build output.
_PLATFORM = re.compile(
    r"a '(?P<needed>[^']+)' with features \{[^}]*\} is required to build '[^']+', "
    r"but I am a '(?P<here>[^']+)'"
)


@dataclass
class _NodeState:
    phase: Phase = Phase.waiting
    built: str | None = None
    reached: bool = False
    failure: NodeFailure | None = None
    failed_units: list[str] = field(default_factory=list)
    cannot_build: tuple[str, str] | None = None  # (the system needed, this machine's)


class ColmenaOutput:
    """Incremental parser of one colmena run over `nodes` with `goal`; see the module docstring."""

    def __init__(self, nodes: Iterable[str], goal: Goal) -> None:
        self.nodes = tuple(dict.fromkeys(nodes))
        self.goal = goal
        self._state = {name: _NodeState() for name in self.nodes}
        self._chunk: list[str] = list(self.nodes)
        self._selected: int | None = None
        self._no_hosts = False
        self._errors: list[str] = []
        self._summary_nodes: list[str] = []

    def feed(self, line: str) -> ProgressEvent | None:
        """Take one output line; return a progress event when a node changed phase."""
        parsed = parse_line(line.rstrip("\r\n"), self.nodes)
        if isinstance(parsed, LogLine):
            self._log(parsed)
            return None
        if isinstance(parsed, JobLine):
            if parsed.node is None:
                return self._group_line(parsed)
            return self._node_line(parsed.node, parsed.text)
        return None

    def _log(self, line: LogLine) -> None:
        text = line.text
        selected = _SELECTED.match(text)
        if selected:
            self._selected = int(selected.group(1) or selected.group(2))
        if text.startswith("No hosts selected"):
            self._no_hosts = True
        if text.startswith("Operation failed with error: "):
            self._errors.append(text.removeprefix("Operation failed with error: "))
        if line.level is not LogLevel.error:
            return
        replayed = _REPLAYED_FAILURE.match(text)
        if replayed:
            for name in self._summary_nodes:
                state = self._state[name]
                if state.failure is not None and state.failure.error == _UNSPECIFIED:
                    state.failure = NodeFailure(state.failure.stage, replayed.group(1))
            return
        for prefix, stage in _SUMMARIES:
            if text.startswith(prefix) and " - Last " in text:
                listed = text[len(prefix) : text.rindex(" - Last ")]
                self._summary_nodes = names_in_list(listed, self.nodes)
                for name in self._summary_nodes:
                    state = self._state[name]
                    if state.failure is None:
                        state.failure = NodeFailure(stage, _UNSPECIFIED)
                        state.phase = Phase.failed
                return
        if " - Last " in text:
            self._summary_nodes = []

    def _group_line(self, line: JobLine) -> ProgressEvent | None:
        text = line.text
        if line.label == "(...)":
            if text.startswith("Evaluating "):
                named = names_in_list(text.removeprefix("Evaluating "), self.nodes)
                self._chunk = named or list(self.nodes)
                for name in self._chunk:
                    self._state[name].phase = Phase.evaluating
            elif text.startswith("Evaluation failed: "):
                failure = NodeFailure(Stage.evaluate, text.removeprefix("Evaluation failed: "))
                for name in self._chunk:
                    state = self._state[name]
                    if state.failure is None:
                        state.failure = failure
                        state.phase = Phase.failed
        return None

    def _node_line(self, node: str, text: str) -> ProgressEvent | None:
        state = self._state[node]
        platform = _PLATFORM.search(text)
        if platform:
            state.cannot_build = (platform.group("needed"), platform.group("here"))
        for prefix, stage in _STAGE_FAILURES:
            if text.startswith(prefix):
                if state.failure is None or state.failure.error == _UNSPECIFIED:
                    state.failure = NodeFailure(stage, text.removeprefix(prefix))
                return self._move(node, Phase.failed)
        built = _BUILT.match(text)
        if built:
            path = built.group(1).replace('\\"', '"').replace("\\\\", "\\")
            if _STORE_PATH.match(path):
                state.built = path
            if self.goal is Goal.build:
                state.reached = True
                return self._move(node, Phase.done)
            return self._move(node, Phase.built)
        units = _FAILED_UNITS.search(text)
        if units:
            state.failed_units.extend(
                Outside(u.strip()) for u in units.group(1).split(",") if u.strip()
            )
            return None
        success = GOAL_SUCCESS.get(self.goal)
        if success is not None and text == success:
            state.reached = True
            return self._move(node, Phase.done)
        if text == "Pushed system closure":
            return self._move(node, Phase.pushed)
        for prefix, phase in _RUNNING:
            if text.startswith(prefix):
                return self._move(node, phase)
        return None

    def _move(self, node: str, phase: Phase) -> ProgressEvent | None:
        state = self._state[node]
        if state.phase is phase:
            return None
        state.phase = phase
        return ProgressEvent(node, phase)

    def report(self) -> ColmenaReport:
        """Everything learned so far."""
        return ColmenaReport(
            nodes=self.nodes,
            built={n: s.built for n, s in self._state.items() if s.built},
            reached=frozenset(n for n, s in self._state.items() if s.reached and not s.failure),
            failures={n: s.failure for n, s in self._state.items() if s.failure},
            failed_units={
                n: tuple(dict.fromkeys(s.failed_units))
                for n, s in self._state.items()
                if s.failed_units
            },
            selected=self._selected,
            no_hosts_selected=self._no_hosts,
            errors=tuple(self._errors),
            cannot_build={n: s.cannot_build for n, s in self._state.items() if s.cannot_build},
        )


def parse_output(lines: Iterable[str], nodes: Iterable[str], goal: Goal) -> ColmenaReport:
    """Parse a whole run's output at once."""
    output = ColmenaOutput(nodes, goal)
    for line in lines:
        output.feed(line)
    return output.report()


class ExitMeaning(StrEnum):
    """What colmena's exit status says (zhaofengli/colmena 0.4.0, its exit codes)."""

    success = "success"  # 0: every selected node reached its goal (also when none was selected)
    failure = "failure"  # 1: any node failed, or evaluation failed
    usage = "usage"  # 2: clap rejected the command line
    panic = "panic"  # 101: a Rust panic
    signal = "signal"  # negative: killed by a signal
    undocumented = "undocumented"


def exit_meaning(code: int) -> ExitMeaning:
    """Classify colmena's exit status."""
    if code < 0:
        return ExitMeaning.signal
    return {
        0: ExitMeaning.success,
        1: ExitMeaning.failure,
        2: ExitMeaning.usage,
        101: ExitMeaning.panic,
    }.get(code, ExitMeaning.undocumented)
