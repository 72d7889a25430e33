"""End to end over the real Socket Mode WebSocket: help, whoami, refusals, audit rows, ack-first."""

from __future__ import annotations

import asyncio

from bot.app import LabBot
from bot.capabilities import CAPABILITIES
from bot.capability import Capability
from bot.command_spec import Command, CommandSpec
from bot.config import Role
from bot.outcome import Outcome, Reply
from bot.store import AuditKind
from labsim.lab import LAB_CHANNEL, OTHER_CHANNEL, Lab
from labsim.slack import Ephemeral


async def ask(lab: Lab, user: str, text: str, channel: str = LAB_CHANNEL) -> Ephemeral:
    """Send `/lab text` as `user` and return the ephemeral reply that follows."""
    before = len(lab.slack.ephemerals(user))
    result = await lab.slack.user(user).slash(text, channel=channel)
    await result.acked()
    replies = await lab.slack.wait_for(
        lambda: lab.slack.ephemerals(user)[before:] or None, timeout=10
    )
    return replies[0]


def all_text(reply: Ephemeral) -> str:
    parts = [reply.text]
    for block in reply.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements", []):
            parts.append(str(element.get("text", "")))
    return "\n".join(parts)


async def test_help_lists_commands(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.admin, "help")
    text = all_text(reply)
    assert "`/lab help [COMMAND]`" in text
    assert "`/lab whoami`" in text


async def test_help_for_one_command(lab: Lab, bot: LabBot) -> None:
    text = all_text(await ask(lab, lab.users.viewer, "help whoami"))
    assert "*`/lab whoami`*" in text
    assert "Role: viewer; no approval." in text
    assert "Example: `/lab whoami`" in text


async def test_a_viewers_help_and_whoami_list_only_what_a_viewer_may_run(
    lab: Lab, bot: LabBot
) -> None:
    text = all_text(await ask(lab, lab.users.viewer, "help"))
    assert "`/lab power NODE status`" in text
    assert "`/lab power NODE on|off|reset|status`" not in text
    assert "`/lab power NODE off`" not in text and "`/lab deploy" not in text
    assert "`/lab renovate`\n" in text and "`/lab renovate check`" not in text
    higher = text.split("Needing a higher role:")[1]
    assert "power on" in higher and "renovate check" in higher and "deploy" in higher
    whoami = (await ask(lab, lab.users.viewer, "whoami")).text
    may, needs = whoami.split("Needing a higher role:")
    assert "power status" in may and "power off" not in may and "power off" in needs
    admin = all_text(await ask(lab, lab.users.admin, "help"))
    assert "`/lab power NODE on|off|reset|status`" in admin and "Needing a higher role" not in admin


async def test_help_says_who_approves_as_configured(lab: Lab) -> None:
    lab.config_overrides["approvals"] = {"deploy": "other", "rollback": "none"}
    async with lab.bot():
        await lab.slack.wait_connected()
        deploy = all_text(await ask(lab, lab.users.viewer, "help deploy"))
        assert "Role: operator; approval by a second person with that role." in deploy
        rollback = all_text(await ask(lab, lab.users.viewer, "help rollback"))
        assert "Role: operator; no approval." in rollback
        power = all_text(await ask(lab, lab.users.viewer, "help power"))
        assert (
            "Role: operator; approval by someone with that role, the requester included "
            "(a second person on nodes tagged `four-eyes`)." in power
        )
        assert "With `on`: role operator; no approval." in power
        flash = all_text(await ask(lab, lab.users.viewer, "help flash"))
        assert "approval by a second person with that role" in flash


async def test_whoami_names_role_from_user_group(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.viewer, "whoami")
    assert f"<@{lab.users.viewer}>, role *viewer*" in reply.text
    reply = await ask(lab, lab.users.admin, "whoami")
    assert "role *admin*" in reply.text


async def test_unknown_command_gets_a_suggestion(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.operator, "whoamii")
    assert "Unknown command `whoamii`. Did you mean `whoami`?" in reply.text


async def test_unknown_user_is_refused_and_audited(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.stranger, "help")
    assert "you have no labbot role" in reply.text
    entries = await bot.store.audit_entries()
    kinds = [(e.kind, e.user_id) for e in entries]
    assert (AuditKind.command, lab.users.stranger) in kinds
    refusal = next(e for e in entries if e.kind is AuditKind.refusal)
    assert refusal.user_id == lab.users.stranger and "no labbot role" in refusal.detail


