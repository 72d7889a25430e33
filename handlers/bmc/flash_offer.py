"""The next step after a flash, as a button in its thread: the first deploy, or power on.

1. When a flash job succeeds, post "Deploy NODE" with a button carrying the flash job's opaque
   token (no node name, no command in the button).
2. A click by someone with the operator role starts `deploy NODE` as a normal deploy job (its
   own plan and approval); a second click says which job it already started.
3. When a flash was interrupted and the BMC says the slot is off, the checked state carries a
   Power on button (`FlashKind.after_interrupted`); a click by an operator starts
   `power NODE on` as a normal power job, once.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import blocks
from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.approvals import ClickOrigin
from bot.capability import CapabilityContext
from bot.chat import Block
from bot.config import Role
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.locks import node_target
from bot.policy import Actor
from handlers.bmc import messages
from handlers.bmc.flash import FLASH_KIND, POWER_ON_OFFER

FLASH = FLASH_KIND.name
# The deploy capability's job kind, started through the engine by its name (capabilities do not
# import each other); `has_kind` tells whether it is there.
DEPLOY = "deploy"
POWER = "power"

DEPLOY_OFFER = PREFIX + "deploy-offer"


def _node_of(job: Job) -> str:
    return job.text.split()[1]  # `flash NODE [IMAGE]`, validated by the parser


def start(context: CapabilityContext) -> None:
    """At start: the offers' hook after flash jobs, and their buttons."""
    FlashOffers(context.jobs).register()


class FlashOffers:
    """The buttons after a flash, and what their clicks do."""

    def __init__(self, engine: JobEngine) -> None:
        self._engine = engine

    def register(self) -> None:
        """Hook into the engine: after flash jobs, and on the offer's button."""
        self._engine.on_finished(FLASH, self.after_flash)
        self._engine.register_action(DEPLOY_OFFER, self.on_click)
        self._engine.register_action(POWER_ON_OFFER, self.on_power_on_click)

    async def after_flash(self, job: Job, outcome: Finished) -> None:
        """Post the offer when a flash succeeded and deploys exist."""
        if outcome.state is not JobState.succeeded or not self._engine.has_kind(DEPLOY):
            return
        node = _node_of(job)
        await self._engine.chat.post(
            job.channel_id,
            messages.deploy_offer(node),
            deploy_offer_blocks(messages.deploy_offer(node), node, job.cancel_token),
            thread_ts=job.thread_ts,
        )

    async def on_click(self, actor: Actor, value: str, origin: ClickOrigin) -> str:
        """Start the deploy the offer names, once."""
        flash = await self._flash(value, origin, JobState.succeeded)
        if isinstance(flash, str):
            return flash
        return await self._start_once(
            actor, flash, DEPLOY, messages.deploy_offer_taken, messages.deploy_offer_started
        )

    async def on_power_on_click(self, actor: Actor, value: str, origin: ClickOrigin) -> str:
        """Power the node of an interrupted flash on, once."""
        flash = await self._flash(value, origin, JobState.interrupted)
        if isinstance(flash, str):
            return flash
        return await self._start_once(
            actor, flash, POWER, messages.power_on_offer_taken, messages.power_on_offer_started
        )

    async def _flash(self, token: str, origin: ClickOrigin, state: JobState) -> Job | str:
        """The flash job whose offer was clicked, or the answer when the button is not valid."""
        flash = await self._engine.jobs.by_cancel_token(token)
        if (
            flash is None
            or flash.kind != FLASH
            or flash.state is not state
            or origin.channel_id != flash.channel_id  # the offer is in the flash's thread
        ):
            return engine_messages.button_not_valid()
        return flash

    async def _start_once(
        self,
        actor: Actor,
        flash: Job,
        kind: str,
        taken: Callable[[str, int], str],
        started: Callable[[str, int], str],
    ) -> str:
        """Start `deploy NODE` or `power NODE on` for the flash's node, unless a job doing so
        was started since the flash ended."""
        if not actor.may(Role.operator):
            have = actor.role.name if actor.role else "no role"
            return engine_messages.role_too_low(kind, Role.operator.name, have)
        node = _node_of(flash)
        text = f"{DEPLOY} {node}" if kind == DEPLOY else f"{POWER} {node} on"
        for job in await self._engine.jobs.recent(limit=50):
            if (
                job.kind == kind
                and job.text == text
                and job.created_at >= (flash.finished_at or flash.created_at)
            ):
                return taken(node, job.id)
        job = await self._engine.submit(
            kind,
            text=text,
            requester=actor.user_id,
            channel_id=flash.channel_id,
            targets=[node_target(node)],
        )
        return started(node, job.id)


def deploy_offer_blocks(text: str, node: str, token: str) -> list[Block]:
    """The offer after a flash: a sentence and a Deploy button carrying an opaque token."""
    return blocks.offer(text, f"deploy-offer-{node}", f"Deploy {node}", DEPLOY_OFFER, token)
