"""After a deploy whose nodes need a reboot to run what was deployed: a Reboot button per node.

1. When a deploy succeeds, each deployed node's booted kernel, initrd and kernel modules are
   compared with what it now runs (`switch`, `test`) or boots next (`boot`); where they differ,
   the thread gets "tp-node3 needs a reboot …" with a Reboot button carrying the deploy's opaque
   token and the node's position among its targets (no node name in the button).
2. A click by someone with the operator role starts `reboot NODE` as a normal reboot job — drained
   from k3s, Longhorn checked, its own approval — once; a second click says which job it started.
"""

from __future__ import annotations

from bot import blocks
from bot import messages as engine_messages
from bot.actions import PREFIX
from bot.approvals import ClickOrigin
from bot.capability import CapabilityContext
from bot.errors import IntegrationError
from bot.integrations.colmena_output import Goal
from bot.job_offers import offered_from, start_once
from bot.job_run import Finished
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.policy import Actor
from handlers.deploy import messages
from handlers.deploy.fanout import for_each_node
from handlers.deploy.generations import node_pool
from handlers.deploy.plan import DeployPlan, job_nodes, requested_goal
from handlers.deploy.reboot import pending_reboot, reboot_text

REBOOT_OFFER = PREFIX + "reboot-offer"
DEPLOY = "deploy"
REBOOT = "reboot"
MAX_OFFERS = 6  # more nodes than this get one sentence, not a button each


def start(context: CapabilityContext) -> None:
    """At start: the check after deploys, and the buttons."""
    RebootOffers(context.jobs).register()


class RebootOffers:
    """The Reboot buttons after a deploy, and what their clicks do."""

    def __init__(self, engine: JobEngine) -> None:
        self._engine = engine

    def register(self) -> None:
        """Hook into the engine: after deploy jobs, and on the button."""
        self._engine.on_finished(DEPLOY, self.after_deploy)
        self._engine.register_action(REBOOT_OFFER, self.on_click)

    async def after_deploy(self, job: Job, outcome: Finished) -> None:
        """Offer a reboot for each deployed node whose new system waits for one."""
        config = self._engine.config
        if outcome.state is not JobState.succeeded or config.ssh is None:
            return
        if not job.payload.get("nodes"):
            return  # nothing was switched
        goal = requested_goal(job.text)
        if goal is Goal.dry_activate:
            return
        names = [n.name for n in DeployPlan.model_validate(job.payload).nodes]
        target = "/nix/var/nix/profiles/system" if goal is Goal.boot else "/run/current-system"
        try:
            async with node_pool(config.ssh, config, names) as pool:
                found = await for_each_node(names, lambda name: pending_reboot(pool, name, target))
        except IntegrationError:
            return  # the deploy's own verdict stands; `/lab status` shows it later
        waiting = [(name, parts) for name, parts in zip(names, found, strict=True) if parts]
        targets = job_nodes(job)
        for name, parts in waiting[:MAX_OFFERS]:
            text = messages.reboot_offer(name, parts, goal is Goal.boot)
            value = f"{job.cancel_token}:{targets.index(name)}"
            await self._engine.chat.post(
                job.channel_id,
                text,
                blocks.offer(text, f"reboot-offer-{name}", f"Reboot {name}", REBOOT_OFFER, value),
                thread_ts=job.thread_ts,
            )
        if len(waiting) > MAX_OFFERS:
            rest = [name for name, _ in waiting[MAX_OFFERS:]]
            await self._engine.chat.post(
                job.channel_id, messages.reboot_offer_more(rest), None, thread_ts=job.thread_ts
            )

    async def on_click(self, actor: Actor, value: str, origin: ClickOrigin) -> str:
        """Start `reboot NODE` for the node the button stands for, once."""
        token, _, index = value.rpartition(":")
        deploy = await offered_from(self._engine, token, origin, DEPLOY, JobState.succeeded)
        targets = job_nodes(deploy) if deploy is not None else []
        if deploy is None or not index.isdigit() or int(index) >= len(targets):
            return engine_messages.button_not_valid()
        node = self._engine.config.inventory.node(targets[int(index)])
        if node is None:
            return engine_messages.button_not_valid()  # the node left the inventory since
        return await start_once(
            self._engine,
            actor,
            deploy,
            kind=REBOOT,
            text=reboot_text(node),
            node=node.name,
            taken=messages.reboot_offer_taken,
            started=messages.reboot_offer_started,
        )