async def test_channel_not_allowed_is_refused(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.admin, "whoami", channel=OTHER_CHANNEL)
    assert "does not take commands in this channel" in reply.text
    assert f"<#{LAB_CHANNEL}>" in reply.text
    entries = await bot.store.audit_entries()
    assert any(e.kind is AuditKind.refusal and e.channel_id == OTHER_CHANNEL for e in entries)
    # Nothing was posted in either channel: refusals are ephemeral.
    assert lab.slack.messages(OTHER_CHANNEL) == []
    assert lab.slack.messages(LAB_CHANNEL) == []


async def test_every_step_is_audited(lab: Lab, bot: LabBot) -> None:
    await ask(lab, lab.users.admin, "whoami")
    await ask(lab, lab.users.admin, "nonsense")
    entries = await bot.store.audit_entries()
    summary = [(e.kind, e.text) for e in entries]
    assert summary == [
        (AuditKind.command, "whoami"),
        (AuditKind.reply, "whoami"),
        (AuditKind.command, "nonsense"),
        (AuditKind.refusal, "nonsense"),
    ]


async def test_ack_comes_before_slow_work(lab: Lab) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished = asyncio.Event()

    async def slow(ctx: object, command: Command) -> Outcome:
        started.set()
        try:  # the work takes 5 s unless the test releases it earlier
            await asyncio.wait_for(release.wait(), timeout=5)
        except TimeoutError:
            pass
        finished.set()
        return Reply("slow work done")

    slow_spec = CommandSpec(
        name="slow", summary="takes 5 s", role=Role.viewer, handler=slow, example="slow"
    )
    async with lab.bot([*CAPABILITIES, Capability(name="slow", commands=(slow_spec,))]):
        await lab.slack.wait_connected()
        result = await lab.slack.user(lab.users.admin).slash("slow", channel=LAB_CHANNEL)
        ack = await result.acked(timeout=1)
        assert ack.latency < 1.0
        await asyncio.wait_for(started.wait(), timeout=5)
        assert not finished.is_set()  # the ack did not wait for the work
        release.set()
        reply = await lab.slack.wait_for(
            lambda: [e for e in lab.slack.ephemerals(lab.users.admin) if e.text == "slow work done"]
        )
        assert reply


async def test_internal_error_is_one_sentence_and_logged(lab: Lab) -> None:
    async def broken(ctx: object, command: Command) -> Outcome:
        raise RuntimeError("secret detail that must not reach Slack")

    broken_spec = CommandSpec(
        name="broken", summary="fails", role=Role.viewer, handler=broken, example="x"
    )
    async with lab.bot([*CAPABILITIES, Capability(name="broken", commands=(broken_spec,))]) as bot:
        await lab.slack.wait_connected()
        reply = await ask(lab, lab.users.admin, "broken")
        assert "Something went wrong inside labbot" in reply.text
        assert "secret detail" not in reply.text
        entries = await bot.store.audit_entries()
        assert entries[-1].kind is AuditKind.error


async def test_redelivered_envelope_runs_once(lab: Lab, bot: LabBot) -> None:
    await ask(lab, lab.users.admin, "whoami")
    first = len(lab.slack.ephemerals(lab.users.admin))
    # Slack re-delivers an envelope it believes unacked; the bot must not run it again.
    result = await lab.slack.user(lab.users.admin).slash("whoami", channel=LAB_CHANNEL)
    await result.acked()
    await lab.slack.wait_for(lambda: len(lab.slack.ephemerals(lab.users.admin)) > first)
    await lab.slack.redeliver(result.envelope_id)
    # A fresh command behind the re-delivered one: once it is answered, a duplicate would be too.
    await ask(lab, lab.users.admin, "help")
    entries = await bot.store.audit_entries()
    assert [e.text for e in entries if e.kind is AuditKind.command] == ["whoami", "whoami", "help"]
    assert len([e for e in lab.slack.ephemerals(lab.users.admin) if "role *admin*" in e.text]) == 2


async def test_pasted_secret_is_not_audited_or_echoed(lab: Lab, bot: LabBot) -> None:
    secret = "ghp_" + "x1Y2z3" * 6
    reply = await ask(lab, lab.users.admin, f"whoami {secret}")
    assert secret not in reply.all_text()
    for entry in await bot.store.audit_entries():
        assert secret not in entry.text and secret not in entry.detail
