"""Runs one `/lab` request: channel check, parse, authorize, handler, reply, with an audit row each step.

Knows nothing about slack_bolt: it gets a typed request and a `Responder` from `bot/slack_app.py`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from bot import messages
from bot.approvals import ClickOrigin
from bot.command_spec import Command, CommandTable
from bot.config import Config
from bot.context import HandlerContext
from bot.errors import UserError
from bot.intake import ClickRequest, CommandRequest
from bot.jobs import JobEngine
from bot.outbound import outbound_blocks, outbound_text
from bot.outcome import Reply
from bot.parser import parse
from bot.policy import Policy
from bot.store import AuditKind, Store

log = logging.getLogger(__name__)


class Responder(Protocol):
    """Sends a reply to the person who asked (ephemeral unless the reply says in channel)."""

    async def reply(self, reply: Reply) -> None:
        """Send the reply."""
        ...


class Dispatcher:
    """Turns requests into handler calls under the policy, auditing every step."""

    def __init__(
        self,
        config: Config,
        store: Store,
        policy: Policy,
        commands: CommandTable,
        jobs: JobEngine,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.store = store
        self.policy = policy
        self.commands = commands
        self._node_names = [n.name for n in config.inventory.nodes]

    async def handle_command(self, request: CommandRequest, responder: Responder) -> None:
        """Run one slash command end to end; never raises."""
        try:
            await self._handle_command(request, responder)
        except Exception:  # the boundary: a bug must become a sentence, not a dead task
            reference = uuid.uuid4().hex[:8]
            log.exception("command failed (reference %s)", reference)
            await self._audit(AuditKind.error, request, "", f"internal error {reference}")
            await self._send(responder, Reply(messages.internal_error(reference)))

    async def _handle_command(self, request: CommandRequest, responder: Responder) -> None:
        # The request's arrival is audited by the intake, in the commit made before the ack.
        if not self.policy.channel_allowed(request.channel_id):
            await self._refuse(
                request, responder, "", self.policy.channel_refusal(request.channel_id)
            )
            return
        actor = await self.policy.actor(request.user_id)
        if actor.role is None:
            await self._refuse(request, responder, "", messages.no_role(request.user_id))
            return
        parsed = parse(request.text, self.commands, self._node_names, self.config.slack.command)
        if isinstance(parsed, Reply):
            await self._audit(AuditKind.refusal, request, "", parsed.text)
            await self._send(responder, parsed)
            return
        verdict = self.policy.authorize(actor, parsed)
        if not verdict.allowed:
            await self._refuse(request, responder, parsed.name, verdict.reason)
            return
        context = HandlerContext(
            config=self.config,
            store=self.store,
            policy=self.policy,
            commands=self.commands,
            actor=actor,
            channel_id=request.channel_id,
            jobs=self.jobs,
            services=self.jobs.services,
            text=request.text,
        )
        await self._run(parsed, context, request, responder)

    async def _run(
        self,
        command: Command,
        context: HandlerContext,
        request: CommandRequest,
        responder: Responder,
    ) -> None:
        try:
            outcome = await command.spec.handler(context, command)
        except UserError as error:
            await self._refuse(request, responder, command.name, str(error))
            return
        if outcome is not None:
            await self._audit(AuditKind.reply, request, command.name, outcome.text)
            await self._send(responder, outcome)

    async def handle_click(self, click: ClickRequest, responder: Responder) -> None:
        """A button click: audited, then decided by the job engine; the answer is ephemeral."""
        try:
            answer = await self.jobs.click(
                click.user_id,
                click.action_id,
                click.value,
                ClickOrigin(click.channel_id, click.message_ts),
                user_name=click.user_name,
            )
        except Exception:  # the boundary, as for commands
            reference = uuid.uuid4().hex[:8]
            log.exception("click failed (reference %s)", reference)
            answer = messages.internal_error(reference)
        await self._send(responder, Reply(answer))

    async def _refuse(
        self, request: CommandRequest, responder: Responder, command: str, reason: str
    ) -> None:
        await self._audit(AuditKind.refusal, request, command, reason)
        await self._send(responder, Reply(reason))

    async def _send(self, responder: Responder, reply: Reply) -> None:
        """Every reply leaves through here, redacted, then fitted to Block Kit's limits (redaction
        can lengthen text): refusals may quote what the user typed."""
        redactor = self.jobs.redactor
        await responder.reply(
            Reply(
                text=outbound_text(redactor, reply.text),
                blocks=outbound_blocks(redactor, reply.blocks),
                in_channel=reply.in_channel,
            )
        )

    async def _audit(
        self, kind: AuditKind, request: CommandRequest, command: str, detail: str
    ) -> None:
        # Store.audit redacts (a pasted secret must not land in the audit log).
        await self.store.audit(
            kind,
            user_id=request.user_id,
            channel_id=request.channel_id,
            command=command,
            text=request.text,
            detail=detail,
        )
