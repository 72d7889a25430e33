"""Two labbot replicas on one PostgreSQL database: a lost replica's job is taken over."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jobflow import (
    BOT_PROCESS,
    BotProcesses,
    approval_message,
    approve_in_store,
    ask,
    press,
    start,
    thread_text,
    wait_final,
)
from store_databases import Databases, PostgresServer
from stored_schedules import mark_missed, until_stored

from bot.leadership import RETRY
from bot.replica import HEARTBEAT, STALE_AFTER
from handlers.status.digest import SCHEDULE_NAME
from labsim.bot_process import BotProcess
from labsim.lab import LAB_CHANNEL, Lab
from labsim.nodes import NodeSpec
from labsim.slack import Message


@pytest.fixture
async def lab(postgres_server: PostgresServer, tmp_path: Path) -> AsyncIterator[Lab]:
    databases = Databases("postgresql", tmp_path, postgres_server)
    async with Lab(config_overrides={"storage": {"database_url": databases.new()}}) as lab:
        yield lab
    databases.drop_all()


async def test_a_lost_replicas_running_job_is_taken_over_and_the_queued_one_starts(
    lab: Lab, bots: BotProcesses
) -> None:
    first = await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise hang")
    await press(lab, lab.users.admin, await approval_message(lab, job_id), "labbot:approve")
    await lab.slack.wait_for(lambda: "child" in thread_text(lab, job_id), timeout=15)
    await bots.start()  # Slack now delivers to the newest connection: the second
    queued = await start(lab, lab.users.operator, "exercise now 1")
    await lab.slack.wait_for(lambda: "This job is queued" in thread_text(lab, queued))
    killed_at = time.monotonic()
    await first.kill()  # with its process tree, as Kubernetes ends the pod's container
    await wait_final(lab, job_id, f"labbot stopped while job {job_id} was running", timeout=60)
    took = time.monotonic() - killed_at
    # The owner counts as gone after STALE_AFTER without a heartbeat; the survivor looks
    # every HEARTBEAT: the takeover comes within their sum (the issue asks for 30 s).
    assert took <= STALE_AFTER + HEARTBEAT + 5, took
    print(f"takeover {took:.1f} s after the kill")
    await wait_final(lab, queued, f"Job {queued} succeeded")  # the lock was freed
    detail = await ask(lab, lab.users.viewer, f"job {job_id}")
    assert "interrupted" in detail.text


async def test_two_replicas_starting_together_on_an_empty_database_both_come_up(
    lab: Lab, bots: BotProcesses
) -> None:
    first, second = BotProcess(lab, BOT_PROCESS), BotProcess(lab, BOT_PROCESS)
    bots.extend([first, second])
    import asyncio

    await asyncio.gather(first.start(), second.start())
    job_id = await start(lab, lab.users.operator, "exercise now 1")
    await wait_final(lab, job_id, f"Job {job_id} succeeded")


async def test_an_approval_whose_replica_was_lost_before_it_moved_on_is_carried_out_once(
    lab: Lab, bots: BotProcesses
) -> None:
    await bots.start()
    await bots.start()
    job_id = await start(lab, lab.users.operator, "exercise print 2")
    await approval_message(lab, job_id)
    await approve_in_store(lab, job_id, lab.users.admin)  # by a replica lost right after
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=STALE_AFTER + 30)
    # Both live replicas look for such jobs; one carries it out, once.
    assert text.count(f"<@{lab.users.admin}> approved job {job_id} just before labbot stopped") == 1
    assert text.count("line 1") == 1


def digests(lab: Lab) -> list[Message]:
    return [
        m
        for m in lab.slack.messages(LAB_CHANNEL)
        if m.thread_ts is None and m.text.startswith("Lab digest")
    ]


async def test_schedules_run_once_per_due_time_and_move_to_the_other_replica(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    databases = Databases("postgresql", tmp_path, postgres_server)
    settings = {
        "storage": {"database_url": databases.new()},
        "digest": {"ssh_timeout_seconds": 2},
    }
    node = NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server")
    try:
        async with Lab(full=True, node_specs=(node,), config_overrides=settings) as lab:
            bots = BotProcesses(lab)
            try:
                first = await bots.start()  # the schema and, once it leads, the schedules
                await until_stored(lab, SCHEDULE_NAME)
                await first.stop()
                # Due ten minutes ago while no replica ran: both replicas come up to a due run.
                mark_missed(lab, SCHEDULE_NAME, datetime.now(UTC) - timedelta(minutes=10))
                leader = await bots.start()  # first up, so it holds the schedules' lock
                await bots.start()
                await lab.slack.wait_for(lambda: digests(lab) or None, timeout=60)
                # The standby fires nothing: one digest for the one due time.
                with contextlib.suppress(TimeoutError):
                    await lab.slack.wait_for(lambda: len(digests(lab)) > 1, timeout=5)
                assert len(digests(lab)) == 1
                # A second due time passes unnoticed by the leader (it loads the stored
                # schedule only when it starts leading); the leader is lost; the standby takes
                # the schedules over and runs the due digest, once.
                mark_missed(lab, SCHEDULE_NAME, datetime.now(UTC) - timedelta(minutes=1))
                await leader.kill()
                await lab.slack.wait_for(lambda: len(digests(lab)) > 1, timeout=RETRY + 60)
                with contextlib.suppress(TimeoutError):
                    await lab.slack.wait_for(lambda: len(digests(lab)) > 2, timeout=5)
                assert len(digests(lab)) == 2
            finally:
                await bots.stop_all()
    finally:
        databases.drop_all()


async def test_a_replica_restarted_during_the_others_deploy_never_applies_it_twice(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    databases = Databases("postgresql", tmp_path, postgres_server)
    settings = {
        "storage": {"database_url": databases.new()},
        "jobs": {"stream_interval_seconds": 0.2},
    }
    try:
        async with Lab(full=True, config_overrides=settings) as lab:
            assert lab.cluster is not None
            node = lab.cluster["tp-node3"]
            bots = BotProcesses(lab)
            try:
                first = await bots.start()
                await bots.start()  # the newest connection gets the commands: the deploy's owner
                job_id = await start(lab, lab.users.operator, "deploy tp-node3")
                approval = await approval_message(lab, job_id)
                node.set_k3s_ready(False)  # holds the deploy in its gate, after the switch
                await press(lab, lab.users.operator2, approval, "labbot:approve")
                await wait_final(lab, job_id, "waiting: k3s node tp-node3 is not Ready", 60)
                # Queued on the live replica, behind the deploy's lock.
                queued = await start(lab, lab.users.operator, "deploy tp-node3")
                await lab.slack.wait_for(lambda: "This job is queued" in thread_text(lab, queued))
                await first.kill()
                bots.remove(first)
                await bots.start()  # its start-up recovery runs while the deploy is live
                second = await start(lab, lab.users.operator, "deploy tp-node3")
                await lab.slack.wait_for(lambda: "This job is queued" in thread_text(lab, second))
                # Through the restarted replica's recovery and a takeover period, nobody
                # interrupts the live deploy or the job queued behind it, or lets a queued one
                # past the lock.
                with contextlib.suppress(TimeoutError):
                    await lab.slack.wait_for(
                        lambda: any(
                            "labbot stopped while job" in thread_text(lab, j)
                            for j in (job_id, queued)
                        ),
                        timeout=STALE_AFTER + 2 * HEARTBEAT,
                    )
                node.set_k3s_ready(True)
                text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
                assert "labbot stopped while job" not in text
                assert "*tp-node3*: generation 3 → 4, healthy" in text
                for later_id in (queued, second):  # each ran after the first, and found it done
                    later = await wait_final(lab, later_id, f"Job {later_id} succeeded", 60)
                    assert "Nothing to deploy" in later and "labbot stopped while job" not in later
                switches = [
                    c for c in node.commands_received() if "switch-to-configuration switch" in c
                ]
                assert len(switches) == 1
            finally:
                await bots.stop_all()
    finally:
        databases.drop_all()
