"""The nightly digest and `/lab status` end to end, against a simulated lab of four nodes.

States: a node powered off, a degraded one whose generation changed, one with Longhorn nearly
full that rebooted, one unreachable, and one whose SSH hangs; the schedule across a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from jobflow import ask
from stored_schedules import mark_missed

import bot.integrations.github as github_client
from bot.app import LabBot
from bot.integrations.github import GitHubTuning
from handlers.deploy.generations import node_pool, switch_to_generation
from handlers.status.digest import SCHEDULE_NAME
from handlers.status.digest_report import local_time
from handlers.status.digest_store import DigestStore
from labsim.lab import LAB_CHANNEL, Lab
from labsim.nodes import NodeSpec
from labsim.slack import Message
from labsim.slack.limits import validate_blocks

NODES = (
    NodeSpec("tp-node1", 1, "rk1", ("k3s-agent", "rk1"), "agent"),
    NodeSpec("tp-node2", 2, "rk1", ("k3s-agent", "rk1"), "agent"),
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
    NodeSpec("tp-node4", 4, "cm4", ("k3s-agent", "cm4"), "agent"),
)
ZONE = "Europe/Berlin"
SSH_TIMEOUT = 2.0
SETTINGS = {
    "digest": {"ssh_timeout_seconds": SSH_TIMEOUT},
    "schedules": {"timezone": ZONE, "digest_cron": "0 7 * * *"},
}
# No request spacing: the digest's GitHub calls need not wait 0.25 s each here.
FAST_GITHUB = GitHubTuning(seconds_between_requests=0, seconds_between_writes=0, retries=1)


@pytest.fixture
async def lab(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lab]:
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST_GITHUB)
    async with Lab(full=True, node_specs=NODES, config_overrides=SETTINGS) as lab:
        yield lab


def digests(lab: Lab) -> list[Message]:
    """The digest summaries in the lab channel, oldest first."""
    return [
        m
        for m in lab.slack.messages(LAB_CHANNEL)
        if m.thread_ts is None and m.text.startswith("Lab digest")
    ]


def thread(lab: Lab, message: Message) -> str:
    return "\n".join(m.all_text() for m in lab.slack.thread(LAB_CHANNEL, message.ts))


async def digest(lab: Lab, bot: LabBot) -> Message:
    """Run the digest now, as the scheduler would; return its summary."""
    before = len(digests(lab))
    await bot.scheduler.run(SCHEDULE_NAME)
    found = digests(lab)
    assert len(found) == before + 1, "the digest was not posted (see the log)"
    return found[-1]


async def test_digest_reports_each_state_and_what_changed_since_yesterday(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.bmc is not None and lab.cluster is not None and lab.github is not None
    first = (await digest(lab, bot)).all_text()
    assert ":large_green_circle: 4 ok" in first
    assert "this is the first one" in first
    assert ":package: Renovate: no open PRs" in first
    assert "sops: no data-key rotation recorded by labbot yet" in first

    # The night: tp-node1 switches to generation 2 and k3s fails; tp-node2 is powered off
    # through its BMC; tp-node3's Longhorn disk fills up and it reboots; tp-node4's sshd dies.
    cluster = lab.cluster
    cluster["tp-node1"].degrade_after_switch(["k3s.service"])
    config = lab.config()
    assert config.ssh is not None
    async with node_pool(config.ssh, config, ["tp-node1"]) as pool:
        assert (await switch_to_generation(pool, "tp-node1", 2)).ok
    lab.bmc.set_power(1, False)
    await cluster["tp-node2"].settle()
    cluster["tp-node3"].disk_usage("/var/lib/longhorn", 0.97)
    await cluster["tp-node3"].reset()
    await cluster["tp-node4"].ssh_down()
    pull = await lab.github.open_renovate_pr()

    summary = await digest(lab, bot)
    text = summary.all_text()
    lines = text.splitlines()
    node_lines = [
        line
        for line in lines
        if line.startswith(":") and " *tp-node" in line and "Drift:" not in line
    ]
    assert node_lines == [
        ":red_circle: *tp-node3* · `/var/lib/longhorn` 97 % full",
        ":red_circle: *tp-node4* · unreachable: connection refused",
        ":black_circle: *tp-node2* · powered off (the BMC's record)",
        ":large_orange_circle: *tp-node1* · degraded: `k3s.service` failed; k3s node not Ready; "
        "reboot pending (kernel, initrd, kernel modules changed): `/lab reboot tp-node1`",
    ]
    assert "*Nodes* — 4 nodes need attention, listed first" in text
    assert ":package: Renovate: 1 open PR (CI: 1 without checks)" in lines
    for change in (
        "• `tp-node1` generation 3 → 2, NixOS 24.11.20241215.4f5d2a0",
        "• `tp-node1` new failed units: `k3s.service`",
        "• `tp-node1` k3s node is no longer Ready",
        "• `tp-node2` was powered off",
        "• `tp-node3` rebooted (up 0 min)",
        "• `tp-node3` `/var/lib/longhorn` passed 95 % (now 97 %)",
        "• `tp-node4` became unreachable: connection refused",
        f"• Renovate opened #{pull.number}: {pull.title}",
    ):
        assert change in lines, change
    details = thread(lab, summary)
    assert "*tp-node1* (slot 1 on `turingpi`, k3s agent)" in details
    assert "NixOS 24.11.20241215.4f5d2a0, generation 2 from" in details
    assert "systemd: degraded, failed: `k3s.service`" in details
    assert "BMC: off" in details
    assert "BMC `turingpi` (board `turingpi`): firmware 2.1.0 (bmcd 2.3.4)" in details
    assert f"|#{pull.number}> {pull.title} · CI no_checks · opened 0 min ago" in details

    stored = await DigestStore(bot.store.sessions).latest()
    assert stored is not None
    down = stored.node("tp-node4")
    assert down is not None and down.unreachable_since is not None
    third = (await digest(lab, bot)).all_text()
    since = local_time(down.unreachable_since, ZoneInfo(ZONE))
    assert f"*tp-node4* · unreachable: connection refused (since {since})" in third
    assert "Nothing changed." in third


async def test_a_hanging_node_costs_the_digest_no_more_than_its_timeout(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.cluster is not None
    lab.cluster["tp-node2"].hang_commands(60)
    loop = asyncio.get_running_loop()
    started = loop.time()
    text = (await digest(lab, bot)).all_text()
    took = loop.time() - started
    assert took < SSH_TIMEOUT + 3, took  # the timeout, plus posting and the other nodes
    assert f"*tp-node2* · unreachable: no answer over SSH within {SSH_TIMEOUT:g} s" in text
    assert ":large_green_circle: 3 ok" in text


async def test_status_is_ephemeral_unless_asked_for_the_channel(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    await lab.cluster["tp-node4"].power_off()  # behind the BMC's back: it still records "on"
    reply = await ask(lab, lab.users.viewer, "status")
    assert reply.text.startswith("Lab status · now: 1 critical, 3 ok")
    text = reply.all_text()
    assert ":red_circle: *tp-node4* · unreachable: connection refused" in text
    assert "Details of one node: `/lab status NODE`" in text
    assert lab.slack.messages(LAB_CHANNEL) == []

    one = (await ask(lab, lab.users.viewer, "status tp-node3")).all_text()
    assert "*tp-node3* (slot 3 on `turingpi`, k3s server)" in one
    assert "k3s: Ready" in one and "`/var/lib/longhorn` 8 % of 480 GB" in one
    assert "tp-node1" not in one
    agent = (await ask(lab, lab.users.viewer, "status tp-node1")).all_text()
    assert "k3s: Ready" in agent  # read on the k3s server, tp-node3

    result = await lab.slack.user(lab.users.viewer).slash("status --channel", channel=LAB_CHANNEL)
    await result.acked()
    posted = await lab.slack.wait_for(
        lambda: [m for m in lab.slack.messages(LAB_CHANNEL) if m.thread_ts is None] or None,
        timeout=15,
    )
    assert posted[0].text.startswith("Lab status · now: 1 critical, 3 ok")
    details = await lab.slack.wait_for(lambda: thread(lab, posted[0]) or None, timeout=15)
    assert "*tp-node4* (slot 4 on `turingpi`, k3s agent)" in details


async def test_the_schedule_survives_a_restart_and_a_missed_digest_comes_late() -> None:
    # Due daily three hours ago (local time), so the caught-up run is late whenever this runs.
    now = datetime.now(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    due = now - timedelta(hours=3)
    settings = {**SETTINGS, "schedules": {"timezone": ZONE, "digest_cron": f"{due:%M %H} * * *"}}
    async with Lab(full=True, node_specs=NODES[2:3], config_overrides=settings) as lab:
        async with lab.bot() as bot:
            await lab.slack.wait_connected()
            following = bot.scheduler.next_run(SCHEDULE_NAME)
            assert following is not None
            assert following.astimezone(ZoneInfo(ZONE)) == due + timedelta(days=1)
        await lab.slack.wait_for(lambda: not lab.slack.connected, timeout=15)
        assert digests(lab) == []
        # labbot stays down across three due times: the stored next run lies in the past.
        mark_missed(lab, SCHEDULE_NAME, due - timedelta(days=2))

        async with lab.bot() as bot:
            posted = await lab.slack.wait_for(lambda: digests(lab) or None, timeout=20)
            await lab.slack.wait_for(lambda: thread(lab, posted[0]) or None, timeout=20)
            text = posted[0].all_text()
            assert f":hourglass: Late: due {due:%a %d %b %H:%M}, sent " in text
            assert len(digests(lab)) == 1  # three missed runs, coalesced into one
            following = bot.scheduler.next_run(SCHEDULE_NAME)
            assert following is not None and following > datetime.now(UTC)


async def test_status_of_a_node_with_80_failed_units_and_a_short_secret_is_a_valid_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A configured secret shorter than its marker (the BMC's factory password is "turing"):
    # redaction lengthens text that was already cut to Slack's limits, so it must be fitted
    # again after redaction, or Slack refuses the reply with invalid_blocks.
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST_GITHUB)
    monkeypatch.setenv("LABBOT_TEST_SHORT_SECRET", "turing")
    settings = {**SETTINGS, "slack": {"signing_secret": {"env": "LABBOT_TEST_SHORT_SECRET"}}}
    async with Lab(full=True, node_specs=NODES, config_overrides=settings) as lab:
        assert lab.cluster is not None
        with lab.cluster["tp-node3"].files.editing() as state:
            state.failed_units = [f"turing-worker-{i:02d}.service" for i in range(80)]
        async with lab.bot():
            await lab.slack.wait_connected()
            reply = await ask(lab, lab.users.viewer, "status tp-node3")

    text = reply.all_text()
    assert "*tp-node3*" in text
    assert "turing" not in text
    assert text.count("[redacted:secret]-worker-") >= 10  # the units are listed, redacted
    assert validate_blocks(reply.blocks) is None
    assert all(len(b["text"]["text"]) <= 3000 for b in reply.blocks if b["type"] == "section")


async def test_an_admin_posts_the_digest_now(lab: Lab) -> None:
    async with lab.bot():
        await lab.slack.wait_connected()
        refused = await ask(lab, lab.users.operator, "digest")
        assert "needs the admin role" in refused.text and digests(lab) == []
        answer = await ask(lab, lab.users.admin, "digest")
        assert answer.text == f"Posted the digest in <#{LAB_CHANNEL}>, as the nightly run does."
        [posted] = digests(lab)
        assert posted.text.startswith("Lab digest")


async def test_nodes_lists_every_node_with_what_the_lab_says_now(lab: Lab) -> None:
    assert lab.cluster is not None
    await lab.cluster["tp-node4"].ssh_down()
    async with lab.bot():
        await lab.slack.wait_connected()
        reply = await ask(lab, lab.users.viewer, "nodes")
    lines = reply.text.splitlines()
    assert lines[0] == "*Nodes* (4):" and len(lines) == 5
    assert lines[3] == (
        "• *tp-node3* — `turingpi` slot 3 · cm4 · k3s server · tags `k3s-server`, `cm4` · "
        "power on · SSH ok · generation 3 · k3s Ready"
    )
    assert lines[4].startswith("• *tp-node4* — `turingpi` slot 4 · cm4 · k3s agent")
    assert lines[4].endswith("· power on · SSH: connection refused")


async def test_reading_the_lab_again_reuses_each_nodes_ssh_login(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    await digest(lab, bot)
    await ask(lab, lab.users.viewer, "status")
    readers = bot.jobs.services.ssh_readers()
    assert readers.connections_opened == len(NODES)  # one login per node for both reads
    await lab.cluster["tp-node3"].reset()  # its kept connection ends with the reboot
    text = (await ask(lab, lab.users.viewer, "status")).all_text()
    assert "unreachable" not in text
    assert readers.connections_opened == len(NODES) + 1
