"""`/lab flash` end to end against the emulated BMC and a real sshd node.

Build or take an image, four-eyes approval bound to its digest, progress (writing, verifying),
power on, SSH with the node's new host key; and the failures a Turing Pi BMC really has.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import zstandard
from aiohttp import web
from jobflow import (
    BotProcesses,
    approval_message,
    ask,
    press,
    root_of,
    start,
    thread_text,
    wait_final,
)

from bot.app import LabBot
from bot.integrations.reachability import SshTarget, probe_ssh
from bot.job_state import JobState
from handlers.bmc.flash import POWER_ON_OFFER as POWER_ON
from labsim.bmc import FlashProgress
from labsim.lab import BMC_PASSWORD_ENV, LAB_CHANNEL, Lab
from labsim.nixtool.image import system_in_image
from labsim.slack import Message

SETTINGS = {
    "jobs": {"stream_interval_seconds": 0.1},
    "flash": {
        "poll_interval_seconds": 0.05,
        "boot_timeout_seconds": 15,
        "unreachable_grace_seconds": 0.5,
    },
}


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True, config_overrides=SETTINGS, flash_bytes_per_sec=4_000_000) as lab:
        yield lab


def image_file(lab: Lab, name: str = "small.img", size: int = 256 * 1024) -> Path:
    """A local image in the lab's allowed image directory."""
    path = lab.images_dir / name
    path.write_bytes(os.urandom(size))
    return path


def plan_sha256(approval: Message) -> str:
    found = re.search(r"sha256: `([0-9a-f]{64})`", approval.all_text())
    assert found, approval.all_text()
    return found.group(1)


async def approved(lab: Lab, job_id: int) -> Message:
    """Wait for the flash's plan and approve it as the second admin."""
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.admin2, approval, "labbot:approve")
    assert answer == f"You approved job {job_id}; it is running now."
    return approval


def pause_at_half(lab: Lab) -> tuple[asyncio.Event, asyncio.Event, set[int]]:
    """Hold every BMC flash job halfway through writing until `release` is set.

    Returns (reached, release, ids of the BMC jobs that ever reported progress).
    """
    assert lab.bmc is not None
    reached, release, jobs = asyncio.Event(), asyncio.Event(), set[int]()

    async def hold(progress: FlashProgress) -> None:
        jobs.add(progress.job_id)
        if progress.phase == "write" and progress.bytes_written * 2 >= progress.size:
            reached.set()
            await release.wait()

    lab.bmc.on_flash_progress(hold)
    return reached, release, jobs


