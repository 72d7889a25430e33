"""Judging a `LabSnapshot`: each node's status and reasons, and what changed since the last digest.

Must not gather (`handlers/status/lab_snapshot.py`) or build Block Kit (`bot/blocks.py`); pure functions
over snapshots. Wording comes from `handlers/status/messages.py`.

Usage::

    current = carry_forward(previous, snapshot)       # unreachable-since survives between digests
    report = build_report(previous, current, config)
    report.verdicts[0]                                 # the node that most needs attention
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.config import Config, DigestConfig
from bot.integrations.k3s_cluster import ClusterHealth
from bot.job_state import JobState
from handlers.status import messages
from handlers.status.lab_facts import JobFacts, LabSnapshot, NodeFacts

# Jobs whose end the digest lists as a failure.
FAILED_STATES = frozenset({JobState.failed, JobState.rolled_back, JobState.interrupted})
DEPLOY_KINDS = frozenset({"deploy", "rollback"})


class NodeStatus(StrEnum):
    """How a node is doing, worst first (the order the digest lists nodes in)."""

    critical = "critical"  # unreachable, or a disk past the critical threshold
    off = "off"  # the BMC records its slot as off
    warning = "warning"  # degraded, k3s not Ready, a disk past the warning threshold
    ok = "ok"
    deferred = "deferred"  # not set up yet (inventory `deferred`) and not answering

    @property
    def rank(self) -> int:
        """0 for the worst status."""
        return list(NodeStatus).index(self)

    @property
    def needs_attention(self) -> bool:
        """Whether the node is listed among the items needing attention."""
        return self in (NodeStatus.critical, NodeStatus.off, NodeStatus.warning)


@dataclass(frozen=True)
class NodeVerdict:
    """One node's status and, when it needs attention, why (one short phrase per reason)."""

    facts: NodeFacts
    status: NodeStatus
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DigestReport:
    """What the digest shows: nodes worst first, lab-wide problems, and changes since `previous_at`."""

    snapshot: LabSnapshot
    verdicts: tuple[NodeVerdict, ...]
    problems: tuple[str, ...]  # lab-wide items needing attention (BMC, GitHub, failed jobs, CI)
    changes: tuple[str, ...] | None  # None: nothing stored to compare with
    previous_at: datetime | None

    @property
    def nodes_needing_attention(self) -> int:
        """How many nodes need attention (the lab-wide items are `problems`)."""
        return sum(1 for v in self.verdicts if v.status.needs_attention)


def carry_forward(previous: LabSnapshot | None, current: LabSnapshot) -> LabSnapshot:
    """`current` with each unreachable node's `unreachable_since` kept from the previous digest."""
    earlier = {n.name: n for n in previous.nodes} if previous is not None else {}
    nodes = []
    for node in current.nodes:
        if node.reachable:
            nodes.append(node)
            continue
        before = earlier.get(node.name)
        since = current.taken_at
        if before is not None and not before.reachable and before.unreachable_since is not None:
            since = min(before.unreachable_since, current.taken_at)
        nodes.append(node.model_copy(update={"unreachable_since": since}))
    return current.model_copy(update={"nodes": tuple(nodes)})


def local_time(when: datetime, zone: tzinfo) -> str:
    """`Mon 14 Jan 07:00` in the configured time zone."""
    return when.astimezone(zone).strftime("%a %d %b %H:%M")


def judge_node(
    node: NodeFacts,
    config: DigestConfig,
    taken_at: datetime,
    zone: tzinfo,
    prefix: str = "/lab",
) -> NodeVerdict:
    """The node's status and the reasons behind it."""
    if not node.reachable:
        if node.deferred:
            return NodeVerdict(node, NodeStatus.deferred, (messages.digest_reason_deferred(),))
        if node.power is False:
            return NodeVerdict(node, NodeStatus.off, (messages.digest_reason_powered_off(),))
        since = node.unreachable_since
        earlier = local_time(since, zone) if since is not None and since < taken_at else None
        reason = messages.digest_reason_unreachable(node.problem, earlier)
        return NodeVerdict(node, NodeStatus.critical, (reason,))
    critical: list[str] = []
    warning: list[str] = []
    if node.failed_units:
        warning.append(messages.digest_reason_failed_units(node.failed_units))
    elif node.system_state not in (None, "running"):
        warning.append(messages.digest_reason_system_state(node.system_state or ""))
    if node.k3s_ready is False:
        warning.append(messages.digest_reason_k3s_not_ready())
    if node.reboot_pending:
        warning.append(
            messages.digest_reason_reboot_pending(node.name, node.reboot_pending, prefix)
        )
    for disk in node.disks:
        if disk.used_percent >= config.disk_critical_percent:
            critical.append(messages.digest_reason_disk(disk.path, disk.used_percent))
        elif disk.used_percent >= config.disk_warn_percent:
            warning.append(messages.digest_reason_disk(disk.path, disk.used_percent))
    if critical:
        return NodeVerdict(node, NodeStatus.critical, (*critical, *warning))
    if warning:
        return NodeVerdict(node, NodeStatus.warning, tuple(warning))
    return NodeVerdict(node, NodeStatus.ok, ())


