"""labbot killed with SIGKILL and started again: running jobs become interrupted, approvals survive."""

from __future__ import annotations

import os
import signal

import psutil
from jobflow import (
    BotProcesses,
    approval_message,
    approve_in_store,
    ask,
    press,
    start,
    thread_text,
    wait_final,
)

from bot.intake import ClickRequest, Intake, IntakeRecords
from bot.job_records import ApprovalRecords, now_utc
from bot.store import Store
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Message


async def test_running_job_is_interrupted_and_its_lock_freed(lab: Lab, bots: BotProcesses) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise hang")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    await lab.slack.wait_for(lambda: "child" in thread_text(lab, job_id), timeout=15)
    text = thread_text(lab, job_id)
    orphans = [int(w.split()[1]) for w in text.splitlines() if w.startswith(("parent ", "child "))]
    try:
        await first.kill()
        await bots.start()
        await wait_final(lab, job_id, f"labbot stopped while job {job_id} was running")
        detail = await ask(lab, lab.users.viewer, f"job {job_id}")
        assert "interrupted" in detail.text
        # The node's lock is free again: a new job on it runs at once.
        second = await start(lab, lab.users.operator, "exercise now 1")
        await wait_final(lab, second, f"Job {second} succeeded")
    finally:
        for pid in orphans:  # systemd would kill the service's cgroup; here we do
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)


async def test_pending_approval_survives_a_restart(lab: Lab, bots: BotProcesses) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    approval = await approval_message(lab, job_id)
    await first.kill()
    await bots.start()
    answer = await press(lab, lab.users.admin, approval, "labbot:approve")
    assert answer == f"You approved job {job_id}; it is running now."
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "line 1" in text


def job_roots(lab: Lab) -> list[Message]:
    return [m for m in lab.slack.messages(LAB_CHANNEL) if m.thread_ts is None and "(job " in m.text]


async def test_a_command_acked_before_a_crash_is_handled_after_it_once(
    lab: Lab, bots: BotProcesses
) -> None:
    first = await bots.start()
    stall = lab.config().storage.state_dir / "stall"
    stall.write_text("hold the handler\n")
    result = await lab.slack.user(lab.users.operator).slash("exercise stall", channel=LAB_CHANNEL)
    await result.acked()  # acked: Slack will never deliver it again on its own
    await first.kill()  # ... before the handler got to start the job
    stall.unlink()
    await bots.start()
    reply = await lab.slack.wait_for(lambda: lab.slack.ephemerals(lab.users.operator) or None)
    assert reply[0].text == "Started job 1."
    await wait_final(lab, 1, "Job 1 succeeded")
    # Slack retrying the envelope anyway (its retry is at least once) starts nothing more.
    await lab.slack.redeliver(result.envelope_id)
    second = await start(lab, lab.users.operator, "exercise now 1")
    await wait_final(lab, second, f"Job {second} succeeded")
    assert second == 2 and len(job_roots(lab)) == 2


async def test_a_command_redelivered_across_a_restart_starts_one_job(
    lab: Lab, bots: BotProcesses
) -> None:
    first = await bots.start()
    lab.slack.lose_acks(1)  # the first delivery's ack never reaches Slack
    result = await lab.slack.user(lab.users.operator).slash("exercise now 1", channel=LAB_CHANNEL)
    await wait_final(lab, 1, "Job 1 succeeded")
    assert lab.slack.ack(result.envelope_id) is None
    await first.kill()
    await bots.start()
    await lab.slack.redeliver_unacked()  # Slack retries what was never acked
    await result.acked()
    second = await start(lab, lab.users.operator, "exercise now 1")
    await wait_final(lab, second, f"Job {second} succeeded")
    assert second == 2 and len(job_roots(lab)) == 2


async def test_an_approval_recorded_just_before_a_crash_is_carried_out_after_it(
    lab: Lab, bots: BotProcesses
) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    await approval_message(lab, job_id)
    await first.kill()
    # The click was recorded (the approval row says approved), then the process died before
    # the job moved on: what the store holds after such a crash.
    await approve_in_store(lab, job_id, lab.users.admin)
    await bots.start()
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert f"<@{lab.users.admin}> approved job {job_id} just before labbot stopped" in text
    assert "line 1" in text
    detail = await ask(lab, lab.users.viewer, f"job {job_id}")
    assert "succeeded" in detail.text


async def test_a_click_acked_before_a_crash_is_carried_out_after_it(
    lab: Lab, bots: BotProcesses
) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    approval = await approval_message(lab, job_id)
    await first.kill()
    # What the edge wrote before acking the Apply click, when the process died right after.
    store = await Store.open(lab.config().storage.resolved_database_url())
    try:
        [record] = await ApprovalRecords(store.sessions).for_job(job_id)
        click = ClickRequest(
            lab.users.admin, LAB_CHANNEL, "labbot:approve", record.id, approval.ts, "admin"
        )
        intake = Intake("T0CRASHED1", click, "http://127.0.0.1:9/gone", now_utc())
        assert await IntakeRecords(store).receive(intake)
    finally:
        await store.close()
    await bots.start()
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "line 1" in text
    assert "Approved by <@" in lab.slack.message(LAB_CHANNEL, approval.ts).all_text()


async def test_a_deploy_killed_after_the_switch_reports_what_the_node_runs_after_restart() -> None:
    async with Lab(full=True, config_overrides={"jobs": {"stream_interval_seconds": 0.2}}) as lab:
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        bots = BotProcesses(lab)
        try:
            first = await bots.start()
            job_id = await start(lab, lab.users.operator, "deploy tp-node3")
            approval = await approval_message(lab, job_id)
            await press(lab, lab.users.operator2, approval, "labbot:approve")
            await lab.slack.wait_for(lambda: node.current_generation() == 4, timeout=60)
            await first.kill()  # switched, not yet judged
            await bots.start()
            text = await wait_final(lab, job_id, "Checked after the interruption", timeout=60)
        finally:
            await bots.stop_all()
        assert f"labbot stopped while job {job_id} was running" in text
        assert "*tp-node3* runs the approved system (generation 4, was 3): healthy." in text
