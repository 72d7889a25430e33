"""Carrying out an approved flash: BMC job with live progress, power on, SSH, new host key.

Must not start a flash without the job's node and BMC locks (the engine holds them) or trust a
host key except right after this job flashed the node.

1. `flash_node` requests the BMC job and streams the upload while polling its status every
   `flash.poll_interval_seconds`; each change becomes the stream's title (a progress bar that
   Slack sees at most once per stream interval): writing %, then "verifying" once the BMC's
   `bytes_written` starts again from 0 for its read-back pass.
2. Cancel (the job's button or `/lab cancel ID`) or `flash.timeout_minutes` cancel the BMC's
   job (the BMC then powers the node off); a bmcd restart is followed by a new login and the
   job is reported lost; every BMC failure becomes its actionable sentence (`bmc_failures`).
3. After Done the BMC has powered the node off: labbot powers it on and scans its SSH host key.
4. Trust on first use: the fresh image made a new host key on first boot, so there is no old
   key to compare against; labbot records the first key its own freshly flashed node presents
   within the boot window (replacing the node's known_hosts line) and shows its fingerprint in
   the thread, so a person can compare it on the console.
5. A normal, key-checked login must then work; the verdict offers `/lab deploy NODE`.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import BmcError, FlashImageError
from bot.integrations.bmc_flash import Done, FlashEvent, Transferring
from bot.integrations.bmc_flash_run import flash_node
from bot.integrations.reachability import record_host_key, wait_for_host_key, wait_for_ssh
from bot.integrations.ssh import SshTarget
from bot.job_run import Finished, JobRun
from bot.job_state import JobState
from handlers.bmc import messages
from handlers.bmc.flash_image import ImagePlan


class FlashPlan(BaseModel):
    """A flash job's payload: the node, its slot and BMC, and the measured image."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    board: str
    bmc: str
    slot: int
    image: ImagePlan


class FlashTimedOut(Exception):
    """Raised when the BMC's job runs past `flash.timeout_minutes` (it has been cancelled)."""


class FlashProgress:
    """Turns the BMC's progress events into the stream's title and a few log lines."""

    def __init__(self, run: JobRun, node: str) -> None:
        self._run = run
        self._node = node
        self._phase: Literal["writing", "verifying"] | None = None
        self.last: Transferring | None = None

    async def observe(self, event: FlashEvent) -> None:
        """Called by `flash_node` for every new event."""
        if not isinstance(event, Transferring):
            return
        if event.phase != self._phase:
            self._phase = event.phase
            await self._run.stream.write(messages.flash_phase_line(self._node, event.phase))
        self.last = event
        self._run.stream.set_title(
            messages.flash_progress(self._node, event.phase, event.bytes_written, event.total)
        )

    def describe(self) -> str:
        """Where the flash got to, for the verdict."""
        last = self.last
        if last is None:
            return messages.flash_progress_none()
        return messages.flash_progress_at(last.phase, last.fraction)


async def apply_flash(run: JobRun, plan: FlashPlan) -> Finished:
    """Flash the approved image and bring the node up; see the module docstring."""
    config = run.config
    node = config.inventory.node(plan.node)
    if node is None:
        return Finished(JobState.failed, messages.node_left_inventory(plan.node))
    progress = FlashProgress(run, plan.node)
    await run.stream.write(messages.flash_starting(plan.node, plan.slot, plan.bmc, plan.image.name))
    try:
        client = await run.services.bmc(plan.board)
        done = await _flash(run, client, plan, progress)
    except FlashTimedOut:
        minutes = config.flash.timeout_minutes
        return Finished(
            JobState.failed, messages.flash_timed_out(plan.node, minutes, progress.describe())
        )
    except (BmcError, FlashImageError) as error:
        return Finished(JobState.failed, messages.flash_failed(plan.node, str(error)))
    if done is None:
        return Finished(
            JobState.cancelled, messages.flash_cancelled(plan.node, progress.describe())
        )
    await run.stream.write(messages.flash_written(plan.node, done.seconds))
    try:
        await client.power(plan.slot, True)
    except BmcError as error:
        return Finished(JobState.failed, messages.flash_power_on_failed(plan.node, str(error)))
    ssh = config.ssh
    if ssh is None:
        return Finished(
            JobState.succeeded, messages.flash_done_unchecked(plan.node, plan.image.sha256)
        )
    endpoint = SshTarget.of(node)
    timeout = config.flash.boot_timeout_seconds
    await run.stream.write(messages.flash_waiting_for_ssh(plan.node, endpoint.known_hosts_name))
    key = await wait_for_host_key(
        endpoint,
        timeout=timeout,
        interval=config.flash.poll_interval_seconds,
        connect_timeout=ssh.connect_timeout_seconds,
        cancel=run.cancel,
    )
    run.check_cancelled()
    if key is None:
        return Finished(JobState.failed, messages.flash_ssh_not_back(plan.node, timeout))
    # Trust on first use, deliberately and only here: see step 4 of the module docstring.
    try:
        recorded = record_host_key(ssh.known_hosts_file, endpoint, key)
    except OSError as error:
        return Finished(
            JobState.failed,
            messages.flash_known_hosts_unwritable(
                plan.node, str(ssh.known_hosts_file), error.strerror or str(error)
            ),
        )
    await run.say(
        messages.flash_host_key_trusted(
            plan.node, key.fingerprint, str(ssh.known_hosts_file), recorded.value
        )
    )
    seen = await wait_for_ssh(
        endpoint,
        ssh,
        timeout=timeout,
        interval=config.flash.poll_interval_seconds,
        cancel=run.cancel,
    )
    run.check_cancelled()
    if not seen.reachable:
        return Finished(
            JobState.failed,
            messages.flash_login_failed(plan.node, messages.ssh_view(seen.state, seen.detail)),
        )
    return Finished(
        JobState.succeeded,
        messages.flash_succeeded(
            plan.node, plan.image.sha256, done.seconds, key.fingerprint, config.slack.command
        ),
    )


async def _flash(
    run: JobRun, client: BmcClient, plan: FlashPlan, progress: FlashProgress
) -> Done | None:
    """The BMC's job to its end: `Done`, None when cancelled, or an exception."""
    settings = run.config.flash
    flashing = asyncio.ensure_future(
        flash_node(
            client,
            plan.slot,
            plan.image.flash_image(),
            on_event=progress.observe,
            poll_interval=settings.poll_interval_seconds,
            unreachable_grace=settings.unreachable_grace_seconds,
        )
    )
    cancelled = asyncio.ensure_future(run.cancel.wait())
    try:
        finished, _ = await asyncio.wait(
            {flashing, cancelled},
            timeout=settings.timeout_minutes * 60,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        cancelled.cancel()
        if not flashing.done():
            flashing.cancel()  # flash_node cancels the BMC's job on its way out
        await asyncio.gather(flashing, cancelled, return_exceptions=True)
    if flashing in finished:
        return flashing.result()
    if run.cancel.is_set():
        return None
    raise FlashTimedOut
