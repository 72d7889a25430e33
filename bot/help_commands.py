"""`/lab help [COMMAND]` and `/lab whoami`: answers generated from the command table.

1. Read the table and the requester's role.  2. Reply ephemerally.  Changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot import blocks, messages
from bot.command_spec import Approval, Command, CommandSpec, configured_approval
from bot.context import HandlerContext
from bot.outcome import Outcome, Reply
from bot.policy import Actor


def _forms_for(
    actor: Actor, specs: Iterable[CommandSpec], prefix: str
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """What the actor may run, as (usage, summary) lines and names, and the names of the forms
    that need a higher role: a command whose forms differ (`power NODE status` for viewers)
    shows only the forms the actor may run."""
    lines: list[tuple[str, str]] = []
    names: list[str] = []
    hidden: list[str] = []
    for spec in specs:
        forms = spec.forms(prefix)
        allowed = [form for form in forms if actor.may(form.role)]
        if len(allowed) == len(forms):
            lines.append((spec.usage(prefix), spec.summary))
            names.append(spec.name)
            continue
        lines += [(form.usage, spec.summary) for form in allowed]
        names += [form.name for form in allowed]
        hidden += [form.name for form in forms if form not in allowed]
    return lines, names, hidden


async def help_command(ctx: HandlerContext, command: Command) -> Outcome:
    """List the commands the requester may run, or explain one command."""
    topic = command.arg("command")
    if isinstance(topic, str):
        spec = ctx.commands.get(topic) or next(
            (s for s in ctx.commands if s.name.split()[0] == topic), None
        )
        if spec is None:
            suggestion = ctx.commands.suggest(topic)
            return Reply(messages.unknown_help_topic(topic, suggestion, ctx.prefix))
        related = [s for s in ctx.commands if s.name.split()[0] == spec.name.split()[0]]
        approvals = ctx.config.approvals

        def approval_of(name: str, declared: Approval) -> Approval:
            return configured_approval(approvals, name, (), declared)

        return Reply(
            text=f"Help for {spec.name}",
            blocks=blocks.command_help(
                related, ctx.prefix, approval_of, approvals.second_person_tags
            ),
        )
    lines, _names, hidden = _forms_for(ctx.actor, ctx.commands, ctx.prefix)
    return Reply(
        text=messages.help_header(ctx.prefix),
        blocks=blocks.command_list(lines, hidden, ctx.prefix),
    )


async def whoami_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Say who the requester is to labbot and what they may run."""
    role = ctx.actor.role.name if ctx.actor.role else None
    _lines, names, hidden = _forms_for(ctx.actor, ctx.commands, ctx.prefix)
    return Reply(messages.whoami(ctx.actor.user_id, role, names, hidden))
