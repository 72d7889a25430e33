"""`/lab rollback NODE [GENERATION]` end to end through Slack against simulated nodes over sshd."""

from __future__ import annotations

from deploylab import deploy_lab, sim_node
from jobflow import approval_message, press, start, wait_final

from bot import messages


async def test_rollback_switches_to_the_chosen_generation_and_gates_it() -> None:
    async with deploy_lab() as (lab, bot):
        node = sim_node(lab, "tp-node3")
        first = node.generations()[0]
        job_id = await start(lab, lab.users.operator, "rollback tp-node3 1")
        approval = await approval_message(lab, job_id)
        plan = approval.all_text()
        assert "switch *tp-node3* from generation 3 (NixOS 24.11.20250101.abcdef0)" in plan
        assert "to generation 1 (NixOS 24.11.20241201.8cfb0d5)" in plan
        assert f"`{first.path}`" in plan and "3  " in plan and "(current)" in plan
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.payload["path"] == first.path  # the approval's binding
        answer = await press(lab, lab.users.operator2, approval, "labbot:approve")
        assert answer == messages.you_approved(job_id)
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
        assert "*tp-node3*: generation 3 → 1, healthy (NixOS 24.11.20241201.8cfb0d5)" in text
        assert node.current_generation() == 1
        assert node.current_system() == first.path == node.boot_default()


async def test_rollback_refuses_a_missing_generation_and_defaults_to_the_previous_one() -> None:
    async with deploy_lab() as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        missing = await start(lab, lab.users.operator, "rollback tp-node3 9")
        text = await wait_final(lab, missing, f"Job {missing} failed")
        assert "tp-node3 has no generation 9 (it has 1, 2, 3). Nothing was changed." in text
        default = await start(lab, lab.users.operator, "rollback tp-node3")
        plan = (await approval_message(lab, default)).all_text()
        assert "from generation 3" in plan and "to generation 2" in plan
        assert node.current_generation() == 3
