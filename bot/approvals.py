"""Approval rules: the digest an approval is bound to, and what a click on its button decides.

Pure functions over stored records; the engine (`bot/jobs.py`) carries the decision out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot import messages
from bot.command_spec import Approval
from bot.config import Role
from bot.job_records import ApprovalRecord, ApprovalState
from bot.job_state import Job, JobState
from bot.policy import Actor


def binding_digest(job_id: int, kind: str, payload: Mapping[str, Any]) -> str:
    """SHA-256 over the job and exactly what was shown for approval."""
    canonical = json.dumps({"job": job_id, "kind": kind, "payload": payload}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Verdict(StrEnum):
    """What a click decides."""

    approve = "approve"
    reject = "reject"
    refuse = "refuse"  # nothing happens; `reason` says why
    expire = "expire"  # too late: the approval expires now
    void = "void"  # what was approved no longer matches what was shown


@dataclass(frozen=True)
class Decision:
    """The outcome of a click, and the sentence for the clicker."""

    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class ClickOrigin:
    """Where a click came from: the channel and the message whose button was pressed (Slack's
    `container`). A button is honoured only from the message it was posted in."""

    channel_id: str
    message_ts: str


def decide_click(
    approval: ApprovalRecord | None,
    job: Job | None,
    actor: Actor,
    approve: bool,
    now: datetime,
    origin: ClickOrigin,
) -> Decision:
    """Apply the approval rules to one click on Apply (approve) or Reject."""
    if approval is None or job is None:
        return Decision(Verdict.refuse, messages.button_not_valid())
    # The approval's own message, in the job's channel. A message the engine posted but had no
    # time to record (a crash right after the post) is taken from the first click and recorded.
    expected = ClickOrigin(job.channel_id, approval.message_ts or origin.message_ts)
    if origin != expected or not origin.message_ts:
        # A hand-built payload naming another message's approval, or another channel.
        return Decision(Verdict.refuse, messages.button_not_valid())
    if approval.state is not ApprovalState.pending:
        return Decision(
            Verdict.refuse, messages.already_decided(approval.state, approval.decided_by)
        )
    if job.state is not JobState.awaiting_approval:
        return Decision(Verdict.refuse, messages.job_not_waiting(job.id, job.state))
    if now >= approval.expires_at:
        return Decision(Verdict.expire, messages.approval_expired(job.id))
    if binding_digest(job.id, job.kind, job.payload) != approval.digest:
        return Decision(Verdict.void, messages.approval_void(job.id, "the plan changed"))
    needed = Role[approval.role]
    if not actor.may(needed):
        have = actor.role.name if actor.role else "no role"
        return Decision(Verdict.refuse, messages.approver_role_too_low(needed.name, have))
    if not approve:
        return Decision(Verdict.reject)
    if approval.rule == Approval.four_eyes.value and actor.user_id == job.requester:
        return Decision(Verdict.refuse, messages.four_eyes_needed(job.id))
    return Decision(Verdict.approve)
