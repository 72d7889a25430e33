"""A plan too long for one message: the approval shows its start and names the file with all of it.

An approver must be able to see everything they approve. Slack cuts a section at 3,000
characters, so a long plan (a deploy of many nodes) would be cut where the approver cannot see
it. Instead the whole plan goes into the job's thread as a file whose first line carries its
sha256, and the approval message shows the start of the plan and names the file and the digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bot import messages

#: Plans up to this long are shown whole in the approval message (a section holds 3,000).
PLAN_SHOWN_LIMIT = 2_600


@dataclass(frozen=True)
class LongPlan:
    """What the approval message shows of a long plan, and the file with all of it."""

    shown: str
    sha256: str
    path: Path


def long_plan(summary: str, job_id: int, directory: Path) -> LongPlan | None:
    """Write the whole plan to a file and return what to show; None if it fits a message.

    `summary` is already redacted; the file holds exactly it, after a first line with its sha256.
    """
    if len(summary) <= PLAN_SHOWN_LIMIT:
        return None
    digest = hashlib.sha256(summary.encode()).hexdigest()
    path = directory / f"job-{job_id}-plan.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Plan of job {job_id} · sha256 {digest}\n\n{summary}\n", encoding="utf-8")
    lines = summary.splitlines()
    shown: list[str] = []
    used = 0
    budget = PLAN_SHOWN_LIMIT - 300  # room for the sentence that names the file
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        shown.append(line)
        used += len(line) + 1
    head = "\n".join(shown)
    if head.count("```") % 2:  # the cut left a code block open
        head += "\n```"
    note = messages.plan_in_file(len(lines) - len(shown), len(lines), path.name, digest)
    return LongPlan(f"{head}\n{note}", digest, path)
