"""The Home tab's blocks: the lab at a glance for one user, as their role may see it.

Must not gather anything or talk to the chat (`handlers/status/home.py` does); pure functions
of a `HomeContent` and the viewer. Every sentence the Home tab shows is here, so its wording is
reviewed in one place. Text from outside labbot (PR titles, job text) is escaped here; the
chat redacts and fits the whole view on the way out (`bot/outbound.py`).

Slack shows a Home tab as a view of type `home` holding at most 100 blocks
(docs.slack.dev/surfaces/app-home, docs.slack.dev/reference/block-kit/blocks); the lists are
capped below so the view stays far inside that whatever the lab holds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot import actions
from bot import messages as bot_messages
from bot.blocks import context, header, packed_sections, section
from bot.chat import Block
from bot.config import Role
from bot.job_state import Job, JobState
from bot.policy import Actor
from bot.redact import escape_mrkdwn
from handlers.status import messages
from handlers.status.digest_blocks import drift_lines
from handlers.status.digest_report import DigestReport, NodeStatus, NodeVerdict, local_time
from handlers.status.lab_facts import NodeFacts, PullFacts, RenovateFacts

MAX_JOBS = 20
"""Jobs listed; the rest are counted (`/lab jobs` lists them all)."""
MAX_APPROVAL_BUTTONS = 10
"""Jobs awaiting approval that get their own "approve in thread" button."""
MAX_PULLS = 15
"""Renovate PRs listed; the rest are counted."""
MAX_PROBLEMS = 5
"""The last digest's lab-wide problems listed; the rest are counted."""

# A link Slack can show as `<url|label>`: no spaces and none of the characters that end it.
_LINK = re.compile(r"https?://[^\s<>|]+")
# A PR's CI verdict as `lab_snapshot` records it, in words.
_CI_WORDS = {
    "green": ":white_check_mark: CI green",
    "pending": ":hourglass_flowing_sand: CI pending",
    "failing": ":x: CI failing",
    "no_checks": "no CI checks",
    "unknown": "CI unknown",
}


@dataclass(frozen=True)
class HomeJob:
    """A job still under way, and where a user who may approve it clicks (None: nowhere)."""

    job: Job
    approver_role: Role | None = None  # the role its pending approval asks for
    approval_link: str | None = None  # the approval message in the job's thread
    four_eyes: bool = False  # the requester may not approve it themselves

    def approvable_by(self, viewer: Actor) -> bool:
        """Whether `viewer` may approve this job (the engine decides again on the click)."""
        if self.approver_role is None or not viewer.may(self.approver_role):
            return False
        return not (self.four_eyes and viewer.user_id == self.job.requester)


@dataclass(frozen=True)
class HomeContent:
    """What the Home tab shows, gathered once for every user it is published to."""

    report: DigestReport | None  # the last digest, judged; None: no digest ran yet
    jobs: tuple[HomeJob, ...]
    refreshed_at: datetime
    command: str  # the slash command, e.g. `/lab`


def home_view(content: HomeContent, viewer: Actor, zone: tzinfo) -> list[Block]:
    """The Home tab's blocks for `viewer`: nothing of the lab without a role; buttons only
    where their role may act."""
    blocks = [
        header("Lab at a glance"),
        context(
            f"Refreshed {local_time(content.refreshed_at, zone)}: "
            "whenever you open this tab, and when a job ends."
        ),
    ]
    if viewer.role is None:
        blocks.append(
            section(
                f"You hold no labbot role, so the lab is not shown here. An admin can grant one "
                f"(`roles` in labbot's config); `{content.command} whoami` says what you hold."
            )
        )
        return blocks
    blocks += digest_blocks(content, zone)
    blocks += job_blocks(content, viewer)
    if content.report is not None:
        blocks += pull_blocks(content.report.snapshot.renovate)
        blocks += drift_blocks(content.report)
    return blocks


def digest_blocks(content: HomeContent, zone: tzinfo) -> list[Block]:
    """When the last digest ran, its verdict, and every node as it found it."""
    report = content.report
    if report is None:
        return [
            section(
                "*Last digest:* none yet. Nodes, Renovate PRs and drift appear here after the "
                f"first one (`{content.command} digest` runs it now; `{content.command} status` "
                "looks at the lab without storing anything)."
            )
        ]
    taken = local_time(report.snapshot.taken_at, zone)
    lines = [node_line(v) for v in report.verdicts]
    return [
        *packed_sections(
            problem_lines(report), first=f"*Last digest:* {taken}: {digest_verdict(report)}"
        ),
        *packed_sections(
            lines,
            first=f"*Nodes* (as the last digest found them; `{content.command} status` for now)",
        ),
    ]


def digest_verdict(report: DigestReport) -> str:
    """`all 4 nodes ok`, or how many need attention and how many lab-wide problems."""
    tally = Counter(v.status for v in report.verdicts)
    attention = report.nodes_needing_attention
    problems = len(report.problems)
    total = len(report.verdicts)
    if not total:
        said = "no nodes in the inventory"
    elif attention:
        parts = ", ".join(
            f"{tally[s]} {s.value}" for s in NodeStatus if tally[s] and s.needs_attention
        )
        said = f"{attention} of {total} nodes need attention ({parts})"
    else:
        said = f"all {total} nodes ok" if total > 1 else "the one node ok"
    if problems:
        said += f"; {problems} lab-wide problem{'s' if problems != 1 else ''}"
    return (":warning: " if attention or problems else ":large_green_circle: ") + said