def build_report(
    previous: LabSnapshot | None, current: LabSnapshot, config: Config
) -> DigestReport:
    """Judge every node, collect lab-wide problems, and compare with the previous digest."""
    zone = ZoneInfo(config.schedules.timezone)
    digest = config.digest
    prefix = config.slack.command
    verdicts = [judge_node(n, digest, current.taken_at, zone, prefix) for n in current.nodes]
    verdicts.sort(key=lambda v: (v.status.rank, v.facts.name))
    return DigestReport(
        snapshot=current,
        verdicts=tuple(verdicts),
        problems=tuple(lab_problems(current)),
        changes=tuple(changes(previous, current, digest)) if previous is not None else None,
        previous_at=previous.taken_at if previous is not None else None,
    )


def lab_problems(snapshot: LabSnapshot) -> Iterator[str]:
    """Lab-wide items needing attention: unreadable BMCs and sources, failed jobs, red CI."""
    for board in snapshot.boards:
        if board.problem:
            yield messages.digest_problem_bmc(board.bmc, board.problem)
    renovate = snapshot.renovate
    if renovate is not None and renovate.problem:
        yield messages.digest_problem_github(renovate.problem)
    if renovate is not None:
        for pull in renovate.pulls:
            if pull.ci == "failing":
                yield messages.digest_problem_ci_failing(pull.number, pull.title)
    for job in failed_jobs(snapshot.jobs or ()):
        yield messages.digest_problem_job(job.id, job.text, job.state)
    if snapshot.nixpkgs is not None and snapshot.nixpkgs.problem:
        yield messages.digest_problem_nixpkgs(snapshot.nixpkgs.problem)
    if snapshot.sops is not None and snapshot.sops.problem:
        yield messages.digest_problem_sops(snapshot.sops.problem)
    if snapshot.cluster is not None:
        yield from cluster_problems(snapshot.cluster)


def cluster_problems(cluster: ClusterHealth) -> Iterator[str]:
    """The k3s cluster's items needing attention: pods, Longhorn volumes, certificates."""
    if cluster.pods_not_running:
        yield messages.digest_problem_pods(cluster.pods_not_running, cluster.worst_pods)
    for volume in cluster.volumes or ():
        yield messages.digest_problem_volume(volume.name, volume.robustness, volume.claim)
    if cluster.certificates:
        yield messages.digest_problem_certificates(cluster.server, cluster.certificates)
    for problem in cluster.problems:
        yield messages.digest_problem_cluster(cluster.server, problem)


def failed_jobs(jobs: tuple[JobFacts, ...]) -> list[JobFacts]:
    """The jobs that ended failed, rolled back or interrupted."""
    return [j for j in jobs if j.state in FAILED_STATES]


def deploys(jobs: tuple[JobFacts, ...]) -> list[JobFacts]:
    """The deploy and rollback jobs among `jobs`."""
    return [j for j in jobs if j.kind in DEPLOY_KINDS]


def changes(previous: LabSnapshot, current: LabSnapshot, config: DigestConfig) -> Iterator[str]:
    """What changed from `previous` to `current`, node by node, then lab-wide."""
    earlier = {n.name: n for n in previous.nodes}
    for node in sorted(current.nodes, key=lambda n: n.name):
        before = earlier.get(node.name)
        if before is None:
            yield messages.digest_change_new_node(node.name)
        else:
            yield from node_changes(before, node, config)
    if current.partial:
        return
    for name in sorted(earlier.keys() - {n.name for n in current.nodes}):
        yield messages.digest_change_node_left(name)
    if previous.renovate is not None and current.renovate is not None:
        known = {p.number for p in previous.renovate.pulls}
        if not previous.renovate.problem:
            for pull in current.renovate.pulls:
                if pull.number not in known:
                    yield messages.digest_change_new_pull(pull.number, pull.title)
    before_lock = previous.nixpkgs.rev if previous.nixpkgs is not None else None
    after_lock = current.nixpkgs.rev if current.nixpkgs is not None else None
    if before_lock and after_lock and before_lock != after_lock:
        yield messages.digest_change_nixpkgs(before_lock, after_lock)


def node_changes(before: NodeFacts, after: NodeFacts, config: DigestConfig) -> Iterator[str]:
    """One node's changes: reachability, reboot, generation, failed units, disks, k3s."""
    name = after.name
    if before.reachable and not after.reachable:
        if after.power is False:
            yield messages.digest_change_powered_off(name)
        else:
            yield messages.digest_change_unreachable(name, after.problem)
        return
    if not after.reachable:
        return
    if not before.reachable:
        yield messages.digest_change_reachable_again(name)
    if before.boot_id and after.boot_id and before.boot_id != after.boot_id:
        yield messages.digest_change_rebooted(name, after.uptime_seconds)
    if (
        before.generation is not None
        and after.generation is not None
        and before.generation != after.generation
    ):
        yield messages.digest_change_generation(
            name, before.generation, after.generation, after.nixos_version
        )
    if before.reachable:
        new_units = [u for u in after.failed_units if u not in before.failed_units]
        cleared = [u for u in before.failed_units if u not in after.failed_units]
        if new_units:
            yield messages.digest_change_new_failed_units(name, new_units)
        if cleared:
            yield messages.digest_change_units_recovered(name, cleared)
    for disk in after.disks:
        old = before.disk(disk.path)
        if old is None:
            continue
        passed = [
            limit
            for limit in (config.disk_warn_percent, config.disk_critical_percent)
            if old.used_percent < limit <= disk.used_percent
        ]
        if passed:
            yield messages.digest_change_disk(name, disk.path, max(passed), disk.used_percent)
    if before.k3s_ready is True and after.k3s_ready is False:
        yield messages.digest_change_k3s_not_ready(name)
    elif before.k3s_ready is False and after.k3s_ready is True:
        yield messages.digest_change_k3s_ready(name)
