"""labbot killed with SIGKILL and started again: running jobs become interrupted, approvals survive."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from jobflow import (
    BotProcesses,
    approval_message,
    approve_in_store,
    ask,
    click_acked_before_a_crash,
    press,
    start,
    thread_text,
    wait_final,
)

from labsim.colmena.deploy import SYSTEM_PROFILE
from labsim.colmena.knobs import KNOB_FILE
from labsim.lab import LAB_CHANNEL, Lab
from labsim.nodes.node import SimNode
from labsim.slack import Message


async def test_running_job_is_interrupted_and_its_lock_freed(lab: Lab, bots: BotProcesses) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise hang")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    await lab.slack.wait_for(lambda: "child" in thread_text(lab, job_id), timeout=15)
    await first.kill()  # with its process tree, as systemd kills the service's cgroup
    await bots.start()
    await wait_final(lab, job_id, f"labbot stopped while job {job_id} was running")
    detail = await ask(lab, lab.users.viewer, f"job {job_id}")
    assert "interrupted" in detail.text
    # The node's lock is free again: a new job on it runs at once.
    second = await start(lab, lab.users.operator, "exercise now 1")
    await wait_final(lab, second, f"Job {second} succeeded")


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
    await click_acked_before_a_crash(lab, lab.users.admin, approval, "labbot:approve")
    await bots.start()
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert text.count("line 1") == 1
    assert "Approved by <@" in lab.slack.message(LAB_CHANNEL, approval.ts).all_text()
    answer = await lab.slack.wait_for(lambda: lab.slack.ephemerals(lab.users.admin) or None)
    assert answer[0].text == f"You approved job {job_id}; it is running now."


async def test_a_merge_click_acked_before_a_crash_becomes_one_merge_after_it() -> None:
    settings = {"github": {"required_checks": ["nix flake check"]}}
    async with Lab(full=True, config_overrides=settings) as lab:
        assert lab.github is not None
        lab.github.set_mergeable_delay(0)
        bots = BotProcesses(lab)
        try:
            first = await bots.start()
            pr = await lab.github.open_renovate_pr()
            lab.github.set_check_run(pr.head_sha, "nix flake check", "completed", "success")
            reply = await ask(lab, lab.users.operator, "renovate check")
            # The reply says what the check did, with any problem it met (one CI run here once
            # found no card after "Checked 1 open Renovate PR"; this says why if it recurs).
            assert reply.text.startswith("Checked 1 open Renovate PR: 1 new card"), reply.text
            [card] = await lab.slack.wait_for(
                lambda: (
                    [
                        m
                        for m in lab.slack.messages(LAB_CHANNEL)
                        if m.text.startswith("Renovate PR #")
                    ]
                    or None
                ),
                timeout=15,
            )
            await first.kill()
            await click_acked_before_a_crash(lab, lab.users.operator, card, "labbot:renovate-merge")
            await bots.start()
            final = await lab.slack.wait_for(
                lambda: "Merged" in (c := lab.slack.message(LAB_CHANNEL, card.ts)).all_text() and c,
                timeout=60,
            )
            assert final.buttons() == []
            thread = "\n".join(m.all_text() for m in lab.slack.thread(LAB_CHANNEL, card.ts))
            assert f"Merged PR #{pr.number}" in thread
            approved = await lab.slack.wait_for(
                lambda: (
                    [
                        e.text
                        for e in lab.slack.ephemerals(lab.users.operator)
                        if e.text.startswith(f"You approved PR #{pr.number}")
                    ]
                    or None
                )
            )
            assert len(approved) == 1  # the clicker is answered, once
            # Merged once, on GitHub's record, and no second job for the click.
            [merge] = lab.github.merges()
            assert (merge.number, merge.head_sha) == (pr.number, pr.head_sha)
        finally:
            await bots.stop_all()


def switches(node: SimNode) -> int:
    """How many times `switch-to-configuration switch` ran on the node (colmena's activation)."""
    return sum("switch-to-configuration switch" in c for c in node.commands_received())


def profile_sets(node: SimNode) -> int:
    """How many colmena applies reached the node: each sets the system profile once before it
    activates (`nix-env --profile /nix/var/nix/profiles/system --set`, labsim/colmena/deploy.py)."""
    return sum(f"--profile {SYSTEM_PROFILE} --set" in c for c in node.commands_received())


async def deploy_again_finds_it_done(lab: Lab) -> None:
    """The node's lock is free and the deploy that was interrupted or resumed left the node on
    what it approved: the next deploy of it runs at once and has nothing to do."""
    again = await start(lab, lab.users.operator, "deploy tp-node3")
    text = await wait_final(lab, again, f"Job {again} succeeded", timeout=60)
    assert "This job is queued" not in text and "Nothing to deploy" in text


@contextlib.asynccontextmanager
async def awaiting_approval(
    text: str = "deploy tp-node3", **settings: Any
) -> AsyncIterator[tuple[Lab, BotProcesses, int]]:
    """A full lab, labbot as a process, and the job `text` waiting for approval (id given)."""
    overrides = {"jobs": {"stream_interval_seconds": 0.2}, **settings}
    async with Lab(full=True, config_overrides=overrides) as lab:
        bots = BotProcesses(lab)
        try:
            await bots.start()
            job_id = await start(lab, lab.users.operator, text)
            await approval_message(lab, job_id)
            yield lab, bots, job_id
        finally:
            await bots.stop_all()


async def test_a_deploy_killed_during_the_build_says_the_node_kept_its_system() -> None:
    async with awaiting_approval() as (lab, bots, job_id):
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        (lab.flake_dir / KNOB_FILE).write_text('{"extra_lines": 100, "line_delay": 0.2}')
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await lab.slack.wait_for(lambda: "CC obj" in thread_text(lab, job_id), timeout=30)
        await bots[0].kill()  # mid-build: colmena dies with labbot, as in its cgroup
        await bots.start()
        text = await wait_final(lab, job_id, "Checked after the interruption", timeout=60)
        assert "*tp-node3* does not run the approved system (generation 3; it was on 3" in text
        assert node.current_generation() == 3 and switches(node) == 0
        assert profile_sets(node) == 0  # the restart applied nothing on its own


async def test_a_deploy_killed_after_the_switch_reports_what_the_node_runs_after_restart() -> None:
    async with awaiting_approval() as (lab, bots, job_id):
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await lab.slack.wait_for(lambda: node.current_generation() == 4, timeout=60)
        await bots[0].kill()  # switched, not yet judged
        await bots.start()
        text = await wait_final(lab, job_id, "Checked after the interruption", timeout=60)
        assert f"labbot stopped while job {job_id} was running" in text
        assert "*tp-node3* runs the approved system (generation 4, was 3): healthy." in text
        assert switches(node) == 1 and profile_sets(node) == 1  # nothing applied again
        await deploy_again_finds_it_done(lab)


async def test_a_deploy_killed_during_the_health_gate_is_judged_once_after_restart() -> None:
    async with awaiting_approval() as (lab, bots, job_id):
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        node.set_k3s_ready(False)  # holds the gate in its polling loop after the switch
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await wait_final(lab, job_id, "tp-node3: waiting: k3s node tp-node3 is not Ready", 60)
        await bots[0].kill()
        node.set_k3s_ready(True)
        await bots.start()
        text = await wait_final(lab, job_id, "Checked after the interruption", timeout=60)
        assert "*tp-node3* runs the approved system (generation 4, was 3): healthy." in text
        assert switches(node) == 1 and profile_sets(node) == 1
        assert node.current_generation() == 4
        await deploy_again_finds_it_done(lab)


async def test_a_rollback_killed_during_its_gate_says_what_the_node_runs_and_how_back() -> None:
    async with awaiting_approval("rollback tp-node3") as (lab, bots, job_id):
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        node.set_k3s_ready(False)  # holds the gate in its polling loop after the switch
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await wait_final(lab, job_id, "tp-node3: waiting: k3s node tp-node3 is not Ready", 60)
        await bots[0].kill()
        node.set_k3s_ready(True)
        with node.files.editing() as state:  # what the restarted labbot finds: a failed unit
            state.failed_units = ["nginx.service"]
        await bots.start()
        text = await wait_final(lab, job_id, "Checked after the interruption", timeout=60)
        assert f"labbot stopped while job {job_id} was running" in text
        assert "*tp-node3* runs the approved system (generation 2, was 3): *not healthy*" in text
        assert "`nginx.service`" in text
        assert "`/lab rollback tp-node3 3` goes back to generation 3." in text
        assert switches(node) == 1 and node.current_generation() == 2  # nothing switched again


async def test_a_deploy_approval_acked_before_a_crash_is_applied_once_after_restart() -> None:
    async with awaiting_approval() as (lab, bots, job_id):
        assert lab.cluster is not None
        node = lab.cluster["tp-node3"]
        approval = await approval_message(lab, job_id)
        await bots[0].kill()
        await click_acked_before_a_crash(lab, lab.users.operator2, approval, "labbot:approve")
        await bots.start()
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        assert "*tp-node3*: generation 3 → 4, healthy" in text
        assert "Approved by <@" in lab.slack.message(LAB_CHANNEL, approval.ts).all_text()
        assert switches(node) == 1 and profile_sets(node) == 1
        await deploy_again_finds_it_done(lab)
