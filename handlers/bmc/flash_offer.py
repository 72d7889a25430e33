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

from bot import blocks
from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.approvals import ClickOrigin
from bot.capability import CapabilityContext
from bot.chat import Block
from bot.job_offers import offered_from, start_once
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
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
        flash = await offered_from(self._engine, value, origin, FLASH, JobState.succeeded)
        if flash is None:
            return engine_messages.button_not_valid()
        node = _node_of(flash)
        return await start_once(
            self._engine,
            actor,
            flash,
            kind=DEPLOY,
            text=f"{DEPLOY} {node}",
            node=node,
            taken=messages.deploy_offer_taken,
            started=messages.deploy_offer_started,
        )

    async def on_power_on_click(self, actor: Actor, value: str, origin: ClickOrigin) -> str:
        """Power the node of an interrupted flash on, once."""
        flash = await offered_from(self._engine, value, origin, FLASH, JobState.interrupted)
        if flash is None:
            return engine_messages.button_not_valid()
        node = _node_of(flash)
        return await start_once(
            self._engine,
            actor,
            flash,
            kind=POWER,
            text=f"{POWER} {node} on",
            node=node,
            taken=messages.power_on_offer_taken,
            started=messages.power_on_offer_started,
        )


def deploy_offer_blocks(text: str, node: str, token: str) -> list[Block]:
    """The offer after a flash: a sentence and a Deploy button carrying an opaque token."""
    return blocks.offer(text, f"deploy-offer-{node}", f"Deploy {node}", DEPLOY_OFFER, token)
