"""The lab at one moment (`LabSnapshot`): per node, per board and lab-wide facts, JSON-ready.

Must not gather or judge anything: `handlers/status/lab_snapshot.py` fills these, `handlers/status/digest_report.py` reads them.
An unreachable node or a failed source is a value here (a `problem` sentence), never an error.
A problem sentence is mrkdwn whose outside text (an error's words, a node's stderr) was escaped
where the sentence was built, so every surface embeds it as it is; other outside text here
(versions, units, titles) is kept raw and escaped where it is shown.
Snapshots are stored as JSON (`handlers/status/digest_store.py`), so fields are only ever added with defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from bot.integrations.k3s_cluster import ClusterHealth
from bot.integrations.node_facts import DiskUse
from bot.redact import escape_mrkdwn

STORED = {"stored": True}
"""The validation context of a snapshot read back from the store (`LabSnapshot.model_validate_json`)."""
_PROBLEMS = ("problem", "power_problem", "problems")


class Fact(BaseModel):
    """Base of the snapshot's parts: frozen; unknown fields (from a newer labbot) are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class NodeFacts(Fact):
    """One inventory node: the BMC's power record and what the node said over SSH.

    Example: ``facts.reachable and facts.generation == 42 and not facts.failed_units``.
    """

    name: str
    board: str
    slot: int
    k3s_role: str = "none"
    deferred: bool = False
    power: bool | None = None  # the BMC's record of the slot; None: unknown
    power_problem: str = ""  # why the power is unknown
    reachable: bool = False
    problem: str = ""  # why SSH gave nothing: unreachable, timed out, host key changed
    nixos_version: str | None = None
    configuration_revision: str | None = None
    generation: int | None = None
    generation_date: datetime | None = None
    current_system: str | None = None  # /run/current-system's store path
    boot_id: str | None = None
    uptime_seconds: float | None = None
    load: tuple[float, float, float] | None = None
    system_state: str | None = None  # `systemctl is-system-running`: running, degraded, ...
    failed_units: tuple[str, ...] = ()
    disks: tuple[DiskUse, ...] = ()
    k3s_ready: bool | None = None  # None: not a k3s node, or no server answered
    # What differs between the booted and the running system (kernel, initrd, kernel-modules):
    # non-empty means a reboot is pending; None: not read.
    reboot_pending: tuple[str, ...] | None = None
    unreachable_since: datetime | None = None  # first digest that found it unreachable

    def disk(self, path: str) -> DiskUse | None:
        """The reading for `path`, if the node gave one."""
        return next((d for d in self.disks if d.path == path), None)


class BoardFacts(Fact):
    """One board's BMC: its firmware, or why it could not be read."""

    name: str
    bmc: str
    firmware: str | None = None
    problem: str = ""


class PullFacts(Fact):
    """An open Renovate pull request and its CI verdict (`unknown` if CI could not be read)."""

    number: int
    title: str
    url: str
    ci: str
    created_at: datetime


class RenovateFacts(Fact):
    """Open Renovate pull requests; `configured` is False without a `github` section."""

    configured: bool = True
    pulls: tuple[PullFacts, ...] = ()
    problem: str = ""


class JobFacts(Fact):
    """A finished job, for the digest's last-24-hours section."""

    id: int
    kind: str
    text: str
    state: str
    requester: str
    finished_at: datetime | None = None
    result: str = ""


class NixpkgsFacts(Fact):
    """The nixpkgs input locked in the infra flake's flake.lock."""

    rev: str | None = None
    locked_at: datetime | None = None
    problem: str = ""


class SopsFacts(Fact):
    """The last sops data-key rotation labbot ran (a succeeded `sops-rotate`/`sops-remove-node`
    job); rotations made outside labbot are not seen."""

    rotated_at: datetime | None = None
    job_id: int | None = None
    problem: str = ""


class DriftNode(Fact):
    """A node whose running system is not what the infra repo's checkout builds for it."""

    name: str
    running_revision: str | None = None  # configurationRevision, `-dirty` kept
    behind: int | None = None  # commits from its revision to the built one; None: unknown
    commits: tuple[str, ...] = ()  # `abc1234 subject`, newest first, a few at most


class DriftFacts(Fact):
    """What the infra checkout builds for every node (the last build), and who runs otherwise."""

    revision: str | None = None  # the commit built
    built: dict[str, str] = {}  # node → toplevel store path built from `revision`
    built_at: datetime | None = None
    nodes: tuple[DriftNode, ...] = ()
    problem: str = ""


class LabSnapshot(Fact):
    """Everything one digest or `/lab status` gathered; lab-wide parts are None when not asked."""

    taken_at: datetime
    seconds: float = 0.0  # how long gathering took
    partial: bool = False  # only some nodes were looked at (`/lab status NODE`)
    nodes: tuple[NodeFacts, ...] = ()
    boards: tuple[BoardFacts, ...] = ()
    renovate: RenovateFacts | None = None
    jobs: tuple[JobFacts, ...] | None = None  # finished in the 24 h before taken_at
    nixpkgs: NixpkgsFacts | None = None
    sops: SopsFacts | None = None
    cluster: ClusterHealth | None = None  # pods, Longhorn, certificates, from a k3s server
    drift: DriftFacts | None = None
    problems_escaped: bool = True  # absent from snapshots stored before problems were escaped

    @model_validator(mode="before")
    @classmethod
    def _escape_old_problems(cls, data: Any, info: ValidationInfo) -> Any:
        """A snapshot stored by a labbot that kept problem sentences raw (no `problems_escaped`)
        has them escaped once as it is read back, so it pings nobody either."""
        if info.context != STORED or not isinstance(data, dict) or "problems_escaped" in data:
            return data
        escaped = {key: _escape_problems(value) for key, value in data.items()}
        return {**escaped, "problems_escaped": True}

    def node(self, name: str) -> NodeFacts | None:
        """The facts of node `name`, if it was looked at."""
        return next((n for n in self.nodes if n.name == name), None)


def _escape_problems(value: Any) -> Any:
    """`value` (a part of a stored snapshot) with every problem sentence in it escaped."""
    if isinstance(value, list):
        return [_escape_problems(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: _escaped(item) if key in _PROBLEMS else _escape_problems(item)
        for key, item in value.items()
    }


def _escaped(problem: Any) -> Any:
    if isinstance(problem, str):
        return escape_mrkdwn(problem)
    if isinstance(problem, list):
        return [escape_mrkdwn(p) if isinstance(p, str) else p for p in problem]
    return problem
