"""`/lab status [NODE] [--channel]`: the digest, now — for the whole lab or one node.

Must not store anything: the day-over-day comparison stays between digests, so a status
looked at during the day neither hides nor invents a change.

1. Read the last digest's snapshot.  2. Collect the lab now (or just NODE and its board,
plus a k3s server for readiness).  3. Judge it and compare with the last digest.  4. Reply
only to the requester (the summary; with NODE, its details too), or with `--channel` post it
in the channel, details in the thread, as the digest does.
Checklist: lock — none (reads only); approval — none (viewer); timeout — per source, as the
digest; cancel — none (bounded by the timeouts); redaction — by the dispatcher, or by the
chat that posts (`bot/outbound.py`); audit — the dispatcher's command and reply rows; tests — tests/scenarios/test_status.py.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.chat import ChatError, PosterRateLimited
from bot.command_spec import Command
from bot.context import HandlerContext
from bot.outcome import Outcome, Reply
from handlers.status import messages
from handlers.status.digest import DigestRunner, post_with_thread
from handlers.status.digest_blocks import node_message, summary_message, thread_messages
from handlers.status.digest_report import build_report, carry_forward
from handlers.status.digest_store import DigestStore
from handlers.status.lab_snapshot import LabSnapshotCollector


async def status_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Gather the lab (or one node) now and show it like the digest does."""
    node = command.arg("node")
    to_channel = command.arg("channel") is True
    config = ctx.config
    zone = ZoneInfo(config.schedules.timezone)
    previous = await DigestStore(ctx.store.sessions).latest()
    collector = LabSnapshotCollector(config, ctx.services, ctx.store)
    only = [node] if isinstance(node, str) else None
    last_build = previous.drift if previous is not None else None
    snapshot = carry_forward(previous, await collector.collect(only, last_build=last_build))
    report = build_report(previous, snapshot, config)
    if isinstance(node, str):
        message = node_message(
            report,
            title=messages.status_title(node),
            zone=zone,
            hint=messages.status_one_node_hint(ctx.prefix),
        )
        details = []
    else:
        message = summary_message(
            report,
            title=messages.status_title("now"),
            zone=zone,
            late=None,
            hint=messages.digest_thread_hint()
            if to_channel
            else messages.status_node_hint(ctx.prefix),
        )
        details = thread_messages(report, zone)
    if not to_channel:
        return Reply(message.text, message.blocks)
    try:
        await post_with_thread(ctx.jobs.chat, ctx.channel_id, message, details)
    except (ChatError, PosterRateLimited) as error:
        return Reply(messages.status_not_posted(str(error)))
    return None


async def digest_command(ctx: HandlerContext, command: Command) -> Outcome:
    """`/lab digest` (admin): the nightly digest now, in its channel, as the schedule posts it
    (and kept as the day's snapshot that the next digest compares with)."""
    if not ctx.config.digest.enabled:
        return Reply(messages.digest_disabled())
    try:
        posted = await DigestRunner(ctx.config, ctx.store, ctx.jobs.chat, ctx.services).run()
    except (ChatError, PosterRateLimited) as exc:
        return Reply(messages.status_not_posted(str(exc)))
    return Reply(messages.digest_posted_now(posted.channel))


async def nodes_command(ctx: HandlerContext, command: Command) -> Outcome:
    """`/lab nodes`: every node of the inventory, one line each, as the lab says now."""
    config = ctx.config
    names = [n.name for n in config.inventory.nodes]
    if not names:
        return Reply(messages.no_nodes())
    snapshot = await LabSnapshotCollector(config, ctx.services, ctx.store).collect(names)
    facts = {f.name: f for f in snapshot.nodes}
    lines = [
        messages.node_line(
            node.name,
            node.board,
            node.slot,
            node.module,
            node.k3s_role.value,
            node.tags,
            facts.get(node.name),
            node.deferred,
        )
        for node in config.inventory.nodes
    ]
    return Reply(messages.nodes_list(len(lines), lines))
