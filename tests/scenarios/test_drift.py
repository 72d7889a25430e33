"""Drift: the digest builds every node from the infra checkout and names the nodes that run
something else, with the commits they are behind; `/lab status` compares with that build."""

from __future__ import annotations

import subprocess

from deploylab import TWO_NODES, deploy_lab, sim_node
from jobflow import approval_message, ask, press, start, wait_final

from labsim.lab import LAB_CHANNEL, Lab


def commit(lab: Lab, subject: str) -> str:
    """Change tp-node3's host file in the infra checkout and commit it; the new HEAD."""
    host = lab.flake_dir / "hosts" / "tp-node3.nix"
    host.write_text(host.read_text().replace("}", '  time.timeZone = "UTC";\n}', 1))
    git = ["git", "-C", str(lab.flake_dir)]
    subprocess.run([*git, "commit", "-qam", subject], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def posted(lab: Lab) -> str:
    return "\n".join(m.all_text() for m in lab.slack.messages(LAB_CHANNEL))


async def deploy(lab: Lab, target: str) -> None:
    job_id = await start(lab, lab.users.operator, f"deploy {target}")
    await press(lab, lab.users.operator2, await approval_message(lab, job_id), "labbot:approve")
    await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=60)


async def test_drift_is_reported_for_an_older_commit_and_cleared_by_a_deploy() -> None:
    gate = {"health_gate": {"timeout_seconds": 20, "poll_interval_seconds": 0.2}}
    async with deploy_lab(TWO_NODES, deploy=gate) as (lab, _bot):
        await deploy(lab, "all")
        await ask(lab, lab.users.admin, "digest")
        assert ":twisted_rightwards_arrows: No drift: every node runs what " in posted(lab)

        head = commit(lab, "Set the time zone on tp-node3")
        await ask(lab, lab.users.admin, "digest")
        line = next(x for x in posted(lab).splitlines() if "Drift: *tp-node3*" in x)
        assert f"1 commit behind `{head[:7]}`: {head[:7]} Set the time zone on tp-node3" in line
        assert "`/lab deploy tp-node3`" in line
        assert "Drift: *tp-node1*" not in posted(lab)  # its system did not change

        status = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "Drift: *tp-node3* runs " in status  # from the digest's build, nothing rebuilt
        await deploy(lab, "tp-node3")
        assert sim_node(lab, "tp-node3").current_generation() == 5
        cleared = (await ask(lab, lab.users.viewer, "status")).all_text()
        assert "Drift: *tp-node3*" not in cleared
        assert f"No drift: every node runs what `{head[:7]}` builds" in cleared


async def test_a_node_deployed_from_uncommitted_changes_is_flagged_dirty() -> None:
    gate = {"health_gate": {"timeout_seconds": 20, "poll_interval_seconds": 0.2}}
    async with deploy_lab(deploy=gate) as (lab, _bot):
        host = lab.flake_dir / "hosts" / "tp-node3.nix"
        host.write_text(host.read_text().replace("}", '  time.timeZone = "UTC";\n}', 1))
        await deploy(lab, "tp-node3")  # colmena builds the dirty tree
        host.write_text(host.read_text().replace('  time.timeZone = "UTC";\n', ""))
        await ask(lab, lab.users.admin, "digest")
        line = next(x for x in posted(lab).splitlines() if "Drift: *tp-node3*" in x)
        assert "(deployed from uncommitted changes)" in line
