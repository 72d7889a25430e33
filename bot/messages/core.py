"""Core sentences: parsing, policy, help and whoami, failures, and the job engine.

Part of `bot.messages`: plain mrkdwn strings, never handed a secret value.

Long because: one short function per sentence the user can see, kept together so the wording
is reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from bot.redact import escape_mrkdwn

if TYPE_CHECKING:
    from bot.locks import Held


def outside(text: str | None) -> str:
    """Text from outside labbot (GitHub, the nodes, the BMC, colmena) as it may appear in a
    message: escaped for mrkdwn, so it can mention nobody and link nowhere. Every message
    function that embeds such text passes it through here."""
    return escape_mrkdwn(text or "")


def integration_failed(error: str) -> str:
    """An IntegrationError's sentence shown as a whole message (a reply, a job's verdict). Its
    text is raw (`bot/errors.py`): it may quote bmcd, GitHub, git, sops or a node, so escaped."""
    return outside(error)


def _names(values: Iterable[str]) -> str:
    """Names in code style; names often come from outside (units, checks), so escaped."""
    return ", ".join(f"`{outside(v)}`" for v in values)


# --- parsing --------------------------------------------------------------------------------


def text_too_long(length: int, limit: int) -> str:
    """The command text is over the limit."""
    return f"That command is {length} characters long; the limit is {limit}. Nothing was run."


def control_characters() -> str:
    """The command text holds control characters."""
    return "That command contains control characters. Nothing was run."


def unbalanced_quotes() -> str:
    """shlex could not split the text."""
    return "That command has an unclosed quote. Nothing was run."


def unknown_command(word: str, suggestion: str | None, prefix: str) -> str:
    """No command has this name."""
    hint = f" Did you mean `{suggestion}`?" if suggestion else ""
    return f"Unknown command `{word}`.{hint} Type `{prefix} help` for the list."


def command_group(group: str, lines: Sequence[str], prefix: str) -> str:
    """`/lab sops` without (or with an unknown) subcommand: the group's commands."""
    listed = "\n".join(f"• {line}" for line in lines)
    return f"`{prefix} {group}` needs one of these:\n{listed}"


def usage_error(problem: str, usage: str) -> str:
    """The arguments do not fit the command."""
    return f"{problem}\nUsage: `{usage}`"


def flag_needs_value(flag: str) -> str:
    """A flag was given without its value."""
    return f"`--{flag}` needs a value."


def flag_takes_no_value(flag: str) -> str:
    """A switch was given a value."""
    return f"`--{flag}` takes no value."


def unknown_flag(flag: str, known: str) -> str:
    """The command has no such flag."""
    return f"Unknown option `--{flag}` (options: {known})."


def not_an_integer(name: str, value: str) -> str:
    """An integer argument is not one."""
    return f"`{name}` must be a whole number, not `{value}`."


def not_a_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """A choice argument holds something else."""
    return f"`{name}` must be one of {_names(choices)}, not `{value}`."


def missing_argument(name: str) -> str:
    """A required argument is missing."""
    return f"`{name.upper()}` is missing."


def extra_arguments(words: Sequence[str]) -> str:
    """More words than the command takes."""
    return f"Unexpected extra argument(s): {_names(words)}."


def shell_metacharacters(name: str, word: str) -> str:
    """An argument holds characters a shell would act on."""
    return f"`{name.upper()}` may not contain shell metacharacters (`;&|$<>` and the like). Nothing was run."


def malformed_argument(name: str, word: str) -> str:
    """An argument does not match its pattern."""
    shown = word if len(word) <= 64 else word[:61] + "..."
    return f"`{shown}` is not a valid {name.upper()}."


def unknown_node(name: str, known: Sequence[str]) -> str:
    """A node name is not in the inventory."""
    return f"`{name}` is not a node I know. Known nodes: {_names(known) or '(none configured)'}."


# --- policy ---------------------------------------------------------------------------------


def channel_not_allowed(channel: str, allowed: Sequence[str]) -> str:
    """Commands are not accepted in this channel."""
    where = ", ".join(f"<#{c}>" for c in allowed)
    return f"labbot does not take commands in this channel. Use {where}."


