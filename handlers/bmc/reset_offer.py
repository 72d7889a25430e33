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
from bot.job_offers import offered_from, start_once
from bot.job_state import JobState
from bot.jobs import JobEngine
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
        reboot = await offered_from(self._engine, value, origin, REBOOT, JobState.failed)
        if reboot is None:
            return engine_messages.button_not_valid()
        node = reboot.text.split()[1]  # `reboot NODE [--no-drain]`
        return await start_once(
            self._engine,
            actor,
            reboot,
            kind=POWER,
            text=f"{POWER} {node} reset",
            node=node,
            taken=messages.reset_offer_taken,
            started=messages.reset_offer_started,
        )
