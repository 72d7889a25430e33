"""`/lab reboot`: drain from k3s, Longhorn's last replica, a new boot id, the gate, uncordon — and
the BMC reset button when the node does not come back."""

from __future__ import annotations

import json

import pytest
from deploylab import TWO_NODES, deploy_lab, sim_node
from jobflow import approval_message, ask, press, start, thread_text, wait_final

from bot.services import Services
from handlers.deploy.reboot import REBOOT_KIND, RESET_OFFER
from handlers.deploy.reboot_offer import REBOOT_OFFER
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Message

FAST = {
    "health_gate": {"timeout_seconds": 20, "poll_interval_seconds": 0.2},
    "reboot_timeout_seconds": 3,
}


async def test_a_k3s_server_is_drained_rebooted_gated_and_uncordoned() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        assert lab.cluster is not None
        node = sim_node(lab, "tp-node3")
        before = node.files.load_state().boot_id
        job_id = await start(lab, lab.users.operator, "reboot tp-node3")
        approval = await approval_message(lab, job_id)
        assert "cordon and drain tp-node3" in approval.all_text()
        assert (
            "Every Longhorn volume keeps a healthy replica on another node." in approval.all_text()
        )
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        assert "tp-node3 rebooted into generation 3 and is healthy. It was uncordoned." in text
        assert node.files.load_state().boot_id != before
        assert lab.cluster.workloads.cordoned() == []
        moved = {p.name: p.node for p in lab.cluster.workloads.load().pods}
        assert moved["home-assistant-0"] == "tp-node1"  # evicted, recreated on the other node
        sent = node.commands_received()
        assert any("k3s kubectl drain tp-node3" in c for c in sent), [c for c in sent if "k3s" in c]
        assert any("systemctl reboot" in c for c in sent)


async def test_a_reboot_that_would_lose_the_last_longhorn_replica_is_refused() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        assert lab.cluster is not None
        lab.cluster.workloads.fail_replica("pvc-home-assistant", "tp-node1")
        node = sim_node(lab, "tp-node3")
        before = node.files.load_state().boot_id
        job_id = await start(lab, lab.users.operator, "reboot tp-node3")
        text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        assert "Refused: tp-node3 holds the last healthy Longhorn replica of" in text
        assert "`pvc-home-assistant`" in text
        assert "labbot:approve" not in [
            b.action_id for m in lab.slack.messages(LAB_CHANNEL) for b in m.buttons()
        ]
        assert node.files.load_state().boot_id == before
        assert lab.cluster.workloads.cordoned() == []
        assert not any("reboot" in c for c in node.commands_received())


async def test_a_node_that_does_not_come_back_offers_a_bmc_reset() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        assert lab.cluster is not None
        node = sim_node(lab, "tp-node1")
        node.hang_on_reboot()
        job_id = await start(lab, lab.users.operator, "reboot tp-node1 --no-drain")
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=60)
        assert "tp-node1 did not come back within 3 s of `systemctl reboot`" in text
        assert not node.powered
        [offer] = [
            m
            for m in lab.slack.messages(LAB_CHANNEL)
            if any(b.action_id == RESET_OFFER for b in m.buttons())
        ]
        assert "Reset tp-node1" in [b.text for b in offer.buttons()]
        viewer = await press(lab, lab.users.viewer, offer, RESET_OFFER)
        assert "needs the operator role" in viewer
        answer = await press(lab, lab.users.operator, offer, RESET_OFFER)
        assert answer.startswith("Started job ")
        reset_job = int(answer.removeprefix("Started job ").split(":")[0])
        again = await press(lab, lab.users.operator, offer, RESET_OFFER)
        assert f"Job {reset_job} already resets `tp-node1`" in again
        await press(
            lab, lab.users.operator2, await approval_message(lab, reset_job), "labbot:approve"
        )
        await wait_final(lab, reset_job, f"Job {reset_job} succeeded", timeout=60)
        assert node.powered


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("reboot tp-node3 --drain --no-drain", "contradict each other"),
        ("reboot tp-node9", "`tp-node9` is not a node I know"),
    ],
)
async def test_bad_reboot_requests_are_refused_and_run_nothing(text: str, words: str) -> None:
    async with deploy_lab(deploy=FAST) as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        before = len(node.commands_received())
        reply = await ask(lab, lab.users.operator, text)
        assert words in reply.text, reply.text
        assert len(node.commands_received()) == before