def no_role(user: str) -> str:
    """The user holds no role at all."""
    return (
        f"<@{user}>, you have no labbot role, so I can't run anything for you. "
        "Ask an admin to add your Slack user ID (or a user group you are in) to `roles` in the config."
    )


def role_too_low(command: str, needed: str, have: str) -> str:
    """The user's role is below what the command needs."""
    return f"`{command}` needs the {needed} role; you are {have}. Nothing was run."


# --- help and whoami ------------------------------------------------------------------------


def help_header(prefix: str) -> str:
    """First line of `/lab help`."""
    return f"*labbot* drives the lab from Slack. Commands you can run (`{prefix} help COMMAND` for details):"


def help_needs_higher_role(names: Sequence[str]) -> str:
    """Commands hidden from the list because they need a higher role."""
    return f"Needing a higher role: {_names(names)}."


def unknown_help_topic(name: str, suggestion: str | None, prefix: str) -> str:
    """`/lab help X` for an unknown X."""
    return unknown_command(name, suggestion, prefix)


def whoami(user: str, role: str | None, commands: Sequence[str], higher: Sequence[str]) -> str:
    """`/lab whoami`."""
    if role is None:
        return no_role(user)
    more = f" Needing a higher role: {_names(higher)}." if higher else ""
    return f"You are <@{user}>, role *{role}*. You may run: {_names(commands)}.{more}"


# --- failures -------------------------------------------------------------------------------


def internal_error(reference: str) -> str:
    """An unexpected exception; details are in the log only."""
    return (
        f"Something went wrong inside labbot (reference `{reference}`); the details are in its log."
    )


def button_not_valid() -> str:
    """A click on a button labbot does not know (stale, forged or from an old release)."""
    return "That button is no longer valid. Nothing was done."


def interrupted_check_failed(job_id: int) -> str:
    """Checking what an interrupted job left behind failed (the log says why)."""
    return (
        f"labbot could not check what job {job_id} left behind (the bot's log says why): "
        "check `/lab status` before running it again."
    )


def resuming_after_restart(job_id: int, approver: str) -> str:
    """An approved job whose labbot stopped before it moved on (a restart, or the replica
    that received the click was lost), going on now."""
    return (
        f"<@{approver}> approved job {job_id} just before labbot stopped (a restart, or the "
        "replica that received the click was lost). Checking that the plan still holds, then "
        "applying it."
    )


def stopped_by_store_fault(job_id: int, cause: str) -> str:
    """A job stopped because labbot's database failed under it (the lab is checked next)."""
    return f"Job {job_id} stopped: labbot can't write its records ({cause})."


def flag_value_invalid(name: str, value: str, hint: str) -> str:
    """A flag's value does not have the form it needs."""
    return f"`--{name} {escape_mrkdwn(value)}` is not valid: {hint}."


def applied_without_approval(job_id: int, command: str) -> str:
    """The approvals config says no approval for this command: the plan runs at once."""
    return (
        f"No approval needed (`approvals.{command}: none` in labbot's config): "
        f"job {job_id} applies this plan now."
    )


def store_unavailable(cause: str) -> str:
    """A request arrived while labbot's database cannot record it: it is not acted on."""
    return (
        f"labbot can't write its records: {cause}. Nothing was run; try again once that is "
        "fixed (the bot's log has the details)."
    )


def end_not_recorded(job_id: int, cause: str, targets: Sequence[str]) -> str:
    """A job ended on the lab, but its end could not be written to labbot's database."""
    locked = ", ".join(f"`{_target(t)}`" for t in targets)
    hold = f" {locked} stays locked until then." if locked else ""
    return (
        f":warning: labbot can't write its records ({cause}), so job {job_id}'s result above "
        f"is not in its database yet; it is written when the database takes writes again.{hold}"
    )


def shutting_down() -> str:
    """A command arrived while labbot is stopping."""
    return "labbot is restarting; nothing was run. Try again in a minute."


# --- jobs -----------------------------------------------------------------------------------

_STATE_WORDS = {
    "queued": "queued",
    "awaiting_approval": "waiting for approval",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "rolled_back": "rolled back",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
    "expired": "expired (not approved in time)",
}
_STATE_EMOJI = {
    "queued": ":hourglass_flowing_sand:",
    "awaiting_approval": ":raised_hand:",
    "running": ":gear:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "rolled_back": ":leftwards_arrow_with_hook:",
    "cancelled": ":no_entry_sign:",
    "interrupted": ":warning:",
    "expired": ":alarm_clock:",
}


