"""Block Kit for the digest and `/lab status`: a phone-sized summary, and details for the thread.

Must not judge (`handlers/status/digest_report.py`) or word anything itself (`bot/messages/`); every message it
returns stays within Slack's limits (50 blocks, 3,000 characters per section, about 12,000 in
all), so a lab of any size is cut with "…and N more" instead of being refused.

Summary: header · late note · counts · lab-wide problems · one line per node, the ones needing
attention first · changes since the last digest · Renovate, deploys, nixpkgs and sops · hint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot import blocks
from bot.blocks import SECTION_TEXT_LIMIT, Block, clip, context, header, section
from handlers.status import messages
from handlers.status.digest_report import (
    DigestReport,
    NodeStatus,
    NodeVerdict,
    deploys,
    local_time,
)
from handlers.status.lab_facts import LabSnapshot, NodeFacts

MAX_NODE_LINES = 40
MAX_DRIFT_LINES = 5
MAX_PROBLEM_LINES = 12
MAX_CHANGE_LINES = 25
MAX_DETAIL_LINES = 30
LINE_LIMIT = 400  # one line of a section, so one long PR title cannot crowd out the rest
# Characters per part of the summary, so that together they stay under Slack's ~12,000.
PROBLEMS_BUDGET = 2_000
NODES_BUDGET = 5_000
CHANGES_BUDGET = 2_500
LAB_BUDGET = 1_000
THREAD_BLOCKS = 40  # per thread message, well under Slack's 50
THREAD_TEXT = 9_000  # per thread message, well under the ~12,000 Slack accepts
GB = 1_000_000_000


@dataclass(frozen=True)
class ChatMessage:
    """One message to post: the notification text and its blocks."""

    text: str
    blocks: list[Block]


def line_sections(
    heading: str, lines: Sequence[str], limit: int, budget: int = THREAD_TEXT
) -> list[Block]:
    """The digest's lists of lines (see `bot.blocks.line_sections`)."""
    return blocks.line_sections(
        heading, lines, limit=limit, budget=budget, line_chars=LINE_LIMIT, more=messages.digest_more
    )


def summary_message(
    report: DigestReport, *, title: str, zone: tzinfo, late: str | None, hint: str
) -> ChatMessage:
    """The digest's (or an all-nodes status's) top message."""
    snapshot = report.snapshot
    counts = Counter(v.status for v in report.verdicts)
    tally = [(status.value, counts[status]) for status in NodeStatus]
    taken = local_time(snapshot.taken_at, zone)
    summary = messages.digest_summary(tally, snapshot.seconds, taken)
    blocks: list[Block] = [header(title)]
    if late:
        blocks.append(section(late))
    blocks.append(context(summary))
    if report.problems:
        problems = [f":warning: {p}" for p in report.problems]
        blocks += line_sections(
            messages.digest_problems_heading(), problems, MAX_PROBLEM_LINES, PROBLEMS_BUDGET
        )
    blocks += line_sections(
        messages.digest_nodes_heading(report.nodes_needing_attention),
        [node_line(v, snapshot.taken_at) for v in report.verdicts],
        MAX_NODE_LINES,
        NODES_BUDGET,
    )
    blocks += changes_blocks(report, zone)
    if not snapshot.partial:
        blocks += line_sections(messages.digest_lab_heading(), lab_lines(snapshot), 10, LAB_BUDGET)
    blocks.append(context(hint))
    return ChatMessage(f"{title}: {_plain(tally)}", blocks)


def node_message(report: DigestReport, *, title: str, zone: tzinfo, hint: str) -> ChatMessage:
    """`/lab status NODE`: the node's details and its changes since the last digest."""
    blocks: list[Block] = [header(title)]
    blocks += [section(node_detail(verdict, zone)) for verdict in report.verdicts]
    blocks += changes_blocks(report, zone)
    blocks.append(context(hint))
    tally = Counter(v.status.value for v in report.verdicts)
    return ChatMessage(f"{title}: {_plain(sorted(tally.items()))}", blocks)


def changes_blocks(report: DigestReport, zone: tzinfo) -> list[Block]:
    """What changed since the last digest (or that there is nothing to compare with)."""
    if report.changes is None or report.previous_at is None:
        return [section(messages.digest_first())]
    heading = messages.digest_changes_heading(local_time(report.previous_at, zone))
    lines = [f"• {c}" for c in report.changes] or [messages.digest_no_changes()]
    return line_sections(heading, lines, MAX_CHANGE_LINES, CHANGES_BUDGET)


def node_line(verdict: NodeVerdict, now: datetime) -> str:
    """One node in the summary: its reasons when it needs attention, else its key facts."""
    facts = verdict.facts
    emoji = messages.digest_status_emoji(verdict.status.value)
    if verdict.reasons:
        return messages.digest_node_line(emoji, facts.name, "; ".join(verdict.reasons))
    built = facts.generation_date
    text = messages.digest_node_facts(
        facts.generation,
        messages.digest_age((now - built).total_seconds()) if built is not None else None,
        facts.nixos_version,
        messages.digest_age(facts.uptime_seconds) if facts.uptime_seconds is not None else None,
        [(d.path, d.used_percent) for d in facts.disks],
        facts.k3s_ready if facts.k3s_role != "none" else None,
    )
    return messages.digest_node_line(emoji, facts.name, text)


