"""`/lab power` end to end: the BMC's power record, what SSH shows, approvals and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from jobflow import approval_message, ask, press, start, wait_final

from bot.app import LabBot
from labsim.lab import Lab

FAST = {
    "jobs": {"stream_interval_seconds": 0.1},
    "flash": {"poll_interval_seconds": 0.05, "boot_timeout_seconds": 10},
}


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True, config_overrides=FAST) as lab:
        yield lab


async def test_power_cycle_is_visible_over_ssh(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None and lab.cluster is not None
    node = lab.cluster["tp-node3"]
    job_id = await start(lab, lab.users.operator, "power tp-node3 off")
    approval = await approval_message(lab, job_id)
    plan = approval.all_text()
    assert "*Power off `tp-node3`* (slot 3 on BMC `turingpi`)" in plan
    assert "Now: BMC: on · SSH: reachable" in plan
    assert lab.bmc.power_state(2) and node.powered  # nothing happens before the approval
    await press(lab, lab.users.operator, approval, "labbot:approve")  # not four-eyes
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert (
        "`tp-node3` is off (slot 3 on BMC `turingpi`): "
        "BMC: off · SSH: unreachable (connection refused)." in text
    )
    assert not lab.bmc.power_state(2) and not lab.bmc.recorded_power(2) and not node.powered

    status = await ask(lab, lab.users.viewer, "power status")
    assert "BMC `turingpi`'s record (its bookkeeping, not a measurement)" in status.text
    assert "• slot 3 `tp-node3`: BMC: off · SSH: unreachable (connection refused)" in status.text
    assert "• slot 1: no node in the inventory · BMC: off" in status.text
    assert "reports slot 3's power from its own bookkeeping" not in status.text  # they agree

    job_id = await start(lab, lab.users.operator, "power tp-node3 on")  # no approval for `on`
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "`tp-node3` is on (slot 3 on BMC `turingpi`): BMC: on · SSH: reachable after" in text
    assert "Apply" not in text
    assert node.powered
    status = await ask(lab, lab.users.viewer, "power tp-node3 status")
    assert "• slot 3 `tp-node3`: BMC: on · SSH: reachable" in status.text
    assert "slot 1" not in status.text  # just the node asked about


async def test_status_flags_a_record_that_ssh_contradicts(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    await lab.cluster["tp-node3"].power_off()  # power lost behind the BMC's back
    status = await ask(lab, lab.users.viewer, "power status tp-node3")
    assert "BMC: on · SSH: unreachable (connection refused)" in status.text
    assert "BMC turingpi reports slot 3's power from its own bookkeeping" in status.text


async def test_reset_power_cycles_the_node(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    node = lab.cluster["tp-node3"]
    boot_before = node.files.load_state().boot_id
    job_id = await start(lab, lab.users.operator, "power tp-node3 reset")
    approval = await approval_message(lab, job_id)
    assert "a hard power cycle (off, 1 s, on)" in approval.all_text()
    assert approval.button("labbot:approve").text == "Reset"
    await press(lab, lab.users.operator2, approval, "labbot:approve")
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "`tp-node3` was power-cycled (slot 3 on BMC `turingpi`) and is back: SSH: reachable" in (
        text
    )
    assert node.files.load_state().boot_id != boot_before


async def test_refusals(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    viewer = await ask(lab, lab.users.viewer, "power tp-node3 off")
    assert viewer.text == "`power` needs the operator role; you are viewer. Nothing was run."
    unknown = await ask(lab, lab.users.operator, "power tp-node9 on")
    assert "`tp-node9` is not a node I know. Known nodes: `tp-node3`." in unknown.text
    wrong = await ask(lab, lab.users.operator, "power tp-node3 sideways")
    assert "must be one of `on`, `off`, `reset`, `status`" in wrong.text
    assert lab.bmc.power_state(2)


async def test_lockout_is_reported_plainly(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    # Five failed logins from this address (labbot's too) make bmcd ban it (reference §2).
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            async with session.post(
                f"{lab.bmc.url}/api/bmc/authenticate",
                json={"username": "root", "password": "guess"},
                ssl=False,
            ) as reply:
                assert reply.status == 403
    status = await ask(lab, lab.users.viewer, "power status")
    assert "BMC turingpi is blocking logins from labbot after repeated failures" in status.text
    assert "restart bmcd on the BMC to lift the ban" in status.text
    assert "• slot 3 `tp-node3`: BMC: unknown · SSH: reachable" in status.text
