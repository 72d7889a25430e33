"""`/lab deploy` end to end through Slack against the full simulated lab (sshd nodes, colmena double).

Each test starts its own lab: fresh nodes run generation 3, whose system differs from what the
colmena double builds from the infra checkout, so the first deploy always has work to do.
"""

from __future__ import annotations

from deploylab import TWO_NODES, deploy_lab, sim_node
from jobflow import approval_message, ask, press, root_of, start, wait_final

from bot import messages
from bot.app import LabBot
from bot.job_state import JobState
from handlers.deploy import messages as deploy_messages
from labsim.lab import LAB_CHANNEL, Lab


async def planned_path(bot: LabBot, job_id: int, node: str) -> str:
    """The built path the approval is bound to."""
    job = await bot.jobs.jobs.get(job_id)
    assert job is not None
    return next(str(n["built"]) for n in job.payload["nodes"] if n["name"] == node)


async def approve(lab: Lab, job_id: int) -> None:
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.operator2, approval, "labbot:approve")
    assert answer == messages.you_approved(job_id)


async def test_deploy_switches_the_node_and_passes_the_health_gate() -> None:
    async with deploy_lab() as (lab, bot):
        node = sim_node(lab, "tp-node3")
        seeded = node.current_system()
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        plan = (await approval_message(lab, job_id)).all_text()
        built = await planned_path(bot, job_id, "tp-node3")
        assert built != seeded and f"`{seeded}`" in plan and f"→ `{built}`" in plan
        assert "k3s 1.30.6+k3s1 → 1.31.4+k3s1" in plan  # the closure diff, summarised
        await approve(lab, job_id)
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
        assert "*tp-node3*: generation 3 → 4, healthy (NixOS 24.11." in text
        assert node.current_generation() == 4
        assert node.current_system() == built
        received = node.commands_received()
        assert any(  # k3s server: Ready checked
            c.startswith("sudo -n -- kubectl get nodes --no-headers -o") for c in received
        )
        assert "systemctl is-system-running" in received
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.succeeded
        again = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, again, f"Job {again} succeeded")
        assert deploy_messages.deploy_nothing_to_do(["tp-node3"]) in text  # no approval asked
        assert await bot.jobs.approvals.for_job(again) == []


async def test_nothing_to_deploy_on_an_unhealthy_node_is_a_failed_check_not_a_success() -> None:
    # As an interrupted deploy can leave it: the node runs what colmena builds, never judged.
    gate = {"health_gate": {"timeout_seconds": 2, "poll_interval_seconds": 0.2}}
    async with deploy_lab(deploy=gate) as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approve(lab, job_id)
        await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
        with node.files.editing() as state:
            state.failed_units = ["nginx.service"]
        again = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, again, f"Job {again} failed", timeout=30)
        assert "Nothing to deploy, but the health gate failed:" in text
        assert "*tp-node3* runs what colmena built (generation 4) but is not healthy: " in text
        assert "`nginx.service`" in text and "`/lab rollback tp-node3`" in text
        assert node.current_generation() == 4  # a check: nothing was switched


async def test_a_429_storm_and_a_socket_drop_during_a_deploy_delay_it_and_never_fail_it() -> None:
    async with deploy_lab() as (lab, bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approval_message(lab, job_id)
        # Slack refuses bursts of edits and posts for the whole apply, and the socket drops.
        lab.slack.inject_rate_limit("chat.update", count=20, retry_after=1)
        lab.slack.inject_rate_limit("chat.postMessage", count=6, retry_after=1)
        await approve(lab, job_id)
        await lab.slack.drop_socket("warning")
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=120)
        assert "*tp-node3*: generation 3 → 4, healthy" in text
        assert node.current_generation() == 4
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.succeeded
        refused = [c for c in lab.slack.calls() if c.status == 429]
        assert len(refused) == 26  # every injected 429 was met, waited out, and retried
        root = root_of(lab, job_id)
        logs = await lab.slack.wait_for(  # the log follows its final message
            lambda: [f for f in lab.slack.files() if f.thread_ts == root.ts] or None, timeout=60
        )
        assert len(logs) == 1 and b"Activation successful" in logs[0].content
        await lab.slack.wait_connected()


async def test_activation_failure_rolls_back_to_the_recorded_generation() -> None:
    async with deploy_lab() as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        seeded = node.current_system()
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approval_message(lab, job_id)
        node.fail_activation(["k3s.service"])
        await approve(lab, job_id)
        text = await wait_final(lab, job_id, f"Job {job_id} rolled back", timeout=30)
        assert "*tp-node3*: generation 3 → 4, rolled back (healthy), back on generation 3" in text
        assert "error code: 4 (units failed to start or failed after the switch)" in text
        assert node.current_generation() == 3 and node.current_system() == seeded
        assert node.failed_units() == []
        assert [g.number for g in node.generations()] == [1, 2, 3, 4]  # the failed one is kept