async def test_built_image_is_flashed_verified_and_the_node_comes_back(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.bmc is not None and lab.cluster is not None and lab.directory is not None
    node = lab.cluster["tp-node3"]
    old_key_line = node.known_hosts_line()
    job_id = await start(lab, lab.users.admin, "flash tp-node3")
    approval = await approval_message(lab, job_id)
    plan = approval.all_text()
    assert "*Flash `tp-node3`*: slot 3 on BMC `turingpi` (firmware 2.1.0" in plan
    assert "(built from `.#packages.aarch64-linux.cm4-image`)" in plan
    assert "• Size: 2.0 MiB (2097152 bytes as written)" in plan
    assert "• Now: BMC: on · SSH: reachable" in plan
    assert "a second person with the admin role" in plan
    sha256 = plan_sha256(approval)
    # The built image is kept alive by an out-link; the BMC gets its decompressed bytes.
    built = next((lab.directory / "state" / "images" / "tp-node3").glob("sd-image/*.img.zst"))
    raw = zstandard.ZstdDecompressor().decompress(built.read_bytes(), max_output_size=1 << 24)
    assert hashlib.sha256(raw).hexdigest() == sha256
    assert "nixos-sd-image" in thread_text(lab, job_id)  # the build log is in the thread

    await press(lab, lab.users.admin2, approval, "labbot:approve")
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
    flashed = lab.bmc.flashed_image(2)
    assert flashed is not None and flashed.sha256 == sha256 and flashed.verified
    assert flashed.size == len(raw)

    versions = [
        version.text
        for message in lab.slack.thread(LAB_CHANNEL, root_of(lab, job_id).ts)
        for version in message.history
    ]
    writing = [v for v in versions if v.startswith("Flashing tp-node3: writing `")]
    verifying = [v for v in versions if v.startswith("Flashing tp-node3: verifying `")]
    assert len(writing) + len(verifying) >= 3, versions
    assert writing and verifying
    assert "Written; the BMC is verifying tp-node3 (reading everything back)." in text

    assert node.powered and lab.bmc.power_state(2)
    # The node came back as the image: its one system as generation 1, nothing older.
    image_system = system_in_image(flashed.head)
    assert image_system is not None
    assert [g.number for g in node.generations()] == [1]
    assert node.current_system() == image_system.toplevel
    assert image_system.toplevel.endswith(f"-nixos-system-nixos-{image_system.nixos_version}")
    console = await ask(lab, lab.users.admin, "uart tp-node3")  # the image's first boot
    assert f"Welcome to NixOS {image_system.nixos_version} (aarch64)" in console.text
    assert console.text.rstrip("`\n ").endswith("nixos login:")
    known_hosts = lab.cluster.known_hosts_path.read_text()
    assert node.known_hosts_line() in known_hosts and old_key_line not in known_hosts
    assert "This is trust on first use" in text and "(replacing its old key)" in text
    assert "so first `/lab sops add-node tp-node3`: it replaces the node's key" in text
    assert "then `/lab deploy tp-node3`" in text
    config = lab.config()
    node_config = config.inventory.node("tp-node3")
    assert node_config is not None
    assert (await probe_ssh(SshTarget.of(node_config), config.ssh)).reachable

    # The offered first deploy: a button; a viewer may not, an operator starts it once.
    offer = await lab.slack.wait_for(
        lambda: next(
            (
                m
                for m in lab.slack.thread(LAB_CHANNEL, root_of(lab, job_id).ts)
                if any(b.action_id == "labbot:deploy-offer" for b in m.buttons())
            ),
            None,
        )
    )
    assert "role" in await press(lab, lab.users.viewer, offer, "labbot:deploy-offer")
    started = await press(lab, lab.users.operator, offer, "labbot:deploy-offer")
    assert started.startswith("Started job ") and "deploy `tp-node3`" in started
    again = await press(lab, lab.users.operator2, offer, "labbot:deploy-offer")
    assert "already deploys `tp-node3`" in again
    deploy_id = int(started.split()[2].rstrip(":"))
    deploy_plan = await approval_message(lab, deploy_id)  # its own plan and approval
    assert "*tp-node3* (generation 1)" in deploy_plan.all_text()
    image_hash = image_system.toplevel.removeprefix("/nix/store/")[:8]
    assert f"/nix/store/{image_hash}" in deploy_plan.all_text()  # from the image's system


async def test_url_image_is_measured_and_downloaded_by_the_bmc(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    data = os.urandom(300 * 1024)

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=data)

    app = web.Application()
    app.router.add_get("/os.img", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/os.img"
        job_id = await start(lab, lab.users.admin, f"flash tp-node3 {url}")
        approval = await approved(lab, job_id)
        assert plan_sha256(approval) == hashlib.sha256(data).hexdigest()
        assert f"• Image: `{url}`" in approval.all_text()
        await wait_final(lab, job_id, f"Job {job_id} succeeded", timeout=30)
    finally:
        await runner.cleanup()
    flashed = lab.bmc.flashed_image(2)
    assert flashed is not None and flashed.sha256 == hashlib.sha256(data).hexdigest()


async def test_flash_error_is_explained(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_next_flash()
    path = image_file(lab)
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {path}")
    await approved(lab, job_id)
    text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
    assert (
        "Flashing `tp-node3` failed. Flashing slot 3 on BMC turingpi failed the read-back" in text
    )
    assert "retry once, and if it fails again suspect the eMMC/NVMe" in text
    assert lab.bmc.flashed_image(2) is None and not lab.bmc.power_state(2)


async def test_module_not_detected_is_explained(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.fail_module_detection(2)
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    await approved(lab, job_id)
    text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=30)
    assert "because the BMC did not detect the compute module" in text
    assert "power the slot off and on, and try again" in text
    status = await ask(lab, lab.users.viewer, "power status tp-node3")
    assert "BMC: on · SSH: unreachable (connection refused)" in status.text  # in flash mode


async def test_cancel_mid_flash_cancels_on_the_bmc(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    reached, release, _ = pause_at_half(lab)
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    await approved(lab, job_id)
    try:
        await asyncio.wait_for(reached.wait(), 15)
        root = root_of(lab, job_id)
        answer = await press(lab, lab.users.admin, root, "labbot:cancel")
        assert answer.startswith(f"Cancelling job {job_id}")
        text = await wait_final(lab, job_id, f"Job {job_id} cancelled", timeout=15)
    finally:
        release.set()
    assert re.search(
        r"The flash of `tp-node3` was cancelled on the BMC \(while writing, at \d+%\)", text
    )
    assert lab.bmc.flash_status() == {"Error": "cancelled by user"}
    assert lab.bmc.flashed_image(2) is None and not lab.bmc.power_state(2)
    job = await bot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.cancelled
    assert await bot.jobs.locks.held_by(job_id) == []


async def test_flash_past_its_time_limit_is_cancelled_on_the_bmc(lab: Lab) -> None:
    assert lab.bmc is not None
    lab.config_overrides["flash"] = {**SETTINGS["flash"], "timeout_minutes": 0.01}  # 0.6 s
    reached, release, _ = pause_at_half(lab)
    async with lab.bot():
        await lab.slack.wait_connected()
        job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
        await approved(lab, job_id)
        try:
            text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=15)
        finally:
            release.set()
    assert reached.is_set()
    assert "The flash of `tp-node3` ran longer than 0.01 min (while writing" in text
    assert "so labbot cancelled it on the BMC" in text
    assert lab.bmc.flash_status() == {"Error": "cancelled by user"}


async def test_bmc_restart_mid_flash_is_reported_as_lost(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    reached, release, _ = pause_at_half(lab)
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    await approved(lab, job_id)
    try:
        await asyncio.wait_for(reached.wait(), 15)
        await lab.bmc.restart()  # tokens and the job are gone; labbot logs in again to poll
    finally:
        release.set()
    text = await wait_final(lab, job_id, f"Job {job_id} failed", timeout=15)
    assert "did not finish because the BMC restarted and lost the job" in text
    assert lab.bmc.flash_status() == "Ready" and lab.bmc.flashed_image(2) is None


async def test_second_flash_queues_and_is_never_sent(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    reached, release, bmc_jobs = pause_at_half(lab)
    path = image_file(lab)
    first = await start(lab, lab.users.admin, f"flash tp-node3 {path}")
    await approved(lab, first)
    try:
        await asyncio.wait_for(reached.wait(), 15)
        second = await start(lab, lab.users.admin2, f"flash tp-node3 {path}")
        await lab.slack.wait_for(lambda: f"is locked by job {first}" in thread_text(lab, second))
        queued = thread_text(lab, second)
        assert f"(flash, <@{lab.users.admin}>," in queued and "This job is queued" in queued
        job = await bot.jobs.jobs.get(second)
        assert job is not None and job.state is JobState.queued
    finally:
        release.set()
    await wait_final(lab, first, f"Job {first} succeeded", timeout=30)
    approval = await approval_message(lab, second)  # it runs once the first is done
    await press(lab, lab.users.admin, approval, "labbot:reject")
    await wait_final(lab, second, f"Job {second} cancelled")
    assert len(bmc_jobs) == 1


async def test_back_to_back_flash_out_of_memory(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.oom_on_back_to_back_flash()
    path = image_file(lab)
    first = await start(lab, lab.users.admin, f"flash tp-node3 {path}")
    await approved(lab, first)
    await wait_final(lab, first, f"Job {first} succeeded", timeout=30)
    second = await start(lab, lab.users.admin2, f"flash tp-node3 {path}")
    approval = await approval_message(lab, second)
    await press(lab, lab.users.admin, approval, "labbot:approve")
    text = await wait_final(lab, second, f"Job {second} failed", timeout=30)
    assert "did not finish because the BMC stopped answering" in text
    assert "back-to-back flashes (BMC-Firmware #162), so reboot the BMC" in text


async def test_wrong_password_is_reported_before_any_approval(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    lab.bmc.set_credentials("root", "changed-on-the-bmc")  # e.g. `passwd` over SSH
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    text = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert "Could not prepare the flash of `tp-node3`: BMC turingpi refused the login" in text
    assert f"put the BMC's current root password into ${BMC_PASSWORD_ENV}" in text
    assert "labbot:approve" not in str([m.blocks for m in lab.slack.messages(LAB_CHANNEL)])


async def test_lockout_is_reported(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    async with aiohttp.ClientSession() as session:
        for _ in range(5):  # bmcd bans the address after five failures (reference §2)
            async with session.post(
                f"{lab.bmc.url}/api/bmc/authenticate",
                json={"username": "root", "password": "guess"},
                ssl=False,
            ) as reply:
                assert reply.status == 403
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    text = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert "BMC turingpi is blocking logins from labbot after repeated failures" in text
    assert "Exceeded allowed authentication attempts" in text


async def test_changed_image_voids_the_approval(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    path = image_file(lab)
    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {path}")
    approval = await approval_message(lab, job_id)
    path.write_bytes(os.urandom(128 * 1024))
    await press(lab, lab.users.admin2, approval, "labbot:approve")
    text = await wait_final(lab, job_id, f"Job {job_id} cancelled")
    assert f"is void: the image file {path} changed since it was measured" in text
    assert lab.bmc.flash_status() == "Ready"


async def test_refusals(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    viewer = await ask(lab, lab.users.viewer, "flash tp-node3")
    assert viewer.text == "`flash` needs the admin role; you are viewer. Nothing was run."
    operator = await ask(lab, lab.users.operator, "flash tp-node3")
    assert operator.text == "`flash` needs the admin role; you are operator. Nothing was run."
    outside = await ask(lab, lab.users.admin, "flash tp-node3 /etc/hostname")
    assert "`/etc/hostname` is not a readable file inside labbot's image directories" in (
        outside.text
    )
    relative = await ask(lab, lab.users.admin, "flash tp-node3 small.img")
    assert "is neither an absolute path nor an http(s) URL" in relative.text
    zstd_url = await ask(lab, lab.users.admin, "flash tp-node3 https://example.org/os.img.zst")
    assert "The BMC cannot unpack `.zst` images it downloads" in zstd_url.text
    unknown = await ask(lab, lab.users.admin, "flash tp-node9")
    assert "`tp-node9` is not a node I know. Known nodes: `tp-node3`." in unknown.text

    job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
    approval = await approval_message(lab, job_id)
    answer = await press(lab, lab.users.admin, approval, "labbot:approve")
    assert "needs a second person's approval" in answer
    answer = await press(lab, lab.users.operator, approval, "labbot:approve")
    assert answer == "Approving this needs the admin role; you are operator. Nothing was done."
    job = await bot.jobs.jobs.get(job_id)
    assert job is not None and job.state is JobState.awaiting_approval
    assert lab.bmc.flash_status() == "Ready"


async def test_an_interrupted_flash_reports_the_slots_power_after_restart(
    lab: Lab, bots: BotProcesses
) -> None:
    assert lab.bmc is not None
    reached, release, _ = pause_at_half(lab)
    try:
        first = await bots.start()
        job_id = await start(lab, lab.users.admin, f"flash tp-node3 {image_file(lab)}")
        await approved(lab, job_id)
        await asyncio.wait_for(reached.wait(), 15)
        await first.kill()  # mid-write: the BMC has powered the slot off to flash it
        release.set()
        await bots.start()
        text = await wait_final(lab, job_id, "Checked after the interruption", timeout=30)
        assert "`tp-node3` (slot 3 on BMC `turingpi`) is powered *off*" in text
        assert "(`/lab power tp-node3 on`)" in text
        assert lab.bmc.flash_requests() == 1  # the restart flashed nothing again
        offers = [
            m
            for m in lab.slack.thread(LAB_CHANNEL, root_of(lab, job_id).ts)
            if any(b.action_id == POWER_ON for b in m.buttons())
        ]
        assert [m.button(POWER_ON).text for m in offers] == ["Power on tp-node3"]
        viewer = await press(lab, lab.users.viewer, offers[0], POWER_ON)
        assert "needs the operator role" in viewer and not lab.bmc.power_state(2)
        answer = await press(lab, lab.users.operator, offers[0], POWER_ON)
        assert answer.startswith("Started job ") and "power `tp-node3` on" in answer
        power_job = int(answer.removeprefix("Started job ").split(":")[0])
        await lab.slack.wait_for(lambda: lab.bmc is not None and lab.bmc.power_state(2), 30)
        again = await press(lab, lab.users.operator, offers[0], POWER_ON)
        assert (
            again
            == f"Job {power_job} already powers `tp-node3` on after this flash. Nothing more was started."
        )
    finally:
        release.set()