async def test_a_viewer_cannot_reboot() -> None:
    async with deploy_lab(deploy=FAST) as (lab, _bot):
        reply = await ask(lab, lab.users.viewer, "reboot tp-node3")
        assert "needs the operator role" in reply.text


async def test_restarting_a_unit_the_node_does_not_have_is_refused_before_approval() -> None:
    async with deploy_lab(deploy=FAST) as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "restart tp-node3 nosuch.service")
        text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        assert "tp-node3 has no unit `nosuch.service` (systemd: not-found)" in text
        assert "Approve" not in thread_text(lab, job_id)
        assert not any("systemctl restart" in c for c in node.commands_received())


async def test_an_interrupted_reboot_is_checked_not_assumed() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, bot):
        assert lab.cluster is not None
        job_id = await start(lab, lab.users.operator, "reboot tp-node1")
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None
        config = lab.config()
        services = Services(config, bot.metrics)
        try:
            after = await REBOOT_KIND.after_interrupted(job, config, services)
            assert "tp-node1 rebooted (its boot id changed) and answers." in after
            assert "It runs generation 3 and is healthy." in after
            assert "cordoned" not in after
            with sim_node(lab, "tp-node1").files.editing() as state:
                state.failed_units = ["nginx.service"]
            failing = await REBOOT_KIND.after_interrupted(job, config, services)
            assert "It runs generation 3 and is *not healthy*: " in failing
            assert "`nginx.service`" in failing
            with lab.cluster.workloads.editing() as workloads:
                workloads.cordoned.append("tp-node1")
            await sim_node(lab, "tp-node1").power_off()
            down = await REBOOT_KIND.after_interrupted(job, config, services)
            assert "tp-node1 does not answer over SSH" in down
            assert "It is still cordoned: `k3s kubectl uncordon tp-node1`" in down
        finally:
            await services.close()


def bump_nixpkgs(lab: Lab, rev: str) -> None:
    """Lock another nixpkgs revision in the infra checkout (as a merged Renovate PR does)."""
    path = lab.flake_dir / "flake.lock"
    lock = json.loads(path.read_text())
    lock["nodes"]["nixpkgs"]["locked"]["rev"] = rev
    path.write_text(json.dumps(lock, indent=2))


def reboot_offers(lab: Lab) -> list[Message]:
    return [
        m
        for m in lab.slack.messages(LAB_CHANNEL)
        if any(b.action_id == REBOOT_OFFER for b in m.buttons())
    ]


async def test_a_deploy_that_needs_a_reboot_offers_one_and_the_click_starts_it_once() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        plain = await start(lab, lab.users.operator, "deploy tp-node1")
        await press(lab, lab.users.operator2, await approval_message(lab, plain), "labbot:approve")
        await wait_final(lab, plain, f"Job {plain} succeeded", timeout=60)
        assert reboot_offers(lab) == []  # same nixpkgs: same kernel and initrd, no reboot

        bump_nixpkgs(lab, "f" * 40)
        job_id = await start(lab, lab.users.operator, "deploy tp-node1")
        await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
        await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        [offer] = await lab.slack.wait_for(lambda: reboot_offers(lab) or None, timeout=15)
        assert "tp-node1 runs the deployed system's " in offer.all_text()
        assert "initrd" in offer.all_text() and "only after a reboot" in offer.all_text()
        assert "needs the operator role" in await press(lab, lab.users.viewer, offer, REBOOT_OFFER)
        answer = await press(lab, lab.users.operator, offer, REBOOT_OFFER)
        reboot = int(answer.removeprefix("Started job ").split(":")[0])
        assert f"Job {reboot} already reboots `tp-node1`" in await press(
            lab, lab.users.operator, offer, REBOOT_OFFER
        )
        await press(lab, lab.users.operator2, await approval_message(lab, reboot), "labbot:approve")
        text = await wait_final(lab, reboot, f"Job {reboot} succeeded", timeout=60)
        assert "tp-node1 rebooted into generation 5 and is healthy. It was uncordoned." in text
        status = (await ask(lab, lab.users.viewer, "status tp-node1")).all_text()
        assert "reboot pending" not in status
