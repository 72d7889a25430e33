"""The Block Kit of a Renovate card: title and link, what changes, CI per check, mergeability, age,
and the buttons (which carry only the card's token)."""

from __future__ import annotations

from collections.abc import Sequence

from bot import blocks
from bot.actions import PREFIX
from bot.chat import Block
from handlers.renovate import messages
from handlers.renovate.cards import CardView

RENOVATE_MERGE = PREFIX + "renovate-merge"
RENOVATE_DEPLOY = PREFIX + "renovate-deploy"
RENOVATE_SKIP = PREFIX + "renovate-skip"

CARD_CHANGE_LINES = 25
CARD_CHECK_LINES = 20
# Character budgets that keep a whole card under Slack's ~12k characters of block text.
CARD_CHANGE_TEXT = 4500
CARD_CHECK_TEXT = 3500
CARD_LINE_TEXT = 300
CARD_SUMMARY_TEXT = 800
CARD_CI_HEADING_TEXT = 700


def renovate_card(view: CardView) -> list[Block]:
    """A Renovate card: title and link, what changes, CI per check, mergeability, age, buttons.

    The buttons (open pull requests only, none while a merge job runs) carry only the card's
    token; Skip is left out while the card is skipped at the head it shows.
    """
    facts = view.facts
    opened = facts.created_at
    out = [
        blocks.header(messages.renovate_card_heading(facts.number, facts.title)),
        blocks.section(
            blocks.clip(
                messages.renovate_card_summary(
                    facts.url,
                    facts.number,
                    facts.branch,
                    facts.base_ref,
                    int(opened.timestamp()),
                    f"{opened:%Y-%m-%d %H:%M} UTC",
                    messages.renovate_age(facts.age.total_seconds()),
                ),
                CARD_SUMMARY_TEXT,
            )
        ),
        *_line_sections(
            messages.renovate_changes_heading(facts.change_source.value),
            _change_lines(view),
            CARD_CHANGE_LINES,
            CARD_CHANGE_TEXT,
        ),
        *_line_sections(
            blocks.clip(_ci_heading(view), CARD_CI_HEADING_TEXT),
            _check_lines(view),
            CARD_CHECK_LINES,
            CARD_CHECK_TEXT,
        ),
    ]
    notes = [messages.renovate_card_head(facts.head_sha)]
    if view.state == "merged":
        notes.append(messages.renovate_card_merged(None, view.deploy))
    elif view.state == "closed":
        notes.append(messages.renovate_card_closed())
    else:
        out.append(
            blocks.section(messages.renovate_mergeable(facts.mergeable, facts.mergeable_state))
        )
        if view.skipped_by:
            notes.append(messages.renovate_card_skipped(view.skipped_by, facts.head_sha))
        if view.job_id is not None:
            notes.append(messages.renovate_card_busy(view.job_id))
    ci = facts.ci
    mergeable_now = ci.verdict.value == "green" and ci.required_ok and facts.mergeable is True
    if view.state == "open" and view.job_id is None and not mergeable_now:
        notes.append(
            messages.renovate_not_mergeable_yet(
                ci.verdict.value,
                ci.failing,
                [*ci.missing_required, *ci.pending_required],
                facts.mergeable,
                facts.mergeable_state,
            )
        )
    out.append(blocks.context("\n".join(notes)))
    if view.state == "open" and view.job_id is None:
        buttons = []
        if mergeable_now:  # a merge GitHub or CI would refuse is not offered
            buttons.append(
                blocks.button(
                    messages.renovate_merge_button(), RENOVATE_MERGE, view.token, "primary"
                )
            )
            if view.deploy_targets:
                label = messages.renovate_deploy_button(view.deploy_targets)
                buttons.append(blocks.button(label, RENOVATE_DEPLOY, view.token))
        if not view.skipped_by:
            buttons.append(
                blocks.button(messages.renovate_skip_button(), RENOVATE_SKIP, view.token)
            )
        if buttons:
            block_id = f"renovate-{facts.number}"
            out.append({"type": "actions", "block_id": block_id, "elements": buttons})
    return out[: blocks.MAX_BLOCKS]


def _change_lines(view: CardView) -> list[str]:
    facts = view.facts
    if facts.change_source == "flake_lock":
        if not facts.changes:
            return [messages.renovate_no_changes(messages.renovate_lock_unchanged())]
        return [
            messages.renovate_input_change(
                c.name,
                c.source,
                c.kind.value,
                c.old_rev,
                c.new_rev,
                f"{c.old_date:%Y-%m-%d}" if c.old_date else None,
                f"{c.new_date:%Y-%m-%d}" if c.new_date else None,
            )
            for c in facts.changes
        ]
    if facts.change_source == "pr_body":
        return [messages.renovate_table_row(r.package, r.update, r.change) for r in facts.table]
    return [messages.renovate_no_changes(facts.lock_problem)]


def _ci_heading(view: CardView) -> str:
    ci = view.facts.ci
    return messages.renovate_ci_heading(
        ci.verdict.value, ci.combined_state, ci.failing, ci.missing_required
    )


def _check_lines(view: CardView) -> list[str]:
    ci, required = view.facts.ci, set(view.required_checks)
    lines = [
        messages.renovate_check_line(
            s.context,
            s.outcome.value,
            f"{s.state}: {s.description}" if s.description else s.state,
            s.context in required,
        )
        for s in ci.statuses
    ]
    lines += [
        messages.renovate_check_line(
            r.name,
            r.outcome.value,
            (r.conclusion or r.status) if r.status == "completed" else r.status,
            r.name in required,
        )
        for r in ci.check_runs
    ]
    return lines


def _line_sections(heading: str, lines: Sequence[str], limit: int, budget: int) -> list[Block]:
    """A card's list of lines (see `line_sections`)."""
    return blocks.line_sections(
        heading,
        lines,
        limit=limit,
        budget=budget,
        line_chars=CARD_LINE_TEXT,
        more=messages.renovate_more_lines,
    )
