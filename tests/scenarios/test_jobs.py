"""The job engine end to end through Slack: approvals, four-eyes, expiry, locks, cancel, 429s —
each on SQLite and on PostgreSQL (the store holding jobs, approvals and locks)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import psutil
import pytest
from exercise import EXERCISE_CAPABILITIES
from jobflow import approval_message, ask, press, root_of, start, thread_text, wait_final
from store_databases import Databases

from bot import messages
from bot.app import LabBot
from bot.job_records import ApprovalState, now_utc
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.store import AuditKind
from labsim.lab import LAB_CHANNEL, OTHER_CHANNEL, Lab
from labsim.slack.limits import validate_blocks


@pytest.fixture
async def lab(databases: Databases) -> AsyncIterator[Lab]:
    """The Slack-only lab, its bot's store on the database kind of this run."""
    storage = {"database_url": databases.new()} if databases.kind == "postgresql" else {}
    async with Lab(config_overrides={"storage": storage}) as lab:
        yield lab


@pytest.fixture
async def ebot(lab: Lab) -> AsyncIterator[LabBot]:
    async with LabBot(lab.config(), EXERCISE_CAPABILITIES) as bot:
        await lab.slack.wait_connected()
        yield bot


async def test_approved_job_streams_output_and_uploads_log(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 5")
    approval = await approval_message(lab, job_id)
    assert "*Plan*: print 5 lines on tp-node3" in approval.all_text()
    answer = await press(lab, lab.users.operator2, approval, "labbot:approve")
    assert answer == f"You approved job {job_id}; it is running now."
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "line 4" in text
    assert "Approved by <@" in lab.slack.message(LAB_CHANNEL, approval.ts).all_text()
    assert lab.slack.message(LAB_CHANNEL, approval.ts).buttons() == []
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.succeeded
    assert await ebot.jobs.locks.held_by(job_id) == []
    uploaded = await lab.slack.wait_for(lambda: lab.slack.files() or None)
    log = uploaded[0].content.decode()
    assert log.splitlines() == ["planning print", *[f"line {i}" for i in range(5)]]
    assert uploaded[0].thread_ts == root_of(lab, job_id).ts
    # The root's status follows the thread's verdict and log.
    root = await lab.slack.wait_for(
        lambda: root_of(lab, job_id) if ":white_check_mark:" in root_of(lab, job_id).text else None
    )
    assert root.buttons() == []  # no Cancel once ended


async def test_four_eyes_refuses_the_requester(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise foureyes 2")
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.operator, approval, "labbot:approve")
    assert "needs a second person's approval" in answer
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.awaiting_approval
    answer = await press(lab, lab.users.admin, approval, "labbot:approve")
    assert "You approved" in answer
    await wait_final(lab, job_id, "succeeded")


async def test_second_click_says_who_decided_and_does_nothing(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    # The same (now stale) message clicked again, by someone else.
    second = await press(lab, lab.users.operator2, approval, "labbot:approve", stale=True)
    assert second == f"Already approved by <@{lab.users.admin}>. Nothing more was done."
    await wait_final(lab, job_id, "succeeded")
    assert thread_text(lab, job_id).count("line 0") == 1
    decisions = [e for e in await ebot.store.audit_entries() if e.kind is AuditKind.decision]
    assert [d.user_id for d in decisions] == [lab.users.admin, lab.users.operator2]


async def test_viewer_cannot_approve(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.viewer, approval, "labbot:approve")
    assert answer == "Approving this needs the operator role; you are viewer. Nothing was done."
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.awaiting_approval


async def test_forged_click_changes_nothing(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.admin, approval, "labbot:approve", value="forged-id")
    assert answer == "That button is no longer valid. Nothing was done."
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.awaiting_approval
    clicks = [e for e in await ebot.store.audit_entries() if e.kind is AuditKind.click]
    assert clicks and clicks[-1].user_id == lab.users.admin


async def test_reject_ends_the_job(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    assert "You rejected" in await press(lab, lab.users.operator2, approval, "labbot:reject")
    text = await wait_final(lab, job_id, f"Job {job_id} cancelled")
    assert (
        f"Job {job_id} cancelled. Rejected by <@{lab.users.operator2}>; nothing was changed."
        in text
    )
    assert text.count("; nothing was changed.") == 1  # the verdict says it once
    assert "line 0" not in thread_text(lab, job_id)
    assert await ebot.jobs.locks.held_by(job_id) == []


async def test_cancelling_a_job_approved_just_before_a_crash_says_so(
    lab: Lab, ebot: LabBot
) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    await approval_message(lab, job_id)
    [approval] = await ebot.jobs.approvals.for_job(job_id)
    # Recorded as approved, the job not moved on yet (what a crash in between leaves).
    assert await ebot.jobs.approvals.decide(approval.id, ApprovalState.approved, lab.users.admin)
    answer = await ask(lab, lab.users.operator, f"cancel {job_id}")
    assert answer.text == messages.cancelled_after_approval(job_id)


async def test_a_restart_tells_finish_listeners_of_the_jobs_it_interrupts(
    lab: Lab, ebot: LabBot
) -> None:
    # A listener (a sops job's clone removal, a Renovate card's redraw) must hear of every end,
    # also of a job that was running when the bot died and that start-up marks interrupted.
    ended: list[tuple[int, JobState]] = []

    async def listener(job: Job, outcome: Finished) -> None:
        ended.append((job.id, outcome.state))

    ebot.jobs.on_finished("exercise", listener)
    job = await ebot.jobs.jobs.create(
        kind="exercise",
        text="exercise print 1",
        requester=lab.users.operator,
        channel_id=LAB_CHANNEL,
        targets=["node:tp-node3"],
    )
    assert await ebot.jobs.jobs.move(job.id, JobState.queued, JobState.running)
    # Its process is gone: on a database shared by replicas, that shows as a stale heartbeat.
    await ebot.jobs.jobs.update_fields(
        job.id, owner="gone-replica", heartbeat_at=now_utc() - timedelta(minutes=5)
    )
    await ebot.jobs.recover()
    assert ended == [(job.id, JobState.interrupted)]
    recovered = await ebot.jobs.jobs.get(job.id)
    assert recovered is not None and recovered.state is JobState.interrupted


async def test_expired_approval_replaces_buttons(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    later = now_utc() + timedelta(minutes=16)
    ebot.jobs._clock = lambda: later  # the engine's clock: 16 minutes on
    assert await ebot.jobs.expire_due() == 1
    message = lab.slack.message(LAB_CHANNEL, approval.ts)
    assert message.buttons() == [] and "expired" in message.all_text()
    answer = await press(lab, lab.users.admin, approval, "labbot:approve", stale=True)
    assert answer == "That approval has expired. Nothing was done; run the command again."
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.expired
    assert await ebot.jobs.locks.held_by(job_id) == []


async def test_click_after_expiry_time_expires_it(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    later = now_utc() + timedelta(minutes=16)
    ebot.jobs._clock = lambda: later
    answer = await press(lab, lab.users.admin, approval, "labbot:approve")
    assert "expired" in answer
    await wait_final(lab, job_id, f"Job {job_id} expired")


async def test_void_approval_changes_nothing(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise void 1")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    text = await wait_final(lab, job_id, "is void: the built path changed")
    assert "line 0" not in text


async def test_second_job_on_a_locked_node_queues(lab: Lab, ebot: LabBot) -> None:
    first = await start(lab, lab.users.operator, "exercise print 1")
    await approval_message(lab, first)
    second = await start(lab, lab.users.operator2, "exercise now 2")
    await lab.slack.wait_for(lambda: f"locked by job {first}" in thread_text(lab, second))
    assert f"<@{lab.users.operator}>" in thread_text(lab, second)
    job = await ebot.jobs.jobs.get(second)
    assert job is not None and job.state is JobState.queued
    await ask(lab, lab.users.operator, f"cancel {first}")
    await wait_final(lab, second, f"Job {second} succeeded")


async def test_lock_refused_when_configured(lab: Lab) -> None:
    lab.config_overrides["jobs"] = {"lock_policy": "refuse"}
    async with LabBot(lab.config(), EXERCISE_CAPABILITIES):
        await lab.slack.wait_connected()
        first = await start(lab, lab.users.operator, "exercise print 1")
        await approval_message(lab, first)
        second = await start(lab, lab.users.operator2, "exercise now 1")
        text = await wait_final(lab, second, f"Job {second} cancelled")
        assert f"locked by job {first}" in text and "Nothing was run" in text


async def test_cancel_kills_the_process_tree(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise hang")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")

    def both_started() -> str | None:
        text = thread_text(lab, job_id)
        return text if "parent" in text and "child" in text else None

    text = await lab.slack.wait_for(both_started)
    pids = [int(w.split()[1]) for w in text.splitlines() if w.startswith(("parent ", "child "))]
    assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    answer = await ask(lab, lab.users.operator2, f"cancel {job_id}")
    assert answer.text.startswith(f"Cancelling job {job_id}")
    await wait_final(lab, job_id, f"Job {job_id} cancelled")
    for pid in pids:  # both ignored SIGTERM; SIGKILL of the group got them
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert await ebot.jobs.locks.held_by(job_id) == []


async def test_cancel_while_waiting_for_approval(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    approval = await approval_message(lab, job_id)
    root = root_of(lab, job_id)
    answer = await press(lab, lab.users.operator, root, "labbot:cancel")
    assert answer == f"Cancelled job {job_id} while it waited for approval; nothing was changed."
    assert lab.slack.message(LAB_CHANNEL, approval.ts).buttons() == []
    assert "already ended" in (await ask(lab, lab.users.operator, f"cancel {job_id}")).text


async def test_viewer_cannot_cancel(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 1")
    await approval_message(lab, job_id)
    answer = await ask(lab, lab.users.viewer, f"cancel {job_id}")
    assert "needs the operator role" in answer.text


async def test_rate_limit_storm_still_ends_with_the_right_final_message(
    lab: Lab, ebot: LabBot
) -> None:
    lab.slack.inject_rate_limit("chat.update", count=8, retry_after=0)
    lab.slack.inject_rate_limit("chat.postMessage", count=3, retry_after=0)
    job_id = await start(lab, lab.users.operator, "exercise now 300")
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
    assert "line 299" in text
    assert len([c for c in lab.slack.calls("chat.update") if c.status == 429]) == 8


async def test_jobs_and_job_commands(lab: Lab, ebot: LabBot) -> None:
    job_id = await start(lab, lab.users.operator, "exercise now 1")
    await wait_final(lab, job_id, "succeeded")
    listing = await ask(lab, lab.users.viewer, "jobs")
    assert f"*{job_id}* `exercise now 1` by <@{lab.users.operator}>: succeeded" in listing.text
    detail = await ask(lab, lab.users.viewer, f"job {job_id}")
    assert "Result: printed 1 lines" in detail.text
    root = root_of(lab, job_id)
    link = lab.slack.calls("chat.getPermalink")[-1]
    assert link.params["message_ts"] == root.ts
    assert "|Open the job's thread, with the full log attached>" in detail.text
    assert "There is no job 999" in (await ask(lab, lab.users.viewer, "job 999")).text


async def test_redelivered_job_command_starts_one_job(lab: Lab, ebot: LabBot) -> None:
    result = await lab.slack.user(lab.users.operator).slash("exercise now 1", channel=LAB_CHANNEL)
    await result.acked()
    await lab.slack.redeliver(result.envelope_id)
    await wait_final(lab, 1, "Job 1 succeeded")
    await ask(lab, lab.users.viewer, "jobs")  # a later command has been handled
    assert len(await ebot.jobs.jobs.recent()) == 1


def test_pid_helper_sanity() -> None:
    assert psutil.pid_exists(os.getpid())


async def test_dropped_socket_redelivery_starts_one_job(lab: Lab, ebot: LabBot) -> None:
    lab.slack.lose_acks(1)  # the bot's ack never arrives: Slack believes the command unhandled
    result = await lab.slack.user(lab.users.operator).slash("exercise now 1", channel=LAB_CHANNEL)
    await wait_final(lab, 1, "Job 1 succeeded")
    assert lab.slack.ack(result.envelope_id) is None
    await lab.slack.drop_socket("refresh_requested")  # reconnect; the envelope is re-delivered
    await lab.slack.wait_for(lambda: lab.slack.ack(result.envelope_id) is not None, timeout=15)
    await ask(lab, lab.users.viewer, "jobs")  # a later command has been handled
    assert len(await ebot.jobs.jobs.recent()) == 1


async def test_an_approval_click_from_another_message_changes_nothing(
    lab: Lab, ebot: LabBot
) -> None:
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    approval = await approval_message(lab, job_id)
    root = root_of(lab, job_id)
    # A hand-built payload: the approval's button and id, sent as if from the job's root message.
    forged = dataclasses.replace(approval, ts=root.ts, thread_ts=None)
    answer = await press(lab, lab.users.operator2, forged, "labbot:approve", stale=True)

    assert answer == "That button is no longer valid. Nothing was done."
    job = await ebot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.awaiting_approval
    clicks = [e for e in await ebot.store.audit_entries() if e.kind is AuditKind.click]
    assert clicks and clicks[-1].user_id == lab.users.operator2  # refused, and audited
    # The real button still works.
    assert await press(lab, lab.users.operator2, approval, "labbot:approve") == (
        f"You approved job {job_id}; it is running now."
    )


async def test_a_200_node_plan_is_approvable_and_its_file_has_every_node(
    lab: Lab, ebot: LabBot
) -> None:
    job_id = await start(lab, lab.users.operator, "exercise bigplan 200")
    approval = await approval_message(lab, job_id)
    shown = approval.all_text()
    uploaded = await lab.slack.wait_for(lambda: lab.slack.files() or None)
    plan_file = uploaded[0]
    content = plan_file.content.decode()
    first, _, plan = content.partition("\n\n")
    digest = hashlib.sha256(plan.rstrip("\n").encode()).hexdigest()

    assert first == f"Plan of job {job_id} · sha256 {digest}"
    assert all(f"*node-{i:03d}*" in plan for i in range(200))  # the file has every node
    assert plan_file.thread_ts == root_of(lab, job_id).ts
    assert f"sha256 `{digest[:16]}…`; approving approves exactly that plan" in shown
    assert f"`job-{job_id}-plan.txt`" in shown
    assert validate_blocks(approval.blocks) is None
    assert "*node-000*" in shown and "*node-199*" not in shown  # the start, and where the rest is
    answer = await press(lab, lab.users.operator2, approval, "labbot:approve")
    assert answer == f"You approved job {job_id}; it is running now."


async def test_a_job_asked_for_where_the_bot_is_not_invited_says_how_to_invite_it() -> None:
    # Slack answers not_in_channel to a bot posting where it is not a member (labsim's #random).
    allowed = {"slack": {"allowed_channels": [LAB_CHANNEL, OTHER_CHANNEL]}}
    async with Lab(config_overrides=allowed) as lab, LabBot(lab.config(), EXERCISE_CAPABILITIES):
        await lab.slack.wait_connected()
        reply = await ask(lab, lab.users.operator, "exercise print 1", channel=OTHER_CHANNEL)

    assert reply.text == (
        f"Job 1 did not start: labbot is not a member of <#{OTHER_CHANNEL}>, so it cannot post "
        "there. Invite it with `/invite @labbot` in that channel, then run the command again."
    )
    assert lab.slack.messages(OTHER_CHANNEL) == []
