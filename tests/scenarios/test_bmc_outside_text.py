"""Outside text in BMC replies and jobs: whatever bmcd or a node's sshd says in an error is
shown escaped once (`bot.errors`: an error's text is raw, the message escapes it) and never
pings anyone — `/lab power status`, power and flash jobs, `/lab uart`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from deploylab import sim_node
from jobflow import approval_message, ask, press, start, wait_final
from test_status_outside_text import ESCAPED, HOSTILE, hostile_sshd, inert

from bot.app import LabBot
from labsim.lab import Lab

FAST = {
    "jobs": {"stream_interval_seconds": 0.1},
    "flash": {"poll_interval_seconds": 0.05, "boot_timeout_seconds": 10},
}
BMCD_SAYS = f"Failed to read: {HOSTILE}"  # bmcd's 500 envelope: `Failed to {context}: {cause}`


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True, config_overrides=FAST) as lab:
        yield lab


async def test_power_status_shows_the_bmcs_error_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_reads("power", BMCD_SAYS, count=10)
    status = (await ask(lab, lab.users.viewer, "power status")).text
    assert f"refused to read the power status: Failed to read: {ESCAPED} (HTTP 500)" in status
    inert(status)


async def test_power_status_shows_a_nodes_ssh_words_escaped(lab: Lab, bot: LabBot) -> None:
    async with hostile_sshd(sim_node(lab, "tp-node3")):
        status = (await ask(lab, lab.users.viewer, "power status tp-node3")).text
    assert f"SSH: unreachable (too many sessions {ESCAPED} (error 12))" in status
    inert(status)


async def test_a_power_job_ends_with_the_bmcs_error_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_reads("power", BMCD_SAYS, count=10)
    job_id = await start(lab, lab.users.operator, "power tp-node3 off")  # reads before its plan
    text = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert f"refused to read the power status: Failed to read: {ESCAPED} (HTTP 500)" in text
    inert(text)
    assert lab.bmc.power_state(2)  # nothing was switched


async def test_uart_shows_the_bmcs_error_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_reads("uart", BMCD_SAYS, count=10)
    reply = (await ask(lab, lab.users.admin, "uart tp-node3")).text
    assert f"Failed to read: {ESCAPED} (HTTP 500)" in reply
    inert(reply)


async def test_a_flash_that_bmcd_fails_quotes_its_words_escaped_once(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_next_flash(HOSTILE)
    image = lab.images_dir / "small.img"
    image.write_bytes(bytes(256 * 1024))
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image}")
    approval = await approval_message(lab, job_id)
    await press(lab, lab.users.admin2, approval, "labbot:approve")
    text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
    assert f"Flashing slot 3 on BMC turingpi failed (“{ESCAPED}”)" in text
    inert(text)


async def test_a_flash_plan_shows_the_bmcs_error_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_reads("power", BMCD_SAYS, count=10)
    image = lab.images_dir / "small.img"
    image.write_bytes(bytes(256 * 1024))
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image}")
    text = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert "Could not prepare the flash of `tp-node3`: BMC turingpi refused" in text
    assert f"Failed to read: {ESCAPED} (HTTP 500)" in text
    inert(text)
