"""Renovate cards, their clicks and checks, and merge jobs.

The capability's own sentences, beside the engine's in `bot.messages`: plain mrkdwn strings,
never handed a secret value.

Long because: every sentence a card, a click, a check and a merge job can say is here, so the
wording is reviewed (and kept consistent) in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.messages.core import _names, outside, state_word
from bot.outside_text import plain_text

# --- Renovate cards -------------------------------------------------------------------------

_CI_WORDS = {
    "green": ":white_check_mark: green",
    "pending": ":hourglass_flowing_sand: pending",
    "failing": ":x: failing",
    "no_checks": ":grey_question: no checks reported",
}
_CI_SENTENCE = {
    "green": "CI is green",
    "pending": "CI is still running",
    "failing": "CI is failing",
    "no_checks": "no CI has reported on it",
}
_CHECK_EMOJI = {"success": ":white_check_mark:", "pending": ":hourglass_flowing_sand:"}


def renovate_card_text(number: int, title: str, ci_verdict: str, state: str) -> str:
    """The fallback text of a Renovate card (notifications, clients without blocks)."""
    if state == "merged":
        return f"Renovate PR #{number} merged: {outside(title)}"
    if state == "closed":
        return f"Renovate PR #{number} closed: {outside(title)}"
    return f"Renovate PR #{number}: {outside(title)} (CI {ci_verdict.replace('_', ' ')})"


def renovate_card_heading(number: int, title: str) -> str:
    """The header of a Renovate card (plain text: Slack parses no mentions or links there)."""
    return f"Renovate PR #{number}: {plain_text(title)}"


def renovate_card_summary(
    url: str, number: int, branch: str, base: str, opened_epoch: int, opened: str, age: str
) -> str:
    """Link, branches and age (the date renders in each reader's time zone)."""
    return (
        f"<{outside(url)}|PR #{number}> `{outside(branch)}` → `{outside(base)}` · opened "
        f"<!date^{opened_epoch}^{{date_short_pretty}} {{time}}|{opened}> ({age})"
    )


def renovate_age(seconds: float) -> str:
    """How long a pull request has been open, coarsely: hours on the first day, then days."""
    hours = int(seconds // 3600)
    if hours < 1:
        return "open less than an hour"
    if hours < 24:
        return f"open {hours} h"
    days = hours // 24
    return f"open {days} day{'s' if days != 1 else ''}"


def renovate_changes_heading(source: str) -> str:
    """The heading of a card's list of changes, naming where the list comes from."""
    where = {"flake_lock": "flake.lock, base → head", "pr_body": "the PR description"}
    return f"*What changes* ({where.get(source, 'unknown')})"


def renovate_input_change(
    name: str,
    source: str,
    kind: str,
    old_rev: str | None,
    new_rev: str | None,
    old_date: str | None,
    new_date: str | None,
) -> str:
    """One flake input that a lock update changes: old → new revision with dates."""

    def side(rev: str | None, date: str | None) -> str:
        text = f"`{outside(rev[:7])}`" if rev else "`?`"
        return f"{text} ({outside(date)})" if date else text

    name, source = outside(name), outside(source)
    if kind == "added":
        return f"• *{name}* ({source}) added at {side(new_rev, new_date)}"
    if kind == "removed":
        return f"• *{name}* ({source}) removed (was {side(old_rev, old_date)})"
    return f"• *{name}* ({source}) {side(old_rev, old_date)} → {side(new_rev, new_date)}"


def renovate_table_row(package: str | None, update: str | None, change: str | None) -> str:
    """One row of Renovate's update table."""
    what = f"*{outside(package)}*" if package else "*(lock file)*"
    how = f" {outside(update)}" if update else ""
    return f"• {what}{how}: {outside(change) if change else 'no change listed'}"


def renovate_no_changes(problem: str | None) -> str:
    """Neither flake.lock nor the PR description says what changes."""
    reason = f": {outside(problem)}" if problem else ""
    return f"Could not tell what changes{reason}. See the pull request."


def renovate_lock_unchanged() -> str:
    """flake.lock differs between base and head, but no root input did."""
    return "flake.lock changes, but none of the flake's own inputs does"


def renovate_more_lines(count: int) -> str:
    """Lines left out of a long card section."""
    return f"… and {count} more (see the pull request)"


def renovate_ci_heading(
    verdict: str, combined: str, failing: Sequence[str], missing_required: Sequence[str]
) -> str:
    """The CI line of a card: the verdict, the combined status, what fails or is missing."""
    line = f"*CI* {_CI_WORDS.get(verdict, verdict)} (combined status: {combined})"
    if failing:
        line += f"; failing: {_names(failing)}"
    if missing_required:
        line += f"; required but not reported: {_names(missing_required)}"
    return line


def renovate_check_line(name: str, outcome: str, detail: str, required: bool) -> str:
    """One status context or check run on a card."""
    emoji = _CHECK_EMOJI.get(outcome, ":x:")
    need = " (required)" if required else ""
    return f"{emoji} `{outside(name)}`{need}: {outside(detail)}"


def renovate_mergeable(mergeable: bool | None, state: str) -> str:
    """Whether GitHub says the pull request can be merged."""
    if mergeable is None:
        return f"*Mergeable*: :white_circle: not known yet ({state})"
    if mergeable:
        return f"*Mergeable*: :large_green_circle: yes ({state})"
    return f"*Mergeable*: :red_circle: no ({state})"


def renovate_not_mergeable_yet(
    verdict: str,
    failing: Sequence[str],
    missing: Sequence[str],
    mergeable: bool | None,
    state: str,
) -> str:
    """Why a card offers no merge button now (Skip stays)."""
    reasons = []
    if verdict != "green":
        reasons.append(_CI_SENTENCE.get(verdict, f"CI is {verdict}"))
    if failing:
        reasons.append(f"failing: {_names(failing)}")
    if missing:
        reasons.append(f"required but not reported: {_names(missing)}")
    if mergeable is None:
        reasons.append("GitHub has not worked out yet whether it merges cleanly")
    elif not mergeable:
        reasons.append(f"GitHub says it cannot be merged as it is ({state})")
    return (
        f":no_entry: No merge button yet: {'; '.join(reasons)}. The next Renovate check "
        "(`/lab renovate check` runs one now) updates the card."
    )


def renovate_card_head(sha: str) -> str:
    """The head sha the card (and its buttons) stand for."""
    return f"Head `{sha[:12]}`; the buttons act on exactly this commit."


def renovate_card_skipped(user: str, sha: str) -> str:
    """The card was skipped at its current head."""
    return (
        f":fast_forward: Skipped by <@{user}> at `{sha[:7]}`; Skip comes back when the PR changes."
    )


def renovate_card_busy(job_id: int) -> str:
    """A merge job runs for the card."""
    return f":gear: Being merged by job {job_id}; see the thread."


def renovate_card_merged(merge_sha: str | None, deploy: tuple[int, str] | None = None) -> str:
    """The pull request is merged (by labbot or anyone else), and the deploy Merge & deploy
    started, followed to its verdict."""
    into = f" as `{merge_sha[:7]}`" if merge_sha else ""
    if deploy is None:
        return f":white_check_mark: Merged{into}. Nothing more to do here."
    job_id, state = deploy
    if state in ("queued", "running", "awaiting_approval"):
        return (
            f":white_check_mark: Merged{into}. Deploying it: job {job_id} in this thread "
            "(plan and approval there); its verdict shows here when it ends."
        )
    return f":white_check_mark: Merged{into}. Deploy (job {job_id}): {state_word(state)}."


def renovate_card_closed() -> str:
    """The pull request was closed without merging."""
    return ":no_entry_sign: Closed without merging. Nothing more to do here."


def renovate_merge_button() -> str:
    """Label of the Approve & merge button."""
    return "Approve & merge"


def renovate_deploy_button(targets: str) -> str:
    """Label of the Merge & deploy button."""
    return f"Merge & deploy {targets}"


def renovate_skip_button() -> str:
    """Label of the Skip button."""
    return "Skip"


# --- Renovate clicks and checks -------------------------------------------------------------


def renovate_not_configured() -> str:
    """`/lab renovate` without a github section."""
    return "Renovate needs the `github` section in labbot's config; it has none."


def renovate_github_failed(reason: str) -> str:
    """A click that needed GitHub, which failed."""
    return f"{outside(reason)} Nothing was done."


def renovate_card_final(number: int, state: str) -> str:
    """A click on a card whose pull request is merged or closed."""
    return f"PR #{number} is already {state}. Nothing was done."


def renovate_needs_operator(have: str) -> str:
    """A click by someone below the operator role."""
    return f"Merging or skipping Renovate PRs needs the operator role; you are {have}. Nothing was done."


def renovate_head_moved(number: int, shown: str, now: str) -> str:
    """A click on a card whose pull request got new commits since it was shown."""
    return (
        f"PR #{number} changed since the card was shown (head `{shown[:7]}` → `{now[:7]}`). "
        "Nothing was done; the card now shows the new head, look at it and click again."
    )


def renovate_pr_not_open(number: int, state: str) -> str:
    """A click on a card whose pull request GitHub reports as merged or closed."""
    return f"PR #{number} is {state} on GitHub. Nothing was done; the card is updated."


def renovate_merge_busy(number: int, job_id: int) -> str:
    """A merge click while a merge job for the same card runs."""
    return f"PR #{number} is being merged by job {job_id} already. Nothing more was done."


def renovate_merge_started(number: int, sha: str, job_id: int, deploy: bool) -> str:
    """Ephemeral answer to an Approve & merge click."""
    then = " then deploying it" if deploy else ""
    return (
        f"You approved PR #{number} at `{sha[:7]}`; job {job_id} is merging it{then}. "
        "Follow the card's thread."
    )


def renovate_skipped(number: int, sha: str) -> str:
    """Ephemeral answer to Skip."""
    return (
        f"Skipped PR #{number} at `{sha[:7]}`. The card stays; Skip comes back when the PR changes."
    )


def renovate_already_skipped(number: int, by: str) -> str:
    """Skip on a card that is skipped already."""
    return f"PR #{number} was already skipped by <@{by}>. Nothing more was done."


def renovate_deploy_unavailable(reason: str) -> str:
    """Merge & deploy cannot deploy, so nothing is merged either."""
    return f"Merge & deploy is not possible: {reason.rstrip('.')}. Nothing was merged."


def renovate_no_deploy_kind() -> str:
    """Merge & deploy on a labbot without deploys."""
    return "this labbot cannot deploy (no deploy job kind)"


def renovate_check_done(
    open_prs: int, posted: int, updated: int, closed: int, problems: Sequence[str]
) -> str:
    """Answer to `/lab renovate check`."""
    line = (
        f"Checked {open_prs} open Renovate PR{'s' if open_prs != 1 else ''}: "
        f"{posted} new card{'s' if posted != 1 else ''}, {updated} updated, {closed} closed."
    )
    if problems:  # errors' texts, GitHub's or Slack's words in them
        line += " Problems: " + "; ".join(outside(p) for p in problems)
    return line


def renovate_no_prs(repo: str) -> str:
    """`/lab renovate` with no open Renovate pull requests."""
    return f"No open Renovate PRs in `{repo}`."


def renovate_list_heading(repo: str, count: int) -> str:
    """The first line of `/lab renovate`."""
    return f"Open Renovate PRs in `{repo}` ({count}):"


def renovate_list_line(
    url: str, number: int, title: str, ci_verdict: str, card: str, age: str
) -> str:
    """One pull request in `/lab renovate`."""
    return (
        f"• <{outside(url)}|#{number}> {outside(title)}: "
        f"CI {_CI_WORDS.get(ci_verdict, ci_verdict)}, {age}; {card}"
    )


def renovate_list_card(state: str | None, skipped: bool) -> str:
    """Where a listed pull request's card stands."""
    if state is None:
        return "no card yet (`/lab renovate check` posts it)"
    return "card skipped" if skipped else "card posted"


# --- Renovate merge jobs --------------------------------------------------------------------


def renovate_merge_title(number: int, deploy_targets: str | None) -> str:
    """Title of a merge job."""
    if deploy_targets:
        return f"Merge Renovate PR #{number} and deploy {deploy_targets}"
    return f"Merge Renovate PR #{number}"


def renovate_interrupted_merged(
    job_id: int, number: int, sha: str | None, deploy_targets: str | None
) -> str:
    """An interrupted merge job had merged its PR."""
    at = f" as `{sha[:7]}`" if sha else ""
    deploy = (
        f" The deploy did not start: `/lab deploy {deploy_targets}` runs it."
        if deploy_targets
        else ""
    )
    return f"Checked after the interruption of job {job_id}: PR #{number} is merged{at}.{deploy}"


def renovate_interrupted_not_merged(job_id: int, number: int, state: str) -> str:
    """An interrupted merge job had not merged its PR."""
    where = "still open" if state == "open" else "closed"
    return (
        f"Checked after the interruption of job {job_id}: PR #{number} is {where} and was not "
        "merged by it."
    )


def renovate_interrupted_unknown(job_id: int, number: int, detail: str) -> str:
    """GitHub could not say what became of an interrupted merge job's PR."""
    return (
        f"Could not check after the interruption of job {job_id} whether PR #{number} got "
        f"merged ({outside(detail)}); look at it on GitHub before merging again."
    )


def renovate_gone(number: int, state: str) -> str:
    """The pull request was merged or closed before the job got to it."""
    return f"PR #{number} is {state} already; nothing was merged by this job."


def renovate_moved_in_job(number: int, approved: str, now: str) -> str:
    """The head moved between the click and the job."""
    return (
        f"PR #{number} got new commits after the approval (approved `{approved[:7]}`, now "
        f"`{now[:7]}`); nothing was merged. The card shows the new head: look again and click."
    )


def renovate_ci_not_green(
    number: int,
    verdict: str,
    failing: Sequence[str],
    pending: Sequence[str],
    missing: Sequence[str],
) -> str:
    """Merging needs green CI and every required check."""
    parts = [_CI_SENTENCE.get(verdict, f"CI is {verdict}")]
    if failing:
        parts.append(f"failing: {_names(failing)}")
    if pending:
        parts.append(f"still running: {_names(pending)}")
    if missing:
        parts.append(f"required but not reported: {_names(missing)}")
    return f"PR #{number} was not merged: {'; '.join(parts)}. Merging needs green CI."


def renovate_review_body(approver: str, approver_name: str, sha: str) -> str:
    """The body of the APPROVE review labbot leaves on GitHub (GitHub markdown, not Slack)."""
    # A Slack username is the user's own text: keep it to name characters, so it cannot
    # @-mention anyone on GitHub, and in code style, so markdown does not render it as a link.
    name = re.sub(r"[^A-Za-z0-9._-]", "", approver_name)[:80]
    who = f"`{name}` (Slack user {approver})" if name else f"Slack user {approver}"
    return f"Approved in Slack by {who} through labbot, for head {sha}."


def renovate_approved(number: int, sha: str, approver: str) -> str:
    """The review is on GitHub."""
    return f"Approved PR #{number} at `{sha[:7]}` on GitHub for <@{approver}>; merging now."


def renovate_approve_failed(number: int, reason: str) -> str:
    """GitHub refused the review."""
    return f"PR #{number} was not merged: the approval review failed. {outside(reason)}"


def renovate_merge_failed(reason: str, head_moved: bool) -> str:
    """GitHub refused the merge (405, 409, 422) or the call failed; GitHub's words included."""
    if head_moved:
        return f"{outside(reason)} The card now shows the new head: look again and click."
    return outside(reason)


def renovate_merged(number: int, method: str, merge_sha: str, head_sha: str, approver: str) -> str:
    """The merge went through."""
    return (
        f"Merged PR #{number} ({method}) as `{merge_sha[:7]}`: head `{head_sha[:7]}` as approved "
        f"by <@{approver}>."
    )


def renovate_checkout_updated(sha: str) -> str:
    """The infra checkout is at the merge commit."""
    return f"The infra checkout is at `{sha[:7]}` now; the deploy follows in this thread."


def renovate_checkout_failed(merged: str, reason: str) -> str:
    """Merged, but the checkout could not be brought to the merge commit (git's words, branch
    names from GitHub in `reason`): no deploy."""
    return f"{merged} Not deploying: {outside(reason)}"


def renovate_not_deploying(merged: str, sentence: str) -> str:
    """Merged, but no deploy follows: `sentence` is labbot's own (deploys not configured)."""
    return f"{merged} Not deploying: {sentence}"


def renovate_deploy_not_started(reason: str) -> str:
    """The deploy after a merge could not start."""
    return (
        f":warning: The deploy did not start: {reason.rstrip('.')}. Run `/lab deploy` when ready."
    )


def deploy_not_configured() -> str:
    """Merge & deploy needs deploys, which need the colmena and ssh sections."""
    return "Deploying needs the `colmena` and `ssh` sections in labbot's config. Nothing was run."
