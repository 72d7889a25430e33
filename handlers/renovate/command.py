"""`/lab renovate` (list the open Renovate PRs) and `/lab renovate check` (run the check now).

Must not merge or post cards itself: the check is `RenovateBoard.check`, merges are card clicks.
"""

from __future__ import annotations

from bot import messages as engine_messages
from bot.command_spec import Command
from bot.context import HandlerContext
from bot.integrations.github import GitHubError
from bot.job_records import now_utc
from bot.outcome import Outcome, Reply
from handlers.renovate import messages
from handlers.renovate.board import RenovateBoard
from handlers.renovate.cards import RenovateCards


async def renovate_command(ctx: HandlerContext, command: Command) -> Outcome:
    """List the open Renovate PRs with CI and card state, or (`check`) run the check now."""
    github = ctx.config.github
    if github is None:
        return Reply(messages.renovate_not_configured())
    if command.arg("action") == "check":
        board = RenovateBoard(ctx.config, ctx.store, ctx.jobs.chat, ctx.services, ctx.jobs)
        try:
            summary = await board.check()
        except GitHubError as exc:
            return Reply(engine_messages.integration_failed(str(exc)))
        return Reply(
            messages.renovate_check_done(
                summary.open_prs, summary.posted, summary.updated, summary.closed, summary.problems
            )
        )
    gh = await ctx.services.github()
    cards = RenovateCards(ctx.store.sessions)
    try:
        pulls = await gh.list_renovate_prs()
        lines = [messages.renovate_list_heading(github.repo, len(pulls))]
        for pull in pulls:
            ci = await gh.ci(pull.head_sha)
            card = await cards.by_pr(pull.number)
            lines.append(
                messages.renovate_list_line(
                    pull.html_url,
                    pull.number,
                    pull.title,
                    ci.verdict.value,
                    messages.renovate_list_card(
                        card.state.value if card else None,
                        card is not None and card.skipped_sha == pull.head_sha,
                    ),
                    messages.renovate_age((now_utc() - pull.created_at).total_seconds()),
                )
            )
    except GitHubError as exc:
        return Reply(engine_messages.integration_failed(str(exc)))
    if not pulls:
        return Reply(messages.renovate_no_prs(github.repo))
    return Reply("\n".join(lines))
