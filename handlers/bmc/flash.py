"""`/lab flash NODE [IMAGE]`: write an OS image onto a node through its BMC, then bring it up.

Must not talk to Slack or build Block Kit; it speaks through the job's thread (`JobRun`).

1. The command checks IMAGE (a path under `flash.image_dirs`, an http(s) URL, or nothing: build
   it) and submits a `flash` job that locks the node *and its BMC*: the BMC silently aborts a
   running flash when another starts, so a second flash on the same BMC queues (naming the
   holder) and is never sent.
2. Plan: check the BMC answers and lets labbot in, then build or measure the image
   (`handlers/bmc/flash_image.py`) and show node, slot, image, size, sha256 and the node's current
   state. The approval (admin, four-eyes) is bound to the image's digest.
3. On Apply the local file must still be the measured one (size and mtime; the upload checks
   the sha256 again while streaming), else the approval is void.
4. Apply (`handlers/bmc/flash_apply.py`): flash with a live progress bar (writing, then verifying),
   Cancel cancels the BMC's job, at most `flash.timeout_minutes`; then power on, wait for SSH,
   record the node's new host key (trust on first use) and offer `/lab deploy NODE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.command_spec import Approval, Command
from bot.config import Config, Role
from bot.context import HandlerContext
from bot.errors import IntegrationError, UserError
from bot.integrations.bmc_errors import BmcError
from bot.integrations.bmc_protocol import FlashTransferring
from bot.integrations.reachability import probe_ssh
from bot.integrations.ssh import SshTarget
from bot.job_run import CheckedState, Finished, JobRun, NeedsApproval, Offer, PlanResult
from bot.job_state import Job, JobState
from bot.locks import bmc_target, node_target
from bot.outcome import Outcome, Reply
from bot.services import Services
from bot.targets import named_node
from handlers.bmc import messages
from handlers.bmc.flash_apply import FlashPlan, apply_flash
from handlers.bmc.flash_image import (
    ImageBuildFailed,
    build_problem,
    image_argument_problem,
    image_changed,
    resolve_image,
)


async def flash_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Check IMAGE (or that an image can be built), then start a job locking node and BMC."""
    name = command.arg("node")
    assert isinstance(name, str)
    node = named_node(name, ctx.config.inventory.nodes)
    image = command.arg("image")
    if isinstance(image, str):
        problem = image_argument_problem(ctx.config, image)
    else:
        problem = build_problem(ctx.config, node)
    if problem is not None:
        raise UserError(problem)
    bmc = ctx.config.inventory.board_of(node).bmc
    job = await ctx.jobs.submit(
        "flash",
        text=f"flash {name}" + (f" {image}" if isinstance(image, str) else ""),
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(name), bmc_target(bmc)],
    )
    return Reply(engine_messages.job_started(job.id))


class FlashKind:
    """The `flash` job kind; see the module docstring for the flow."""

    name = "flash"

    def title(self, job: Job) -> str:
        """`Flash tp-node3`."""
        return messages.flash_title(job.text.split()[1])

    async def plan(self, run: JobRun) -> PlanResult:
        """Check the BMC, build or measure the image, and ask two admins."""
        words = run.job.text.split()
        name, image = words[1], (words[2] if len(words) > 2 else None)
        node = run.config.inventory.node(name)
        if node is None:
            return Finished(JobState.failed, messages.node_left_inventory(name))
        bmc = run.config.inventory.board_of(node).bmc
        await run.stream.write(messages.flash_checking_bmc(bmc))
        try:
            client = await run.services.bmc(node.board)
            info = await client.info()
            status = await client.flash_status()
            if isinstance(status, FlashTransferring) and not status.cancelled:
                return Finished(JobState.failed, messages.flash_bmc_busy(bmc, status.process_name))
            record = (await client.power_status()).get(node.slot)
            measured = await resolve_image(run, node, image)
        except ImageBuildFailed as error:  # labbot's own sentence, not an outside one
            run.check_cancelled()
            return Finished(JobState.failed, messages.flash_image_unusable(name, str(error)))
        except IntegrationError as error:
            run.check_cancelled()
            return Finished(JobState.failed, messages.flash_plan_failed(name, str(error)))
        seen = await probe_ssh(SshTarget.of(node), run.config.ssh)
        plan = FlashPlan(node=name, board=node.board, bmc=bmc, slot=node.slot, image=measured)
        await run.stream.write(
            messages.flash_image_line(measured.name, measured.size, measured.sha256)
        )
        return NeedsApproval(
            summary=messages.flash_plan(
                node=name,
                slot=node.slot,
                bmc=bmc,
                firmware=info.describe(),
                image=measured.location,
                built_from=measured.built_from,
                size=measured.size,
                sha256=measured.sha256,
                recorded_power=record,
                ssh=messages.ssh_view(seen.state, seen.detail),
            ),
            payload=plan.model_dump(mode="json"),
            role=Role.admin,
            rule=Approval.four_eyes,
            button=messages.flash_button(),
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """Void the approval if the image file changed since it was measured."""
        return image_changed(FlashPlan.model_validate(payload).image)

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Flash, power on, wait for SSH, record the host key (`handlers/bmc/flash_apply.py`)."""
        return await apply_flash(run, FlashPlan.model_validate(payload))

    async def after_interrupted(
        self, job: Job, config: Config, services: Services
    ) -> str | CheckedState:
        """The slot's power as the BMC records it: a flash leaves the node off until labbot
        powers it on, which an interrupted flash never got to; then a Power on button."""
        if not job.payload.get("node"):
            return ""  # interrupted before approval: nothing was sent to the BMC
        plan = FlashPlan.model_validate(job.payload)
        try:
            client = await services.bmc(plan.board)
            power = (await client.power_status()).get(plan.slot)
        except BmcError as exc:
            return messages.flash_interrupted_power_unknown(job.id, plan.node, plan.bmc, str(exc))
        text = messages.flash_interrupted_power(job.id, plan.node, plan.bmc, plan.slot, power)
        if power is not False:
            return text
        return CheckedState(text, Offer(f"Power on {plan.node}", POWER_ON_OFFER, job.cancel_token))


FLASH_KIND = FlashKind()
POWER_ON_OFFER = PREFIX + "power-on-offer"
"""The Power on button under an interrupted flash's checked state (`handlers/bmc/flash_offer.py`)."""
