"""decide_click: an approval click is honoured only from the message and channel it was posted in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.approvals import ClickOrigin, Verdict, binding_digest, decide_click
from bot.command_spec import Approval
from bot.config import Role
from bot.job_records import ApprovalRecord, ApprovalState
from bot.job_state import Job, JobState
from bot.policy import Actor

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CHANNEL, MESSAGE = "C0LAB00001", "1796600000.000100"


def job() -> Job:
    return Job(
        id=7, kind="deploy", text="deploy tp-node3", requester="U0OPER0001", channel_id=CHANNEL,
        thread_ts="1796600000.000001", targets=("node:tp-node3",),
        state=JobState.awaiting_approval, payload={"plan": "x"}, result="", log_path="",
        cancel_token="t", created_at=NOW, started_at=NOW, finished_at=None,
    )  # fmt: skip


def approval(the_job: Job) -> ApprovalRecord:
    return ApprovalRecord(
        id="a1", job_id=the_job.id,
        digest=binding_digest(the_job.id, the_job.kind, the_job.payload),
        rule=Approval.approval.value, role=Role.operator.name, summary="", message_ts=MESSAGE,
        state=ApprovalState.pending, created_at=NOW, expires_at=NOW + timedelta(hours=1),
        decided_by="", decided_at=None,
    )  # fmt: skip


APPROVER = Actor("U0OPER0002", Role.operator)


def test_a_click_from_the_approval_message_is_decided() -> None:
    the_job = job()
    decision = decide_click(
        approval(the_job), the_job, APPROVER, True, NOW, ClickOrigin(CHANNEL, MESSAGE)
    )
    assert decision.verdict is Verdict.approve


@pytest.mark.parametrize(
    "origin",
    [
        ClickOrigin("C0OTHER001", MESSAGE),  # the same message ts, claimed from another channel
        ClickOrigin(CHANNEL, "1796600000.000999"),  # another message of the channel
        ClickOrigin(CHANNEL, ""),  # no message at all (a hand-built payload)
    ],
)
def test_a_click_from_anywhere_else_is_refused(origin: ClickOrigin) -> None:
    the_job = job()
    decision = decide_click(approval(the_job), the_job, APPROVER, True, NOW, origin)
    assert decision.verdict is Verdict.refuse
    assert decision.reason == "That button is no longer valid. Nothing was done."


def test_an_approval_message_not_recorded_before_a_crash_is_bound_by_the_first_click() -> None:
    the_job = job()
    unrecorded = approval(the_job)
    unrecorded = ApprovalRecord(**{**unrecorded.__dict__, "message_ts": ""})
    here = decide_click(unrecorded, the_job, APPROVER, True, NOW, ClickOrigin(CHANNEL, MESSAGE))
    elsewhere = decide_click(
        unrecorded, the_job, APPROVER, True, NOW, ClickOrigin("C0OTHER001", MESSAGE)
    )
    assert here.verdict is Verdict.approve
    assert elsewhere.verdict is Verdict.refuse