def state_word(state: str) -> str:
    """A job state in words."""
    return _STATE_WORDS.get(str(state), str(state))


def state_emoji(state: str) -> str:
    """A job state as an emoji."""
    return _STATE_EMOJI.get(str(state), ":grey_question:")


def job_requested(title: str, requester: str, job_id: int) -> str:
    """The root message of a job's thread, when it is created."""
    return f"{title} requested by <@{requester}> (job {job_id})"


def job_root_text(title: str, requester: str, job_id: int, state: str) -> str:
    """The root message's text as the job moves on."""
    return f"{state_emoji(state)} {title} requested by <@{requester}> (job {job_id}): {state_word(state)}"


def lock_queued(held: Held) -> str:
    """The job waits for a target another job holds."""
    return (
        f"`{_target(held.target)}` is locked by job {held.job_id} ({held.kind}, <@{held.requester}>, "
        f"since {held.since:%H:%M} UTC). This job is queued and starts when it is free."
    )


def lock_refused(held: Held) -> str:
    """The job is refused because a target is held (lock_policy: refuse)."""
    return (
        f"`{_target(held.target)}` is locked by job {held.job_id} ({held.kind}, <@{held.requester}>, "
        f"since {held.since:%H:%M} UTC). Nothing was run; try again when it has finished."
    )


def _target(key: str) -> str:
    return key.split(":", 1)[-1]


def plan_in_file(more: int, total: int, file_name: str, sha256: str) -> str:
    """Below the start of a plan too long for one message."""
    return (
        f"… and {more} more line(s). The whole plan ({total} lines) is the file `{file_name}` "
        f"in this thread, sha256 `{sha256[:16]}…`; approving approves exactly that plan."
    )


def plan_file_title(job_id: int, sha256: str) -> str:
    """The title of the file that holds a long plan."""
    return f"Job {job_id} plan (sha256 {sha256[:16]}…)"


def approval_prompt(job_id: int) -> str:
    """Fallback text of the approval message."""
    return f"Job {job_id} is waiting for approval."


def job_phase_planned(job_id: int) -> str:
    """The live output's title once the plan is ready."""
    return f"Job {job_id}: plan ready, waiting for approval"


def approved_by(user: str) -> str:
    """The approval message after Apply."""
    return f":white_check_mark: Approved by <@{user}>."


def rejected_by(user: str) -> str:
    """The approval message after Reject."""
    return f":no_entry_sign: Rejected by <@{user}>. Nothing was changed."


def job_rejected(user: str) -> str:
    """A rejected job's verdict (its approval message says Rejected already)."""
    return f"Rejected by <@{user}>; nothing was changed."


def cancelled_after_approval(job_id: int) -> str:
    """Cancel answered for a job approved but not yet applying (a crash came between)."""
    return (
        f"Cancelled job {job_id} after its approval, before it started applying; nothing was "
        "changed."
    )


def you_approved(job_id: int) -> str:
    """Ephemeral answer to the approver."""
    return f"You approved job {job_id}; it is running now."


def you_rejected(job_id: int) -> str:
    """Ephemeral answer to the rejecter."""
    return f"You rejected job {job_id}; nothing was changed."


def already_decided(state: str, by: str) -> str:
    """A click on an approval that is no longer pending."""
    if str(state) in ("approved", "rejected") and by:
        return f"Already {state} by <@{by}>. Nothing more was done."
    if str(state) == "expired":
        return "That approval has expired. Nothing was done; run the command again."
    return "That approval is no longer valid. Nothing was done."


def job_not_waiting(job_id: int, state: str) -> str:
    """A click on an approval whose job is not waiting any more."""
    return f"Job {job_id} is {state_word(state)}, not waiting for approval. Nothing was done."


def approval_expired(job_id: int) -> str:
    """The approval timed out."""
    return f":alarm_clock: Approval for job {job_id} expired. Nothing was changed; run the command again."