def problem_lines(report: DigestReport) -> list[str]:
    """The digest's lab-wide problems, capped: its own sentences, whose outside text was
    escaped where they were built (`handlers/status/lab_facts.py`), so shown as they are."""
    lines = [f"• {problem}" for problem in report.problems[:MAX_PROBLEMS]]
    if len(report.problems) > MAX_PROBLEMS:
        lines.append(f"…and {len(report.problems) - MAX_PROBLEMS} more (in the digest's thread)")
    return lines


def node_line(verdict: NodeVerdict) -> str:
    """`:large_green_circle: *tp-node1* · power on · reachable · generation 42 · k3s Ready`."""
    facts = verdict.facts
    parts = [
        f"{messages.digest_status_emoji(verdict.status.value)} *{facts.name}*",
        _said(facts.power, "power on", "power off", "power unknown"),
        "reachable" if facts.reachable else "unreachable",
    ]
    if facts.generation is not None:
        parts.append(f"generation {facts.generation}")
    if facts.k3s_role != "none":
        parts.append(_said(facts.k3s_ready, "k3s Ready", "k3s not Ready", "k3s unknown"))
    if reboot_pending(facts):
        parts.append(":arrows_counterclockwise: reboot pending")
    return " · ".join(parts)


def _said(value: bool | None, yes: str, no: str, unknown: str) -> str:
    return unknown if value is None else yes if value else no


def reboot_pending(facts: NodeFacts) -> bool:
    """Whether the node runs a kernel, initrd or modules it has not booted yet."""
    return bool(facts.reboot_pending)


def job_blocks(content: HomeContent, viewer: Actor) -> list[Block]:
    """Jobs running, queued or awaiting approval; an "approve in thread" link button for each
    awaiting one the viewer's role may approve (a viewer sees none)."""
    if not content.jobs:
        return [section("*Jobs:* none running, queued or awaiting approval.")]
    shown = content.jobs[:MAX_JOBS]
    lines = [job_line(j.job) for j in shown]
    more = len(content.jobs) - len(shown)
    if more:
        lines.append(f"…and {more} more (`{content.command} jobs`)")
    blocks = packed_sections(lines, first=f"*Jobs* ({len(content.jobs)} under way)")
    buttons = [
        j
        for j in shown
        if j.job.state is JobState.awaiting_approval and j.approval_link and j.approvable_by(viewer)
    ]
    for item in buttons[:MAX_APPROVAL_BUTTONS]:
        assert item.approval_link is not None
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Job *{item.job.id}* waits for an approval."},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Approve in thread"},
                    # A link button: Slack opens the URL; the approval itself stays a click on
                    # the message in the thread, bound to it (bot/approvals.py).
                    "action_id": f"{actions.LINK_PREFIX}approval-{item.job.id}",
                    "url": item.approval_link,
                },
            }
        )
    return blocks


def job_line(job: Job) -> str:
    """`:hourglass: *12* `deploy tp-node3` by <@U…>: awaiting approval`."""
    return (
        f"{bot_messages.state_emoji(job.state)} *{job.id}* `{escape_mrkdwn(job.text)}` "
        f"by <@{job.requester}>: {bot_messages.state_word(job.state)}"
    )


def pull_blocks(renovate: RenovateFacts | None) -> list[Block]:
    """Open Renovate PRs (as the last digest found them), each with its CI verdict; or why
    there are none to show."""
    if renovate is None:
        return []
    if not renovate.configured:
        return [section("*Renovate PRs:* not watched (labbot's config has no `github` section).")]
    if renovate.problem:
        return [section(f"*Renovate PRs:* the last digest could not read them: {renovate.problem}")]
    pulls: Sequence[PullFacts] = renovate.pulls
    if not pulls:
        return [section("*Renovate PRs:* none open.")]
    shown = list(pulls)[:MAX_PULLS]
    lines = [pull_line(p) for p in shown]
    if len(pulls) > len(shown):
        lines.append(f"…and {len(pulls) - len(shown)} more")
    return packed_sections(lines, first=f"*Renovate PRs* ({len(pulls)} open)")


def pull_line(pull: PullFacts) -> str:
    """`• <https://…|#12> Update nixpkgs: CI green` (the title escaped, the link only if safe)."""
    number = f"<{pull.url}|#{pull.number}>" if _LINK.fullmatch(pull.url) else f"#{pull.number}"
    ci = _CI_WORDS.get(pull.ci, f"CI {escape_mrkdwn(pull.ci)}")
    return f"• {number} {escape_mrkdwn(pull.title)}: {ci}"


def drift_blocks(report: DigestReport) -> list[Block]:
    """Nodes running something other than what the infra checkout builds, as the last digest's
    build found them (the digest's own lines, already escaped)."""
    lines = drift_lines(report.snapshot)
    if not lines:
        return []
    return packed_sections(lines, first="*Drift* (as the last digest found it)")
