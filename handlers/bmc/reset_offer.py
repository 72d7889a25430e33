"""The BMC power reset offered when a node did not come back from `/lab reboot`.

1. The deploy capability's reboot job, when the node never answered with a new boot id, posts a
   "Reset NODE" button in its thread carrying the job's opaque token (`RESET_OFFER`).
2. A click by someone with the operator role starts `power NODE reset` as a normal power job
   (its own approval per `approvals.power`), once; a second click says which job it started.
"""

from __future__ import annotations

from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.approvals import ClickOrigin
from bot.capability import CapabilityContext
from bot.config import Role
from bot.job_state import JobState
from bot.jobs import JobEngine
from bot.locks import node_target
from bot.policy import Actor
from handlers.bmc import messages

# The reboot job kind and its button, named as handlers/deploy/reboot.py names them
# (capabilities do not import each other).
REBOOT = "reboot"
RESET_OFFER = PREFIX + "reset-after-reboot"
POWER = "power"


def start(context: CapabilityContext) -> None:
    """At start: the reset button's click handler."""
    ResetOffers(context.jobs).register()


class ResetOffers:
    """What a click on "Reset NODE" under a reboot that did not come back does."""

    def __init__(self, engine: JobEngine) -> None:
        self._engine = engine

    def register(self) -> None:
        """Hook the button into the engine."""
        self._engine.register_action(RESET_OFFER, self.on_click)

    async def on_click(self, actor: Actor, value: str, origin: ClickOrigin) -> str:
        """Start `power NODE reset` for the reboot's node, unless one was started since."""
        reboot = await self._engine.jobs.by_cancel_token(value)
        if (
            reboot is None
            or reboot.kind != REBOOT
            or reboot.state is not JobState.failed
            or origin.channel_id != reboot.channel_id
        ):
            return engine_messages.button_not_valid()
        if not actor.may(Role.operator):
            have = actor.role.name if actor.role else "no role"
            return engine_messages.role_too_low(POWER, Role.operator.name, have)
        node = reboot.text.split()[1]  # `reboot NODE [--no-drain]`
        text = f"{POWER} {node} reset"
        for job in await self._engine.jobs.recent(limit=50):
            if (
                job.kind == POWER
                and job.text == text
                and job.created_at >= (reboot.finished_at or reboot.created_at)
            ):
                return messages.reset_offer_taken(node, job.id)
        job = await self._engine.submit(
            POWER,
            text=text,
            requester=actor.user_id,
            channel_id=reboot.channel_id,
            targets=[node_target(node)],
        )
        return messages.reset_offer_started(node, job.id)