def approval_void(job_id: int, reason: str) -> str:
    """What was approved no longer matches what was shown."""
    return f"Approval for job {job_id} is void: {reason}. Nothing was changed; run the command again to see the new plan."


def approver_role_too_low(needed: str, have: str) -> str:
    """The clicker's role is below the approval's role."""
    return f"Approving this needs the {needed} role; you are {have}. Nothing was done."


def four_eyes_needed(job_id: int) -> str:
    """The requester clicked Apply on a four-eyes job."""
    return f"Job {job_id} needs a second person's approval: you requested it, so someone else must approve. Nothing was done."


def job_cancelled_by(job_id: int, user: str) -> str:
    """The verdict of a cancelled job."""
    who = f" by <@{user}>" if user else ""
    return f"Job {job_id} was cancelled{who}."


def cancelled_queued(job_id: int) -> str:
    """Cancel answered for a queued job."""
    return f"Cancelled job {job_id} before it started; nothing had run."


def cancelled_waiting(job_id: int) -> str:
    """Cancel answered for a job waiting for approval."""
    return f"Cancelled job {job_id} while it waited for approval; nothing was changed."


def cancelling_running(job_id: int) -> str:
    """Cancel answered for a running job."""
    return (
        f"Cancelling job {job_id}: its processes get SIGTERM, then SIGKILL after a grace period. "
        "A change already applied on a node stays applied; the thread will say where it stopped."
    )


def cancel_not_allowed(job_id: int) -> str:
    """Cancel by someone who is neither the requester nor an operator."""
    return f"Only the requester or an operator can cancel job {job_id}."


def job_already_final(job_id: int, state: str) -> str:
    """Cancel of a job that has ended."""
    return f"Job {job_id} has already ended ({state_word(state)})."


def no_such_job(job_id: int) -> str:
    """A job id that does not exist."""
    return f"There is no job {job_id}. `/lab jobs` lists recent jobs."


def job_finished(job_id: int, state: str, summary: str) -> str:
    """The final line of a job's thread."""
    return f"{state_emoji(state)} Job {job_id} {state_word(state)}. {summary}".strip()


def job_thread_link(link: str, *, attached_log: bool) -> str:
    """Where a job's thread (and its log) is."""
    what = "thread, with the full log attached" if attached_log else "thread"
    return f"<{link}|Open the job's {what}>."


def no_thread(job_id: int, reason: str) -> str:
    """Slack would not open the job's thread (`reason`: a ChatError's text, raw)."""
    return f"Job {job_id} could not start: {outside(reason)} Nothing was run; try again shortly."


def invite_the_bot(job_id: int, channel: str) -> str:
    """The bot was not invited to the channel it was asked in, so it cannot start a thread."""
    return (
        f"Job {job_id} did not start: labbot is not a member of <#{channel}>, so it cannot post "
        "there. Invite it with `/invite @labbot` in that channel, then run the command again."
    )


def job_interrupted(job_id: int) -> str:
    """A job whose labbot process stopped: a restart, or (with several replicas) the replica
    driving it was lost and another one noticed."""
    return (
        f":warning: labbot stopped while job {job_id} was running (a restart, or the labbot "
        "replica running it was lost), so it was interrupted. "
        "The lab may be part-way through the change: check `/lab status` before running it again."
    )


# --- jobs started and targets (every capability that starts jobs) ----------------------


def job_started(job_id: int) -> str:
    """Ephemeral answer when a command started a job."""
    return f"Started job {job_id}."


def unknown_tag(target: str, known_tags: Sequence[str]) -> str:
    """An `@tag` target matches no node's tags."""
    listed = ", ".join(f"`@{tag}`" for tag in known_tags) or "(no node has tags)"
    return f"`{target}` matches no node's tags. Known tags: {listed}."


def empty_selection(targets: str, deferred: Sequence[str]) -> str:
    """The targets select nothing (colmena would exit 0 and deploy nothing)."""
    hint = (
        f" `all` leaves out deferred nodes ({_names(deferred)}); name them to include them."
        if deferred
        else ""
    )
    return f"`{targets}` selects no node, so nothing would be deployed.{hint}"


def empty_target_rule(targets: str) -> str:
    """A comma list with an empty entry."""
    return f"`{targets}` has an empty entry; separate targets with single commas."
