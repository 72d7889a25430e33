"""The k3s cluster in `/lab status` and the digest: pods not running, Longhorn volumes degraded,
certificates about to expire — and a node whose booted kernel or initrd is not the running one."""

from __future__ import annotations

from deploylab import TWO_NODES, deploy_lab, sim_node
from jobflow import approval_message, ask, press, start, wait_final

from labsim.lab import LAB_CHANNEL

FAST = {
    "health_gate": {"timeout_seconds": 20, "poll_interval_seconds": 0.2},
    "reboot_timeout_seconds": 10,
}


async def test_crashing_pods_degraded_volumes_and_expiring_certificates_are_reported() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        assert lab.cluster is not None
        clean = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "pod" not in clean and "Longhorn volume" not in clean
        workloads = lab.cluster.workloads
        workloads.crash_loop("media", "jellyfin-7d9f", "tp-node1", restarts=12)
        workloads.crash_loop("media", "sonarr-5c2b", "tp-node1", restarts=3)
        workloads.crash_loop("kube-system", "traefik-node3", "tp-node3", restarts=1)
        workloads.fail_replica("pvc-home-assistant", "tp-node1")
        workloads.add_volume("pvc-<!channel>", ["tp-node1"])
        workloads.fail_replica("pvc-<!channel>", "tp-node1")
        workloads.expire_certificate("serving-kube-apiserver.crt", days=12)
        text = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "3 pods not running (kube-system 1, media 2): " in text
        # The worst first: most restarts.
        assert (
            "media/jellyfin-7d9f CrashLoopBackOff (12 restarts) on tp-node1; "
            "media/sonarr-5c2b CrashLoopBackOff (3 restarts) on tp-node1" in text
        )
        assert (
            "Longhorn volume pvc-home-assistant (home/config-home-assistant-0) is degraded" in text
        )
        assert "is faulted" in text and "<!channel>" not in text  # outside text never pings
        assert (
            "k3s certificates on tp-node3 expire within 30 days: serving-kube-apiserver.crt" in text
        )

        answer = await ask(lab, lab.users.admin, "digest")
        assert answer.text.startswith("Posted the digest")
        digest = "\n".join(m.all_text() for m in lab.slack.messages(LAB_CHANNEL))
        assert "3 pods not running" in digest and "is degraded" in digest


async def test_a_pending_reboot_is_shown_until_the_node_reboots() -> None:
    async with deploy_lab(TWO_NODES, deploy=FAST) as (lab, _bot):
        node = sim_node(lab, "tp-node1")
        node.booted_generation(2)  # booted generation 2, switched to 3 since
        text = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "reboot pending (" in text and "initrd" in text and " changed): " in text
        assert "`/lab reboot tp-node1`" in text
        assert "tp-node3" in text and "`/lab reboot tp-node3`" not in text
        listed = (await ask(lab, lab.users.viewer, "nodes")).text
        [line] = [x for x in listed.splitlines() if "*tp-node1*" in x]
        assert line.endswith("k3s Ready · reboot pending")
        job_id = await start(lab, lab.users.operator, "reboot tp-node1")
        approval = await approval_message(lab, job_id)
        assert "which tp-node1 has not booted yet" in approval.all_text()
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)
        after = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "reboot pending" not in after