async def test_degraded_system_after_a_good_switch_is_rolled_back() -> None:
    async with deploy_lab() as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approval_message(lab, job_id)
        node.degrade_after_switch(["nginx.service"])
        await approve(lab, job_id)
        text = await wait_final(lab, job_id, f"Job {job_id} rolled back", timeout=30)
        assert "colmena exited 0" in text  # colmena saw nothing wrong; the gate did
        assert "tp-node3 is degraded: failed units `nginx.service`" in text
        assert "rolled back (healthy)" in text
        assert node.current_generation() == 3 and node.failed_units() == []


async def test_ssh_lost_during_the_gate_fails_and_says_the_node_could_not_be_rolled_back() -> None:
    gate = {"health_gate": {"timeout_seconds": 3, "poll_interval_seconds": 0.2}}
    async with deploy_lab(deploy=gate, jobs={"stream_interval_seconds": 0.1}) as (lab, _bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approval_message(lab, job_id)
        node.set_k3s_ready(False)  # holds the gate in its polling loop after the switch
        await approve(lab, job_id)
        await wait_final(lab, job_id, "tp-node3: waiting: k3s node tp-node3 is not Ready")
        await node.ssh_down()
        text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        await node.ssh_up()
        assert "*tp-node3*: generation 3 → ?, failed" in text
        assert "tp-node3 is unreachable over SSH" in text
        assert "could not roll back" in text
        assert node.current_generation() == 4  # it stays where the deploy left it


async def test_two_nodes_one_fails_the_other_keeps_its_new_generation() -> None:
    async with deploy_lab(TWO_NODES) as (lab, bot):
        good, bad = sim_node(lab, "tp-node3"), sim_node(lab, "tp-node1")
        job_id = await start(lab, lab.users.operator, "deploy tp-node*")
        plan = (await approval_message(lab, job_id)).all_text()
        assert "*tp-node1* (generation 3)" in plan and "*tp-node3* (generation 3)" in plan
        bad.fail_activation(["k3s.service"])
        await approve(lab, job_id)
        text = await wait_final(lab, job_id, f"Job {job_id} rolled back", timeout=40)
        assert "*tp-node3*: generation 3 → 4, healthy" in text
        assert "*tp-node1*: generation 3 → 4, rolled back (healthy), back on generation 3" in text
        assert good.current_generation() == 4
        assert good.current_system() == await planned_path(bot, job_id, "tp-node3")
        assert bad.current_generation() == 3


async def test_unknown_target_is_refused_with_the_known_nodes() -> None:
    async with deploy_lab() as (lab, bot):
        reply = await ask(lab, lab.users.operator, "deploy tp-node9")
        assert reply.text == "`tp-node9` matches no node. Known nodes: `tp-node3`."
        reply = await ask(lab, lab.users.operator, "deploy @gpu")
        assert reply.text == messages.unknown_tag("@gpu", ["cm4", "k3s-server"])
        assert lab.slack.messages(LAB_CHANNEL) == []  # no job, no thread
        assert await bot.jobs.jobs.recent(limit=5) == []


async def test_second_deploy_to_a_locked_node_queues_and_names_the_holder() -> None:
    async with deploy_lab() as (lab, _bot):
        first = await start(lab, lab.users.operator, "deploy tp-node3")
        approval = await approval_message(lab, first)
        second = await start(lab, lab.users.operator2, "deploy tp-node3 --goal boot")
        held = await wait_final(lab, second, "is locked by job")
        assert f"`tp-node3` is locked by job {first} (deploy, <@{lab.users.operator}>" in held
        assert "This job is queued" in held
        await press(lab, lab.users.operator, approval, "labbot:reject")
        plan = (await approval_message(lab, second)).all_text()
        assert "`colmena apply boot`" in plan
        assert "Deploy tp-node3 (boot)" in root_of(lab, second).text


async def test_approval_is_void_when_a_rebuild_yields_a_different_path() -> None:
    async with deploy_lab() as (lab, bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        approval = await approval_message(lab, job_id)
        approved = await planned_path(bot, job_id, "tp-node3")
        host = lab.flake_dir / "hosts" / "tp-node3.nix"
        host.write_text(host.read_text().replace("}", '  time.timeZone = "UTC";\n}'))
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        text = await wait_final(lab, job_id, f"Job {job_id} cancelled", timeout=30)
        assert f"Approval for job {job_id} is void: the build of tp-node3 changed" in text
        assert f"approved `{approved}`, now `/nix/store/" in text
        assert node.current_generation() == 3
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.cancelled


async def test_failed_build_ends_the_job_before_any_approval() -> None:
    async with deploy_lab() as (lab, bot):
        (lab.flake_dir / ".labsim-colmena.json").write_text('{"fail_build": ["tp-node3"]}')
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, job_id, f"Job {job_id} failed")
        assert "Nothing was deployed: The build failed. colmena exited 1" in text
        assert "tp-node3: build failed: Child process exited with error code: 100" in text
        assert "collision between two files in /etc" in text  # the build log is in the thread
        assert await bot.jobs.approvals.for_job(job_id) == []
        assert sim_node(lab, "tp-node3").current_generation() == 3


async def test_auto_rollback_off_leaves_the_failed_node_and_says_so() -> None:
    import json

    overrides = {"jobs": {"stream_interval_seconds": 0.2}}
    async with Lab(full=True, config_overrides=overrides) as lab:
        inventory = lab.flake_dir / "inventory.json"
        data = json.loads(inventory.read_text())
        data["nodes"]["tp-node3"]["auto_rollback"] = False  # the shared inventory turns it off
        inventory.write_text(json.dumps(data))
        async with lab.bot():
            await lab.slack.wait_connected()
            node = sim_node(lab, "tp-node3")
            job_id = await start(lab, lab.users.operator, "deploy tp-node3")
            await approval_message(lab, job_id)
            node.fail_activation(["k3s.service"])
            await approve(lab, job_id)
            text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
            assert "*tp-node3*: generation 3 → 4, failed" in text
            assert "rolled back" not in text.split(f"Job {job_id} failed", 1)[1]
            assert node.current_generation() == 4 and node.failed_units() == ["k3s.service"]


async def test_cancel_stops_a_waiting_health_gate_at_once() -> None:
    gate = {"health_gate": {"timeout_seconds": 120, "poll_interval_seconds": 0.2}}
    async with deploy_lab(deploy=gate, jobs={"stream_interval_seconds": 0.1}) as (lab, bot):
        node = sim_node(lab, "tp-node3")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        await approval_message(lab, job_id)
        node.set_k3s_ready(False)  # the gate would wait up to 120 s for Ready
        await approve(lab, job_id)
        await wait_final(lab, job_id, "tp-node3: waiting: k3s node tp-node3 is not Ready")
        answer = await ask(lab, lab.users.operator, f"cancel {job_id}")
        assert answer.text.startswith(f"Cancelling job {job_id}")
        await wait_final(lab, job_id, f"Job {job_id} cancelled", timeout=15)
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.cancelled
        assert await bot.jobs.locks.held_by(job_id) == []
        assert node.current_generation() == 4  # what was applied stays applied, as Cancel says


async def test_who_approves_a_deploy_is_the_configs_choice() -> None:
    # A second person, by the command's setting and by a node's tag; then no approval at all.
    for approvals in ({"deploy": "other"}, {"deploy": "self", "second_person_tags": ["cm4"]}):
        async with deploy_lab(approvals=approvals) as (lab, _bot):
            job_id = await start(lab, lab.users.operator, "deploy tp-node3")
            approval = await approval_message(lab, job_id)
            assert "a second person with the operator role (not the requester)" in (
                approval.all_text()
            )
            answer = await press(lab, lab.users.operator, approval, "labbot:approve")
            assert answer == messages.four_eyes_needed(job_id)
            assert sim_node(lab, "tp-node3").current_generation() == 3
            await approve(lab, job_id)  # operator2: a second person
            await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
    async with deploy_lab(approvals={"deploy": "none"}) as (lab, _bot):
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
        assert "No approval needed (`approvals.deploy: none` in labbot's config)" in text
        assert "*Plan*: `colmena apply switch` on 1 node(s)" in text  # shown all the same
        thread = lab.slack.thread(LAB_CHANNEL, root_of(lab, job_id).ts)
        assert not [m for m in thread if any(b.action_id == "labbot:approve" for b in m.buttons())]
        assert sim_node(lab, "tp-node3").current_generation() == 4


async def test_a_checkout_without_flake_lock_is_refused_with_the_fix() -> None:
    async with deploy_lab() as (lab, _bot):
        (lab.flake_dir / "flake.lock").rename(lab.flake_dir / "flake.lock.away")
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, job_id, f"Job {job_id} failed")
        assert "has no `flake.lock`" in text and "Run `nix flake lock`" in text
        assert sim_node(lab, "tp-node3").current_generation() == 3