def node_detail(verdict: NodeVerdict, zone: tzinfo) -> str:
    """A node's details, for the thread and `/lab status NODE`."""
    facts = verdict.facts
    emoji = messages.digest_status_emoji(verdict.status.value)
    lines = [f"{emoji} " + ("; ".join(verdict.reasons) or verdict.status.value)]
    lines.append(messages.digest_detail_power(facts.power, facts.power_problem))
    if facts.reachable:
        lines += _reachable_lines(facts, zone)
    return clip(
        messages.digest_node_detail(
            facts.name, messages.digest_detail_where(facts.slot, facts.board, facts.k3s_role), lines
        ),
        SECTION_TEXT_LIMIT,
    )


def _reachable_lines(facts: NodeFacts, zone: tzinfo) -> list[str]:
    built = local_time(facts.generation_date, zone) if facts.generation_date else None
    lines = [
        messages.digest_detail_system(
            facts.nixos_version, facts.generation, built, facts.configuration_revision
        ),
        messages.digest_detail_uptime(
            messages.digest_age(facts.uptime_seconds) if facts.uptime_seconds is not None else None,
            facts.load,
        ),
        messages.digest_detail_units(facts.system_state, facts.failed_units),
    ]
    disks = [
        messages.digest_detail_disk(d.path, d.used_percent, d.size_bytes / GB, d.mount)
        for d in facts.disks
    ]
    if disks:
        lines.append(" · ".join(disks))
    if facts.k3s_role != "none":
        lines.append(messages.digest_detail_k3s(facts.k3s_ready))
    return lines


def lab_lines(snapshot: LabSnapshot) -> list[str]:
    """Renovate, deploys of the last 24 h, the nixpkgs lock's age, the last sops rotation,
    drift."""
    now = snapshot.taken_at
    lines = []
    renovate = snapshot.renovate
    if renovate is not None and not renovate.configured:
        lines.append(messages.digest_renovate_unconfigured())
    elif renovate is not None and not renovate.problem:
        ci = Counter(p.ci for p in renovate.pulls)
        order = ("green", "pending", "failing", "no_checks")
        verdicts = sorted(ci.items(), key=lambda i: order.index(i[0]) if i[0] in order else 9)
        lines.append(messages.digest_renovate(len(renovate.pulls), verdicts))
    if snapshot.jobs is not None:
        done = deploys(snapshot.jobs)
        lines.append(messages.digest_deploys(len(done), Counter(j.state for j in done)))
    nixpkgs = snapshot.nixpkgs
    if nixpkgs is not None and nixpkgs.locked_at is not None:
        age = messages.digest_age((now - nixpkgs.locked_at).total_seconds())
        lines.append(messages.digest_nixpkgs(age, nixpkgs.rev))
    sops = snapshot.sops
    if sops is not None and not sops.problem:
        rotated = sops.rotated_at
        since = messages.digest_age((now - rotated).total_seconds()) if rotated else None
        lines.append(messages.digest_sops(since, sops.job_id))
    lines += drift_lines(snapshot)
    return lines


def drift_lines(snapshot: LabSnapshot) -> list[str]:
    """Which nodes run something other than what the infra checkout builds (or that none do)."""
    drift = snapshot.drift
    if drift is None:
        return []
    if drift.problem:
        return [messages.drift_unknown(drift.problem)]
    if drift.revision is None:
        return []
    if not drift.nodes:
        return [messages.drift_none(drift.revision)]
    shown = [
        messages.drift_node(n.name, n.running_revision, n.behind, n.commits, drift.revision)
        for n in drift.nodes[:MAX_DRIFT_LINES]
    ]
    more = len(drift.nodes) - len(shown)
    return shown + ([messages.drift_more(more)] if more > 0 else [])


def thread_messages(report: DigestReport, zone: tzinfo) -> list[ChatMessage]:
    """The details for the summary's thread: every node (attention first), PRs, jobs, BMCs."""
    snapshot = report.snapshot
    sections = [section(node_detail(v, zone)) for v in report.verdicts]
    now = snapshot.taken_at
    if snapshot.renovate is not None and snapshot.renovate.pulls:
        pulls = [
            messages.digest_detail_pull(
                p.number,
                p.title,
                p.url,
                p.ci,
                messages.digest_age((now - p.created_at).total_seconds()),
            )
            for p in snapshot.renovate.pulls
        ]
        sections += line_sections(
            messages.digest_detail_heading("Renovate PRs"), pulls, MAX_DETAIL_LINES
        )
    if snapshot.jobs:
        jobs = [
            messages.digest_detail_job(j.id, j.text, j.state, j.requester, j.result)
            for j in snapshot.jobs
        ]
        sections += line_sections(
            messages.digest_detail_heading("Jobs of the last 24 h"), jobs, MAX_DETAIL_LINES
        )
    boards = [
        messages.digest_detail_board(b.bmc, b.name, b.firmware, b.problem) for b in snapshot.boards
    ]
    if boards:
        sections += line_sections(messages.digest_detail_heading("BMCs"), boards, MAX_DETAIL_LINES)
    return pack(sections)


def pack(sections: Sequence[Block]) -> list[ChatMessage]:
    """Group blocks into as few messages as the per-message limits allow."""
    out: list[list[Block]] = []
    current: list[Block] = []
    size = 0
    for block in sections:
        length = len(block.get("text", {}).get("text", ""))
        if current and (len(current) >= THREAD_BLOCKS or size + length > THREAD_TEXT):
            out.append(current)
            current, size = [], 0
        current.append(block)
        size += length
    if current:
        out.append(current)
    total = len(out)
    return [
        ChatMessage(messages.digest_thread_part(index, total), blocks)
        for index, blocks in enumerate(out, start=1)
    ]


def _plain(tally: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{n} {status}" for status, n in tally if n) or "no nodes"