async def test_a_machine_that_cannot_build_for_the_nodes_is_told_what_to_do() -> None:
    async with deploy_lab() as (lab, _bot):
        (lab.flake_dir / ".labsim-colmena.json").write_text('{"foreign_build": ["tp-node3"]}')
        job_id = await start(lab, lab.users.operator, "deploy tp-node3")
        text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
        assert (
            "This machine (x86_64-linux) cannot build for `tp-node3`, which needs aarch64-linux"
            in text
        )
        assert "services.labbot.emulateAarch64" in text and "buildOnTarget" in text


async def test_a_plan_only_deploy_shows_the_plan_and_takes_no_approval() -> None:
    async with deploy_lab() as (lab, _bot):
        job_id = await start(lab, lab.users.operator, "deploy tp-node3 --plan")
        text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
        assert "*Plan*: `colmena apply switch` on 1 node(s)" in text
        assert "k3s 1.30.6+k3s1 → 1.31.4+k3s1" in text  # the closure diff
        assert "This was `--plan`: nothing was applied" in text
        thread = lab.slack.thread(LAB_CHANNEL, root_of(lab, job_id).ts)
        assert not [m for m in thread if any(b.action_id == "labbot:approve" for b in m.buttons())]
        assert sim_node(lab, "tp-node3").current_generation() == 3
        again = await start(lab, lab.users.operator, "deploy tp-node3")  # its lock was let go
        await approval_message(lab, again)
