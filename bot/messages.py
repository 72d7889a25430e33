"""Every sentence a Slack user sees, one function per message, so wording is reviewed in one place.

Returns plain mrkdwn strings; must never be handed a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.locks import Held


def _names(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


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


def whoami(user: str, role: str | None, commands: Sequence[str]) -> str:
    """`/lab whoami`."""
    if role is None:
        return no_role(user)
    return f"You are <@{user}>, role *{role}*. You may run: {_names(commands)}."


# --- failures -------------------------------------------------------------------------------


def internal_error(reference: str) -> str:
    """An unexpected exception; details are in the log only."""
    return (
        f"Something went wrong inside labbot (reference `{reference}`); the details are in its log."
    )


def button_not_valid() -> str:
    """A click on a button labbot does not know (stale, forged or from an old release)."""
    return "That button is no longer valid. Nothing was done."


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


def no_thread(job_id: int, reason: str) -> str:
    """Slack would not open the job's thread."""
    return f"Job {job_id} could not start: {reason} Nothing was run; try again shortly."


def job_interrupted(job_id: int) -> str:
    """A job that was running when labbot stopped."""
    return (
        f":warning: labbot restarted while job {job_id} was running, so it was interrupted. "
        "The lab may be part-way through the change: check `/lab status` before running it again."
    )


# --- deploy and rollback (targets, colmena, SSH, health gate) ---------------------------------


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


def ssh_unreachable(node: str, address: str, reason: str) -> str:
    """SSH to a node failed (refused, timed out, dropped)."""
    return f"{node} is unreachable over SSH ({address}): {reason}."


def ssh_host_key_changed(node: str, address: str, known_hosts: str) -> str:
    """The node's host key is not the one in known_hosts."""
    return (
        f"The SSH host key of {node} ({address}) has changed: it does not match {known_hosts}. "
        "labbot will not connect until an admin checks the node and updates known_hosts."
    )


def ssh_host_key_unknown(node: str, address: str, known_hosts: str) -> str:
    """known_hosts has no key for the node."""
    return f"{known_hosts} has no host key for {node} ({address}); labbot never trusts a key on first use."


def ssh_login_refused(node: str, user: str) -> str:
    """The node refused labbot's key."""
    return f"{node} refused the SSH login of `{user}` with labbot's key."


def ssh_command_timed_out(node: str, command: str, seconds: float) -> str:
    """A remote command ran too long."""
    return f"`{command}` on {node} did not finish within {seconds:g} s."


def nix_output_unreadable(what: str, detail: str) -> str:
    """nix printed something labbot cannot parse."""
    return f"The output of `nix {what}` could not be read ({detail})."


def nix_failed(what: str, detail: str) -> str:
    """A nix command failed."""
    return f"`nix {what}` failed: {detail}"


_COLMENA_EXITS = {
    0: "colmena exited 0: every selected node reached its goal.",
    1: "colmena exited 1: at least one node failed (the others ran to the end), or evaluation failed.",
    2: "colmena exited 2: it rejected its command line (a usage error; is the colmena version the one labbot expects?).",
    101: "colmena exited 101: it panicked (on colmena main, usually a missing or invalid hive).",
}


def colmena_exit(code: int) -> str:
    """One sentence per colmena exit status (reference/colmena.md §2)."""
    if code < 0:
        return f"colmena was killed by signal {-code}."
    return _COLMENA_EXITS.get(code, f"colmena exited {code}, a status it does not document.")


def colmena_timed_out(what: str, seconds: float) -> str:
    """colmena ran past its timeout and was stopped."""
    return f"`colmena {what}` was stopped after {seconds:.0f} s (its timeout)."


def colmena_eval_failed(exit_sentence: str) -> str:
    """`colmena eval` of the node list failed."""
    return f"colmena could not list the hive's nodes: {exit_sentence}"


def colmena_eval_unreadable(text: str) -> str:
    """`colmena eval` printed no JSON list."""
    return f"colmena's node list was not a JSON list of names: `{text}`"


def colmena_build_failed(
    failures: dict[str, str], missing: Sequence[str], exit_sentence: str
) -> str:
    """`colmena build` failed for some nodes."""
    parts = [f"{node}: {why}" for node, why in failures.items()]
    parts += [
        f"{node}: no built path in colmena's output" for node in missing if node not in failures
    ]
    detail = "; ".join(parts)
    return f"The build failed. {exit_sentence}" + (f" {detail}." if detail else "")


def colmena_selected_nothing(nodes: Sequence[str]) -> str:
    """colmena said no hosts were selected (and would have exited 0)."""
    return (
        f'colmena selected none of {_names(nodes)} ("No hosts selected"), so nothing was deployed.'
    )


def colmena_finished(exit_code: int, timed_out: bool) -> str:
    """After `colmena apply`: what its exit status means; the health gate follows."""
    if timed_out:
        return "colmena ran past its timeout and was stopped; checking every node's health now."
    return f"{colmena_exit(exit_code)} Checking every node's health now."


def colmena_no_result(node: str, timed_out: bool) -> str:
    """colmena's output said neither success nor failure for a node."""
    why = "colmena timed out" if timed_out else "colmena's output did not say"
    return f"{why} whether {node} reached its goal"


def node_state_unreadable(node: str, what: str, detail: str) -> str:
    """A node's generation state could not be read."""
    return f"Could not read {what} on {node}: {detail}."


def _clauses(sentences: Sequence[str]) -> str:
    """Sentences joined as clauses of one sentence (`a; b`), without their full stops."""
    return "; ".join(s.strip().rstrip(".") for s in sentences if s.strip())


def gate_passed(node: str) -> str:
    """Log line: a node passed the health gate."""
    return f"{node}: health gate passed (fresh SSH login, expected system, running)."


def gate_failed(node: str, reasons: Sequence[str]) -> str:
    """Log line: a node failed the health gate."""
    return f"{node}: health gate failed: {_clauses(reasons)}."


def gate_waiting(node: str, reasons: Sequence[str]) -> str:
    """Log line: the gate waits for a problem that may clear."""
    return f"{node}: waiting: {_clauses(reasons)}."


def gate_wrong_system(node: str, seen: str | None, expected: str) -> str:
    """`/run/current-system` is not the expected system."""
    return f"/run/current-system on {node} is {seen or 'unreadable'}, not {expected}"


def gate_wrong_profile(node: str, seen: str | None, expected: str) -> str:
    """The system profile does not point at the expected system."""
    return f"the system profile on {node} points at {seen or 'nothing readable'}, not {expected}"


def gate_system_state(node: str, state: str) -> str:
    """`systemctl is-system-running` is neither running nor degraded."""
    return f"systemctl is-system-running on {node} says `{state}`"


def gate_units_failed(node: str, units: Sequence[str]) -> str:
    """Units failed that are not allowed to."""
    listed = _names(units) if units else "(systemd did not list them)"
    return f"{node} is degraded: failed units {listed}"


def gate_k3s_unavailable(node: str, detail: str) -> str:
    """kubectl on a k3s server failed."""
    return f"kubectl on {node} failed ({detail})"


def gate_k3s_missing(node: str) -> str:
    """The k3s server does not list itself."""
    return f"k3s on {node} does not list {node} as a node"


def gate_k3s_not_ready(node: str) -> str:
    """The k3s node is not Ready."""
    return f"k3s node {node} is not Ready"


def gate_probe_failed(node: str, probe: Sequence[str], status: int, detail: Sequence[str]) -> str:
    """A configured probe exited non-zero."""
    said = f": {detail[0]}" if detail else ""
    return f"probe `{' '.join(probe)}` on {node} exited {status}{said}"


def rolling_back(node: str, generation: int) -> str:
    """Log line: a rollback starts."""
    return f"{node}: switching back to generation {generation}."


def rollback_impossible(detail: str) -> str:
    """The rollback could not even start."""
    return f"could not roll back: {detail}"


def rollback_step_failed(step: str, status: int) -> str:
    """A rollback command failed."""
    return f"`{step}` exited {status} during the rollback"


def deploy_not_configured() -> str:
    """Deploys need the colmena and ssh sections."""
    return "Deploying needs the `colmena` and `ssh` sections in labbot's config. Nothing was run."


def deploy_title(nodes: Sequence[str], goal: str) -> str:
    """A deploy job's title."""
    shown = ", ".join(nodes[:6]) + (f" and {len(nodes) - 6} more" if len(nodes) > 6 else "")
    return f"Deploy {shown}" + ("" if goal == "switch" else f" ({goal})")


def nodes_left_inventory(nodes: Sequence[str]) -> str:
    """Nodes of a queued job were removed from the inventory."""
    return f"{_names(nodes)} are no longer in the inventory. Nothing was deployed."


def nodes_not_in_hive(nodes: Sequence[str], known: Sequence[str]) -> str:
    """Inventory nodes that colmena's hive does not declare."""
    return (
        f"{_names(nodes)} are in labbot's inventory but not in the colmena hive "
        f"(it declares {_names(known) or 'no nodes'}). Nothing was deployed."
    )


def deploy_recorded(generations: dict[str, int]) -> str:
    """What the nodes run before anything changes."""
    listed = ", ".join(f"{node} on generation {gen}" for node, gen in generations.items())
    return f"Recorded before building: {listed}."


def deploy_plan_failed(detail: str) -> str:
    """The plan (check, record, build) failed; nothing changed."""
    return f"Nothing was deployed: {detail}"


def deploy_nothing_to_do(nodes: Sequence[str]) -> str:
    """Every node already runs what colmena built."""
    return f"Nothing to deploy: {_names(nodes)} already run exactly what colmena built."


def closure_diff_summary(
    changes: Sequence[tuple[str, Sequence[str], Sequence[str]]], size_delta: int
) -> str:
    """A closure diff in one or two lines: version changes and the size delta."""
    shown = [
        f"{name} {', '.join(old) or '∅'} → {', '.join(new) or '∅'}"
        for name, old, new in changes[:8]
    ]
    more = f" and {len(changes) - 8} more" if len(changes) > 8 else ""
    versions = (
        f"{len(changes)} version change(s): {'; '.join(shown)}{more}"
        if changes
        else "no version changes"
    )
    return f"{versions}; size {_size(size_delta)}"


def closure_diff_unavailable(reason: str) -> str:
    """No closure diff (e.g. the running system is not in the local store)."""
    return (
        "no closure diff"
        + (f" ({reason.rstrip('.')})" if reason else "")
        + "; the store paths differ"
    )


def _size(delta: int) -> str:
    sign = "+" if delta >= 0 else "-"
    value = abs(delta)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{sign}{value / scale:.1f} {unit}"
    return f"{sign}{value} B"


def deploy_plan_row(node: str, generation: int, old: str, new: str, diff: str) -> str:
    """One node of the deploy plan."""
    return f"• *{node}* (generation {generation})\n  `{old}`\n  → `{new}`\n  {diff}"


def deploy_plan(goal: str, rows: Sequence[str], unchanged: Sequence[str]) -> str:
    """The approval text of a deploy."""
    same = f"\nUnchanged (skipped): {_names(unchanged)}." if unchanged else ""
    return (
        f"*Plan*: `colmena apply {goal}` on {len(rows)} node(s), then the health gate.\n"
        + "\n".join(rows)
        + same
    )


def deploy_button(goal: str) -> str:
    """The approve button of a deploy."""
    return "Deploy" if goal == "switch" else f"Deploy ({goal})"


def deploy_rechecking(nodes: Sequence[str]) -> str:
    """Before applying: rebuild to check the approval still holds."""
    return f"Approved; rebuilding {_names(nodes)} to check the build is still the one approved."


def deploy_recheck_failed(detail: str) -> str:
    """The re-check before applying failed."""
    return f"the check before applying failed ({detail.rstrip('.')})"


def deploy_build_changed(node: str, approved: str, now: str | None) -> str:
    """A rebuild yields another path than the approved one."""
    return f"the build of {node} changed since the plan (approved `{approved}`, now `{now or 'nothing'}`)"


def deploy_node_moved(node: str, planned: int, now: int) -> str:
    """The node changed between plan and apply."""
    return f"{node} changed since the plan (generation {planned} then, {now} now)"


def deploy_progress(job_id: int, phases: dict[str, str]) -> str:
    """The live output's title while colmena runs."""
    return f"Job {job_id} output: " + ", ".join(f"{node} {phase}" for node, phase in phases.items())


def deploy_apply_failed(detail: str) -> str:
    """colmena did nothing (usage error, panic, nothing selected, could not start)."""
    return f"Nothing was deployed: {detail}"


def deploy_not_activated(stage: str, error: str) -> str:
    """A node failed before activation: it was not changed."""
    return f"{stage} failed ({error}); the node was not changed"


_SWITCH_EXITS = {
    1: "usage error or the boot loader install failed",
    2: "the activation script or the systemd re-exec failed",
    3: "daemon-reload or tmpfiles failed",
    4: "units failed to start or failed after the switch",
    100: "the new init is incompatible; a reboot is needed",
    255: "SSH to the node failed",
}


def activation_failed(stage: str, error: str, exit_code: int | None, units: Sequence[str]) -> str:
    """colmena reported a failure at or after activation."""
    meaning = _SWITCH_EXITS.get(exit_code or -1)
    because = f" ({meaning})" if meaning else ""
    failed = f"; failed units: {_names(units)}" if units else ""
    return f"{stage} failed: {error}{because}{failed}"


def auto_rollback_off(node: str, generation: int | None) -> str:
    """A failed node is left as it is because auto_rollback is off."""
    where = f" on generation {generation}" if generation is not None else ""
    return f"auto_rollback is off for {node}, so it stays{where}"


def deploy_node_result(
    node: str,
    old: int,
    new: int | None,
    verdict: str,
    reasons: Sequence[str],
    version: str | None,
    seconds: float,
) -> str:
    """One node's line in the deploy summary."""
    if new is None:
        arrow = f"generation {old} → ?"
    else:
        arrow = f"generation {old} → {new}" if new != old else f"generation {old}"
    back = f", back on generation {old}" if verdict.startswith("rolled back") else ""
    why = f": {_clauses(reasons)}" if reasons else ""
    nixos = f"NixOS {version}, " if version else ""
    return f"*{node}*: {arrow}, {verdict}{back}{why} ({nixos}{seconds:.1f} s)"


def deploy_summary(lines: Sequence[str], unchanged: Sequence[str]) -> str:
    """The deploy's verdict, one line per node."""
    same = f"\nUnchanged: {_names(unchanged)}." if unchanged else ""
    lead = "\n" if len(lines) > 1 or unchanged else ""
    return lead + "\n".join(lines) + same


def rollback_not_configured() -> str:
    """Rollbacks need the ssh section."""
    return "Rolling back needs the `ssh` section in labbot's config. Nothing was run."


def rollback_title(node: str, generation: int | None) -> str:
    """A rollback job's title."""
    return f"Roll back {node}" + (f" to generation {generation}" if generation is not None else "")


def rollback_no_previous(node: str, current: int) -> str:
    """No generation older than the current one."""
    return f"{node} has no generation older than {current}. Nothing was changed."


def rollback_no_such_generation(node: str, generation: int, known: Sequence[int]) -> str:
    """The requested generation does not exist."""
    listed = ", ".join(str(n) for n in known)
    return f"{node} has no generation {generation} (it has {listed}). Nothing was changed."


def rollback_already_there(node: str, generation: int) -> str:
    """The node already runs the requested generation."""
    return f"{node} already runs generation {generation}. Nothing was changed."


def rollback_plan_failed(detail: str) -> str:
    """Listing the generations failed."""
    return f"Nothing was changed: {detail}"


def rollback_plan(
    node: str,
    generations: Sequence[tuple[int, str, bool]],
    current: int,
    current_version: str | None,
    target: int,
    target_version: str | None,
    path: str,
) -> str:
    """The approval text of a rollback, with the node's generations."""
    listed = "\n".join(
        f"{'→' if number == target else '•'} {number}  {date}{'  (current)' if now else ''}"
        for number, date, now in generations[-10:]
    )
    return (
        f"*Plan*: switch *{node}* from generation {current} (NixOS {current_version or '?'}) "
        f"to generation {target} (NixOS {target_version or '?'}), then the health gate.\n"
        f"`{path}`\nGenerations:\n{listed}"
    )


def rollback_button() -> str:
    """The approve button of a rollback."""
    return "Roll back"


def rollback_recheck_failed(detail: str) -> str:
    """The re-check before a rollback failed."""
    return f"the check before switching failed ({detail.rstrip('.')})"


def rollback_path_changed(node: str, generation: int) -> str:
    """The generation's path is not the approved one."""
    return f"generation {generation} of {node} is no longer the approved system"


def rollback_apply_failed(detail: str) -> str:
    """The switch could not run."""
    return f"The rollback could not run: {detail}"


def rollback_result(
    node: str,
    old: int,
    new: int,
    healthy: bool,
    reasons: Sequence[str],
    version: str | None,
) -> str:
    """The rollback's verdict."""
    state = "healthy" if healthy else "unhealthy"
    why = f": {_clauses(reasons)}" if reasons else ""
    nixos = f" (NixOS {version})" if version else ""
    return f"*{node}*: generation {old} → {new}, {state}{why}{nixos}"


# --- Renovate cards -------------------------------------------------------------------------

_CI_WORDS = {
    "green": ":white_check_mark: green",
    "pending": ":hourglass_flowing_sand: pending",
    "failing": ":x: failing",
    "no_checks": ":grey_question: no checks reported",
}
_CHECK_EMOJI = {"success": ":white_check_mark:", "pending": ":hourglass_flowing_sand:"}


def renovate_card_text(number: int, title: str, ci_verdict: str, state: str) -> str:
    """The fallback text of a Renovate card (notifications, clients without blocks)."""
    if state == "merged":
        return f"Renovate PR #{number} merged: {title}"
    if state == "closed":
        return f"Renovate PR #{number} closed: {title}"
    return f"Renovate PR #{number}: {title} (CI {ci_verdict.replace('_', ' ')})"


def renovate_card_heading(number: int, title: str) -> str:
    """The header of a Renovate card."""
    return f"Renovate PR #{number}: {title}"


def renovate_card_summary(
    url: str, number: int, branch: str, base: str, opened_epoch: int, opened: str, age: str
) -> str:
    """Link, branches and age (the date renders in each reader's time zone)."""
    return (
        f"<{url}|PR #{number}> `{branch}` → `{base}` · opened "
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
        text = f"`{rev[:7]}`" if rev else "`?`"
        return f"{text} ({date})" if date else text

    if kind == "added":
        return f"• *{name}* ({source}) added at {side(new_rev, new_date)}"
    if kind == "removed":
        return f"• *{name}* ({source}) removed (was {side(old_rev, old_date)})"
    return f"• *{name}* ({source}) {side(old_rev, old_date)} → {side(new_rev, new_date)}"


def renovate_table_row(package: str | None, update: str | None, change: str | None) -> str:
    """One row of Renovate's update table."""
    what = f"*{package}*" if package else "*(lock file)*"
    how = f" {update}" if update else ""
    return f"• {what}{how}: {change or 'no change listed'}"


def renovate_no_changes(problem: str | None) -> str:
    """Neither flake.lock nor the PR description says what changes."""
    reason = f": {problem}" if problem else ""
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
    return f"{emoji} `{name}`{need}: {detail}"


def renovate_mergeable(mergeable: bool | None, state: str) -> str:
    """Whether GitHub says the pull request can be merged."""
    if mergeable is None:
        return f"*Mergeable*: :white_circle: not known yet ({state})"
    if mergeable:
        return f"*Mergeable*: :large_green_circle: yes ({state})"
    return f"*Mergeable*: :red_circle: no ({state})"


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


def renovate_card_merged(merge_sha: str | None) -> str:
    """The pull request is merged (by labbot or anyone else)."""
    into = f" as `{merge_sha[:7]}`" if merge_sha else ""
    return f":white_check_mark: Merged{into}. Nothing more to do here."


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
    return f"{reason} Nothing was done."


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
    if problems:
        line += " Problems: " + "; ".join(problems)
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
    return f"• <{url}|#{number}> {title}: CI {_CI_WORDS.get(ci_verdict, ci_verdict)}, {age}; {card}"


def renovate_list_card(state: str | None, skipped: bool) -> str:
    """Where a listed pull request's card stands."""
    if state is None:
        return "no card yet (`/lab renovate check` posts it)"
    return "card skipped" if skipped else "card posted"


def renovate_rate_limited(seconds: float) -> str:
    """The check stopped at a GitHub rate limit it will not wait out."""
    return f"GitHub rate-limited the check for {seconds:.0f} s; the next check continues."


# --- Renovate merge jobs --------------------------------------------------------------------


def renovate_merge_title(number: int, deploy_targets: str | None) -> str:
    """Title of a merge job."""
    if deploy_targets:
        return f"Merge Renovate PR #{number} and deploy {deploy_targets}"
    return f"Merge Renovate PR #{number}"


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
    parts = [f"CI is {verdict.replace('_', ' ')}"]
    if failing:
        parts.append(f"failing: {_names(failing)}")
    if pending:
        parts.append(f"still running: {_names(pending)}")
    if missing:
        parts.append(f"required but not reported: {_names(missing)}")
    return f"PR #{number} was not merged: {'; '.join(parts)}. Merging needs green CI."


def renovate_review_body(approver: str, sha: str) -> str:
    """The body of the APPROVE review labbot leaves on GitHub (GitHub markdown, not Slack)."""
    return f"Approved in Slack by {approver} through labbot, for head {sha}."


def renovate_approved(number: int, sha: str, approver: str) -> str:
    """The review is on GitHub."""
    return f"Approved PR #{number} at `{sha[:7]}` on GitHub for <@{approver}>; merging now."


def renovate_approve_failed(number: int, reason: str) -> str:
    """GitHub refused the review."""
    return f"PR #{number} was not merged: the approval review failed. {reason}"


def renovate_merge_failed(reason: str, head_moved: bool) -> str:
    """GitHub refused the merge (405, 409, 422) or the call failed; GitHub's words included."""
    if head_moved:
        return f"{reason} The card now shows the new head: look again and click."
    return reason


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
    """Merged, but the checkout could not be brought to the merge commit: no deploy."""
    return f"{merged} Not deploying: {reason}"


def renovate_deploy_not_started(reason: str) -> str:
    """The deploy after a merge could not start."""
    return (
        f":warning: The deploy did not start: {reason.rstrip('.')}. Run `/lab deploy` when ready."
    )


# --- sops (secrets jobs) --------------------------------------------------------------------


def sops_job_started(job_id: int) -> str:
    """Ephemeral answer once a secrets job is started."""
    return f"Started job {job_id}."


def sops_not_configured() -> str:
    """Secrets work without a `sops` section."""
    return "Secrets work needs a `sops` section in the labbot config (with `age_key`). Nothing was run."


def sops_no_repo() -> str:
    """Neither a repo URL nor a checkout to find the infra repo."""
    return (
        "Secrets work needs `sops.repo_url` or `colmena.flake_dir` to find the infra repo. "
        "Nothing was run."
    )


def sops_no_github() -> str:
    """A PR is needed but GitHub is not configured."""
    return (
        "Secrets changes are opened as PRs, which needs the `github` section (or set "
        "`sops.direct_push: true`). Nothing was run."
    )


def sops_age_key_unreadable(reason: str) -> str:
    """labbot's own age key cannot be read."""
    return f"labbot's age key (`sops.age_key`) cannot be read: {reason.rstrip('.')}. Nothing was changed."


def sops_job_title(action: str, args: Sequence[str]) -> str:
    """The thread title of a secrets job."""
    node = args[0] if args else "?"
    titles = {
        "rotate": "Rotate the sops data keys",
        "add-node": f"Add {node} to the sops recipients",
        "remove-node": f"Remove {node} from the sops recipients",
        "rotate-k3s-token": "Rotate the k3s token",
    }
    return titles.get(action, f"sops {action}")


def sops_files_unmatched(missing: Sequence[str], sops_yaml: str) -> str:
    """Configured secrets files that no creation rule matches (or that are not encrypted)."""
    return (
        f"{_names(missing)} is listed in `sops.secrets_files` but no creation rule in "
        f"`{sops_yaml}` matches it, or it is not a sops file (path_regex is matched relative to "
        "the folder of .sops.yaml). Nothing was changed."
    )


def sops_no_files(sops_yaml: str) -> str:
    """No encrypted file is matched by any creation rule."""
    return f"No sops-encrypted file in the repo is matched by a creation rule of `{sops_yaml}`. Nothing was changed."


def sops_bad_path_regex(regex: str, reason: str) -> str:
    """A creation rule's path_regex does not compile."""
    return (
        f"The path_regex `{regex}` in .sops.yaml does not compile ({reason}). Nothing was changed."
    )


def sops_token_file_unmatched(path: str) -> str:
    """The configured k3s token file is not among the encrypted files."""
    return f"`{path}` (`sops.k3s_token_file`) is not a sops file matched by .sops.yaml. Nothing was changed."


def sops_unknown_key(name: str, keys: Sequence[str]) -> str:
    """remove-node for a node without a key in .sops.yaml."""
    return (
        f"`{name}` has no key in .sops.yaml (keys: {_names(keys) or 'none'}). Nothing was changed."
    )


def sops_node_no_files(node: str, rules: Sequence[str]) -> str:
    """add-node where the chosen rules govern no encrypted file."""
    return (
        f"The rules {_names(rules)} that `{node}` would join govern no encrypted file, so no file "
        "would change. Check `sops.node_rules`. Nothing was changed."
    )


def sops_no_ssh(node: str) -> str:
    """add-node without AGE_KEY needs SSH to read the host key."""
    return f"Reading {node}'s host key needs the `ssh` section; or give the age key: `sops add-node {node} AGE_KEY`."


def sops_host_key_unreadable(node: str, path: str, reason: str) -> str:
    """The node's ed25519 host key file could not be read over SSH."""
    return f"Cannot read `{path}` on {node}: {reason.rstrip('.')}. Nothing was changed."


def sops_host_key_count(node: str, path: str, count: int) -> str:
    """The host key file does not hold exactly one ed25519 key."""
    return f"`{path}` on {node} holds {count} ssh-ed25519 keys, not one. Nothing was changed."


def sops_host_key_mismatch(node: str, path: str, known_hosts: str) -> str:
    """The key file differs from the ed25519 key known_hosts lists for the node."""
    return (
        f"`{path}` on {node} does not match the ed25519 key `{known_hosts}` lists for it. "
        "Nothing was changed; check the node before trusting its key."
    )


def sops_key_source_ssh(fingerprint: str) -> str:
    """Where a node's recipient came from: its ssh host key."""
    return f"its ssh-ed25519 host key {fingerprint}"


def sops_key_source_given() -> str:
    """Where a node's recipient came from: the command."""
    return "the age key given in the command"


def sops_cloned(base: str, base_sha: str, branch: str) -> str:
    """Log line: the fresh clone is ready."""
    return f"Fresh clone of the infra repo: `{base}` at `{base_sha[:7]}`; working on `{branch}`."


def sops_log_step(what: str, path: str) -> str:
    """Log line: one file is being worked on."""
    return f"{what} `{path}`…"


def sops_log_recipient(node: str, recipient: str, source: str) -> str:
    """Log line: the node's recipient and its source."""
    return f"{node}: age recipient `{recipient}` (from {source})."


def sops_committed(sha: str, files: Sequence[str]) -> str:
    """Log line: the change is committed in the clone."""
    return f"Committed `{sha[:7]}` changing {_names(files)}."


def sops_title_rotate(count: int) -> str:
    """Commit/PR title of a rotation."""
    return f"sops: rotate the data key of {count} file{'s' if count != 1 else ''}"


def sops_title_add(node: str) -> str:
    """Commit/PR title of add-node."""
    return f"sops: add {node} to the secrets recipients"


def sops_title_remove(node: str) -> str:
    """Commit/PR title of remove-node."""
    return f"sops: remove {node} from the secrets recipients and rotate"


def sops_title_token(key: str) -> str:
    """Commit/PR title of the token rotation."""
    return f"sops: rotate {key}"


def _fingerprints(keys: Sequence[str]) -> str:
    return " → ".join(f"`{key[:8]}`" for key in keys)


def sops_line_rotated(path: str, keys: Sequence[str], recipients: Sequence[str]) -> str:
    """One rotated file: data key fingerprints, recipients, values unchanged."""
    return (
        f"`{path}`: new data key ({_fingerprints(keys)}), values unchanged; "
        f"recipients {_names(recipients)}"
    )


def sops_line_key_added(node: str, recipient: str, source: str, rules: Sequence[str]) -> str:
    """The .sops.yaml edit of add-node."""
    return (
        f"`.sops.yaml`: key `{node}` = `{recipient}` (from {source}) added to rules {_names(rules)}"
    )


def sops_line_recipient_added(path: str, node: str) -> str:
    """One file re-encrypted for a new node."""
    return f"`{path}`: `{node}` added as a recipient (sops updatekeys); values unchanged"


def sops_line_key_removed(node: str, recipient: str) -> str:
    """The .sops.yaml edit of remove-node."""
    return f"`.sops.yaml`: key `{node}` (`{recipient}`) removed from `keys` and every rule"


def sops_line_recipient_removed(path: str, node: str, keys: Sequence[str]) -> str:
    """One file without the removed node, with a new data key."""
    return (
        f"`{path}`: `{node}` removed as a recipient, then a new data key "
        f"({_fingerprints(keys)}); values unchanged"
    )


def sops_line_token_replaced(path: str, key: str, bits: int) -> str:
    """The k3s token was replaced."""
    return (
        f"`{path}`: `{key}` replaced by a new {bits}-bit random token (not shown anywhere); "
        "other values unchanged"
    )


def sops_note_removed_node(node: str) -> str:
    """PR note for remove-node."""
    return (
        f"{node} can no longer decrypt these files. Remove its `sops.secrets` references before "
        f"deploying it again, or its activation fails. Values it saw before are not secret from "
        f"it: rotate them (e.g. `sops rotate-k3s-token`) if {node} is no longer trusted."
    )


def sops_k3s_steps(
    prefix: str, servers: Sequence[str], agents: Sequence[str], path: str, key: str
) -> tuple[str, ...]:
    """The k3s-side steps after the token changes (k3s >= 1.28 has `k3s token rotate`)."""
    server = servers[0] if servers else "a k3s server"
    return (
        "k3s-side steps (the cluster still uses the old token until they are done):",
        f"1. Merge this PR. Before deploying, on {server} run "
        f"`k3s token rotate --token <old token> --new-token <new token>` (k3s >= 1.28). Read both "
        f"from sops on your machine (`sops -d --extract '[\"{key}\"]' {path}` before and after "
        "the merge); never paste them into Slack.",
        f"2. Deploy the servers, then the agents ({prefix} deploy …) so sops-nix writes the new "
        "token file and k3s restarts with it; every server must restart with the new token.",
        "3. Check every node is Ready. etcd snapshots taken before the rotation need the old "
        "token to restore.",
    )


def sops_check_values(path: str) -> str:
    """A check failed: the values changed."""
    return f"Stopped: after the change `{path}` no longer decrypts to the same values. Nothing was pushed."


def sops_check_key_kept(path: str) -> str:
    """A check failed: rotate kept the data key."""
    return f"Stopped: `{path}` still has its old data key after the rotation. Nothing was pushed."


def sops_check_not_recipient(path: str, node: str) -> str:
    """A check failed: the added node is not a recipient."""
    return f"Stopped: `{node}` is not among the recipients of `{path}` after updatekeys. Nothing was pushed."


def sops_check_still_recipient(path: str, node: str) -> str:
    """A check failed: the removed node is still a recipient."""
    return (
        f"Stopped: `{node}` is still a recipient of `{path}` after updatekeys. Nothing was pushed."
    )


def sops_check_token(path: str, key: str) -> str:
    """A check failed: the token did not land, or other values changed."""
    return f"Stopped: after `sops set`, `{path}` did not hold the new `{key}` with its other values unchanged. Nothing was pushed."


def sops_commit_body(lines: Sequence[str], notes: Sequence[str]) -> str:
    """The commit message body: the changes and any notes (such as the k3s-side steps)."""
    parts = ["\n".join(f"- {line}" for line in lines)]
    parts.append(
        "Values were compared by digest before and after; no secret value is in this message."
    )
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts)


def sops_plan(
    title: str,
    lines: Sequence[str],
    branch: str,
    base: str,
    base_sha: str,
    commit: str,
    direct_push: bool,
) -> str:
    """The plan shown for approval: what changed, where, and what approving does."""
    changes = "\n".join(f"• {line}" for line in lines)
    then = (
        f"Approving pushes it straight to `{base}`."
        if direct_push
        else "Approving pushes the branch and opens a PR."
    )
    return (
        f"*Plan*: {title}\n{changes}\n"
        f"Commit `{commit[:7]}` on `{branch}` (from `{base}` at `{base_sha[:7]}`). {then}"
    )


def sops_pr_body(
    lines: Sequence[str],
    notes: Sequence[str],
    requester: str,
    job_id: int,
    prefix: str,
    deploy: Sequence[str],
) -> str:
    """The PR description: the changes, any notes, who asked, and what to deploy."""
    parts = [
        f"Prepared by labbot (job {job_id}) for Slack user {requester}; approved in Slack by a "
        "second admin.",
        "## Changes\n" + "\n".join(f"- {line}" for line in lines),
        "Every file was checked to decrypt with labbot's key to the same values (compared by "
        "digest). No secret value appears in this PR or in Slack.",
    ]
    if notes:
        parts.append("## Notes\n" + "\n".join(notes))
    if deploy:
        parts.append(f"## After merging\nDeploy: `{prefix} deploy {','.join(deploy)}`")
    return "\n\n".join(parts) + "\n"


def sops_prepared_gone() -> str:
    """The prepared commit is no longer there (clone removed or changed)."""
    return "the prepared commit is gone from labbot's clone"


def sops_base_gone(base: str) -> str:
    """The base branch disappeared from the remote."""
    return f"the branch `{base}` no longer exists on the remote"


def sops_base_moved(base: str, files: Sequence[str]) -> str:
    """The base branch moved in a way the prepared commit cannot follow."""
    if files:
        return f"`{base}` changed {_names(files)} since the plan"
    return f"`{base}` moved since the plan"


def sops_branch_pushed(branch: str) -> str:
    """Log line: the branch is on the remote."""
    return f"Pushed `{branch}`."


def sops_pushed(base: str, commit: str) -> str:
    """Direct push done."""
    return f"Pushed `{commit[:7]}` to `{base}`."


def sops_pr_opened(number: int, url: str, title: str) -> str:
    """The PR link in the thread."""
    return f"Opened PR #{number}: <{url}|{title}>"


def sops_pr_failed(branch: str, reason: str) -> str:
    """The branch is pushed but the PR could not be opened."""
    return f"Pushed `{branch}` but could not open the PR: {reason.rstrip('.')}. Open it by hand."


def sops_deploy_offer(prefix: str, nodes: Sequence[str], merged: bool) -> str:
    """Which nodes to deploy, and the command for it."""
    if not nodes:
        return "No node in the inventory has a key in the changed files, so no deploy is needed."
    when = "Deploy it" if merged else "Once the PR is merged, deploy it"
    return f"{when} to the affected nodes: `{prefix} deploy {','.join(nodes)}`"


def sops_done_pr(number: int, url: str) -> str:
    """Verdict: PR opened."""
    return f"PR #{number} is open: {url}"


def sops_done_pushed(base: str, commit: str) -> str:
    """Verdict: pushed to the base branch."""
    return f"`{commit[:7]}` is on `{base}`."


# --- power, UART and flashing (handlers/power.py, uart.py, flash*.py) ------------------------


def _bytes(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _console_text(text: str) -> str:
    """Console text inside a code block: no mentions, links or early end of the block."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("```", "'''")


def node_left_inventory(node: str) -> str:
    """A queued job's node was removed from the inventory meanwhile."""
    return f"`{node}` is no longer in the inventory. Nothing was changed."


def bmc_power_view(recorded: bool | None) -> str:
    """The BMC's power record of a slot: `BMC: on`, `BMC: off` or `BMC: unknown`."""
    return "BMC: " + ("unknown" if recorded is None else "on" if recorded else "off")


_SSH_VIEWS = {
    "reachable": "reachable",
    "refused": "unreachable (connection refused)",
    "timeout": "unreachable (timed out)",
    "unreachable": "unreachable ({detail})",
    "host key changed": "host key changed (labbot will not log in)",
    "host key unknown": "host key not in known_hosts (labbot will not log in)",
    "login refused": "login refused ({detail})",
    "not configured": "not checked (no `ssh` section in the config)",
}


def ssh_view(state: str, detail: str) -> str:
    """What an SSH probe found: `SSH: reachable`, `SSH: unreachable (connection refused)`."""
    return "SSH: " + _SSH_VIEWS.get(str(state), "{detail}").format(detail=detail or str(state))


def power_status_board(board: str, bmc: str, lines: Sequence[str], error: str) -> str:
    """`/lab power status`: one board's slots, the BMC's record beside SSH."""
    head = (
        f"*Power of board `{board}`*: BMC `{bmc}`'s record (its bookkeeping, not a measurement) "
        "beside what SSH shows."
    )
    tail = f"\n:warning: {error}" if error else ""
    return head + "\n" + "\n".join(lines) + tail


def power_status_line(slot: int, node: str | None, recorded: bool | None, ssh: str | None) -> str:
    """One slot in `/lab power status`."""
    if node is None:
        return f"• slot {slot}: no node in the inventory · {bmc_power_view(recorded)}"
    return f"• slot {slot} `{node}`: {bmc_power_view(recorded)} · {ssh}"


_POWER_TITLES = {"on": "Power on {node}", "off": "Power off {node}", "reset": "Reset {node}"}


def power_title(node: str, action: str) -> str:
    """A power job's title."""
    return _POWER_TITLES.get(action, "Power {action} {node}").format(node=node, action=action)


def power_plan(node: str, action: str, slot: int, bmc: str, recorded: bool | None, ssh: str) -> str:
    """The approval text of `power NODE off|reset`."""
    what = (
        "a hard power cycle (off, 1 s, on) without a clean shutdown; the BMC does not update "
        "its power record for a reset"
        if action == "reset"
        else "a hard power cut without a clean shutdown: whatever runs on the node stops"
    )
    return (
        f"*{power_title(f'`{node}`', action)}* (slot {slot} on BMC `{bmc}`)\n"
        f"Now: {bmc_power_view(recorded)} · {ssh}\n"
        f"This is {what}."
    )


def power_button(action: str) -> str:
    """The Apply button of a power job."""
    return "Reset" if action == "reset" else "Power off"


def power_done(node: str, action: str, slot: int, bmc: str, ssh: str, seconds: float) -> str:
    """A power job's verdict when SSH agrees with the new state."""
    where = f"slot {slot} on BMC `{bmc}`"
    if action == "off":
        return f"`{node}` is off ({where}): BMC: off · {ssh}."
    if action == "reset":
        return f"`{node}` was power-cycled ({where}) and is back: {ssh} after {seconds:.1f} s."
    return f"`{node}` is on ({where}): BMC: on · {ssh} after {seconds:.1f} s."


def power_ssh_disagrees(
    node: str, action: str, slot: int, ssh: str, seconds: float, caveat: str
) -> str:
    """A power job's verdict when SSH does not follow the BMC within the wait."""
    if action == "off":
        return (
            f"Slot {slot} was switched off, but `{node}` still answers after {seconds:.0f} s "
            f"({ssh}): check which slot it really sits in. {caveat}"
        )
    return (
        f"Slot {slot} was switched on, but `{node}` did not answer within {seconds:.0f} s "
        f"({ssh}): it may still be booting (watch `/lab uart {node}`). {caveat}"
    )


def uart_nothing_new(node: str, slot: int) -> str:
    """`/lab uart NODE` when the console printed nothing since the last read."""
    return f"Nothing new on `{node}`'s console (slot {slot}) since the last read."


def uart_output(node: str, slot: int, lines: Sequence[str], hidden: int) -> str:
    """`/lab uart NODE`: the console's new lines."""
    more = f"; {hidden} earlier new line(s) not shown (`--lines N` shows more)" if hidden else ""
    body = _console_text("\n".join(lines))
    return f"*Console of `{node}`* (slot {slot}), new since the last read{more}:\n```\n{body}\n```"


def uart_line_empty() -> str:
    """`uart send` with only spaces."""
    return "The line to send is empty. Nothing was sent."


def uart_line_too_long(length: int, limit: int) -> str:
    """`uart send` with an oversize line."""
    return (
        f"That line is {length} characters long; `uart send` types at most {limit}. "
        "Nothing was sent."
    )


def uart_line_control_characters() -> str:
    """`uart send` with control characters (tab, escape, …)."""
    return (
        "That line contains control characters (tab, escape and the like), which would do more "
        "than type text on the console. Nothing was sent."
    )


def uart_send_title(node: str) -> str:
    """A `uart send` job's title."""
    return f"Type on {node}'s console"


def uart_send_plan(node: str, slot: int, bmc: str, line: str) -> str:
    """The approval text of `uart send`: the exact line."""
    return (
        f"*Type on `{node}`'s console* (slot {slot} on BMC `{bmc}`) exactly this line, then "
        f"Enter:\n```\n{_console_text(line)}\n```\n"
        "It goes to whatever runs on the console (a login prompt, a shell, a boot loader)."
    )


def uart_send_button() -> str:
    """The Apply button of `uart send`."""
    return "Send"


def uart_sent(node: str, slot: int, line: str) -> str:
    """`uart send` verdict."""
    return (
        f"Typed the approved line ({len(line)} characters) on `{node}`'s console (slot {slot}). "
        f"Read the answer with `/lab uart {node}`."
    )


def flash_title(node: str) -> str:
    """A flash job's title."""
    return f"Flash {node}"


def flash_url_zstd(url: str) -> str:
    """A `.zst` URL, which the BMC would write still compressed."""
    return (
        f"The BMC cannot unpack `.zst` images it downloads, so `{url}` would be written "
        "compressed. Give a `.img` or `.img.xz` URL, or a local `.zst` file (labbot unpacks "
        "those). Nothing was run."
    )


def flash_image_form(image: str) -> str:
    """IMAGE is neither an absolute path nor a URL."""
    return (
        f"`{image}` is neither an absolute path nor an http(s) URL. Give "
        "`/path/to/image.img[.zst]`, `https://…/image.img[.xz]`, or nothing to build the image. "
        "Nothing was run."
    )


def flash_image_not_allowed(image: str, directories: Sequence[str]) -> str:
    """A local IMAGE outside `flash.image_dirs` (or missing)."""
    where = _names(directories) if directories else "none are configured: set `flash.image_dirs`"
    return (
        f"`{image}` is not a readable file inside labbot's image directories ({where}). "
        "Nothing was run."
    )


def flash_no_image_attribute(node: str, module: str) -> str:
    """No IMAGE and no image attribute for the node's module."""
    return (
        f"No image is configured for `{node}`'s module ({module}): add it to "
        "`flash.image_attributes`, or give an IMAGE. Nothing was run."
    )


def flash_no_flake() -> str:
    """No IMAGE and no flake to build one from."""
    return (
        "labbot has no infra flake to build the image from (set `flash.flake_dir` or "
        "`colmena.flake_dir`), so give an IMAGE. Nothing was run."
    )


def flash_measuring_url(url: str) -> str:
    """Log line: the URL is read once for its size and sha256."""
    return f"Reading {url} once for its size and sha256 (the BMC downloads it again itself)."


def flash_measuring(path: str) -> str:
    """Log line: the image file is measured."""
    return f"Measuring {path} (size and sha256 of the bytes the BMC receives)."


def flash_build_failed(attribute: str, exit_code: int, timed_out: bool) -> str:
    """`nix build` of the image failed."""
    how = "timed out" if timed_out else f"failed (exit {exit_code})"
    return f"`nix build .#{attribute}` {how}; its log is in this thread."


def flash_build_no_image(attribute: str, output: str) -> str:
    """The build output holds no disk image."""
    return (
        f"The output of `.#{attribute}` ({output}) holds no disk image (`*.img`, `*.img.zst`, "
        "`*.img.xz`); check that the attribute builds an SD image."
    )


def flash_image_gone(path: str) -> str:
    """Approval void: the image file disappeared."""
    return f"the image file {path} is gone"


def flash_image_changed(path: str) -> str:
    """Approval void: the image file changed."""
    return f"the image file {path} changed since it was measured"


def flash_checking_bmc(bmc: str) -> str:
    """Log line: the plan starts with the BMC."""
    return f"Checking BMC {bmc}: login, firmware, flash status."


def flash_bmc_busy(bmc: str, process: str) -> str:
    """The BMC runs a flash labbot did not start."""
    return (
        f"BMC `{bmc}` is already running a flash ({process or 'unknown job'}) that labbot did "
        "not start, and a new request would silently abort it. Wait for it to end, then run the "
        "command again."
    )


def flash_plan_failed(node: str, error: str) -> str:
    """The flash could not be planned."""
    return f"Could not prepare the flash of `{node}`: {error}"


def flash_image_line(name: str, size: int, sha256: str) -> str:
    """Log line: the measured image."""
    return f"Image {name}: {_bytes(size)} ({size} bytes), sha256 {sha256}"


def flash_plan(
    *,
    node: str,
    slot: int,
    bmc: str,
    firmware: str,
    image: str,
    built_from: str | None,
    size: int,
    sha256: str,
    recorded_power: bool | None,
    ssh: str,
) -> str:
    """The approval text of a flash: node, slot, image, size and sha256."""
    built = f" (built from `.#{built_from}`)" if built_from else ""
    return (
        f"*Flash `{node}`*: slot {slot} on BMC `{bmc}` (firmware {firmware})\n"
        f"• Image: `{image}`{built}\n"
        f"• Size: {_bytes(size)} ({size} bytes as written)\n"
        f"• sha256: `{sha256}`\n"
        f"• Now: {bmc_power_view(recorded_power)} · {ssh}\n"
        f"This erases everything on `{node}`. The BMC powers the slot off to flash it; labbot "
        "then powers it on, waits for SSH and records the node's new host key."
    )


def flash_button() -> str:
    """The Apply button of a flash."""
    return "Flash"


def flash_phase_line(node: str, phase: str) -> str:
    """Log line: the BMC moved to writing or verifying."""
    if phase == "verifying":
        return f"Written; the BMC is verifying {node} (reading everything back)."
    return f"The BMC is writing the image to {node}."


def flash_progress(node: str, phase: str, written: int, total: int) -> str:
    """The live progress line of a flash (the stream's title)."""
    fraction = min(1.0, written / total) if total else 0.0
    filled = round(fraction * 20)
    bar = "█" * filled + "░" * (20 - filled)
    return f"Flashing {node}: {phase} `{bar}` {fraction:.0%} ({_bytes(written)} of {_bytes(total)})"


def flash_progress_none() -> str:
    """Where a flash stopped, when it never reported progress."""
    return "before the BMC reported any progress"


def flash_progress_at(phase: str, fraction: float) -> str:
    """Where a flash stopped."""
    return f"while {phase}, at {fraction:.0%}"


def flash_starting(node: str, slot: int, bmc: str, name: str) -> str:
    """Log line: the flash starts."""
    return f"Flashing {name} onto {node} (slot {slot}) through BMC {bmc}."


def flash_timed_out(node: str, minutes: float, where: str) -> str:
    """A flash ran past `flash.timeout_minutes`."""
    return (
        f"The flash of `{node}` ran longer than {minutes:g} min ({where}), so labbot cancelled it "
        "on the BMC; the node is off and its storage is partly written. Check the BMC, then "
        "flash again (raise `flash.timeout_minutes` for big images)."
    )


def flash_failed(node: str, error: str) -> str:
    """A flash failed on the BMC (the error is bmc_failures' actionable sentence)."""
    return f"Flashing `{node}` failed. {error}"


def flash_cancelled(node: str, where: str) -> str:
    """A flash was cancelled on the BMC."""
    return (
        f"The flash of `{node}` was cancelled on the BMC ({where}). The BMC powers the node off; "
        "its storage is partly written, so flash it again before using it."
    )


def flash_written(node: str, seconds: float) -> str:
    """Log line: the BMC is done."""
    return f"The BMC finished flashing {node} in {seconds:.0f} s; powering it on."


def flash_power_on_failed(node: str, error: str) -> str:
    """Flashed, but the power-on failed."""
    return (
        f"`{node}` was flashed, but powering it on failed: {error} Then run `/lab power {node} on`."
    )


def flash_done_unchecked(node: str, sha256: str) -> str:
    """Flashed and powered on, without SSH configured."""
    return (
        f"`{node}` was flashed (sha256 `{sha256[:12]}…`) and powered on. SSH is not configured, "
        "so labbot did not check that it came up."
    )


def flash_waiting_for_ssh(node: str, address: str) -> str:
    """Log line: waiting for the fresh node's SSH."""
    return f"Waiting for {node} to answer SSH on {address}."


def flash_ssh_not_back(node: str, seconds: float) -> str:
    """The flashed node never presented a host key."""
    return (
        f"`{node}` was flashed and powered on, but presented no SSH host key within "
        f"{seconds:.0f} s. Watch it boot with `/lab uart {node}`; the image may lack SSH or the "
        "node may have another address."
    )


def flash_host_key_trusted(node: str, fingerprint: str, known_hosts: str, recorded: str) -> str:
    """Thread message: the fresh node's host key was recorded (trust on first use)."""
    what = {
        "replaced": "replacing its old key",
        "added": "it had no entry before",
        "unchanged": "the same key as before",
    }.get(recorded, recorded)
    return (
        f":key: `{node}` presented host key `{fingerprint}`; labbot recorded it in "
        f"`{known_hosts}` ({what}). This is trust on first use: the fresh image made a new key "
        "on its first boot, so there is no earlier key to check it against, and labbot accepted "
        "the first key its just-flashed node presented. Compare the fingerprint on the node's "
        "console if you want to be sure."
    )


def flash_login_failed(node: str, ssh: str) -> str:
    """The flashed node has a host key but refuses labbot."""
    return (
        f"`{node}` was flashed and presents a host key, but labbot cannot log in ({ssh}); check "
        "that the image authorizes labbot's SSH key for the deploy user."
    )


def flash_succeeded(node: str, sha256: str, seconds: float, fingerprint: str, prefix: str) -> str:
    """A flash's verdict, with the next steps."""
    return (
        f"`{node}` was flashed (sha256 `{sha256[:12]}…`, {seconds:.0f} s), powered on and answers "
        f"SSH with host key `{fingerprint}`. Next: `{prefix} deploy {node}` installs its full "
        f"configuration, and `{prefix} sops add-node {node}` re-encrypts the secrets for it (its "
        "age key follows the new host key)."
    )


def flash_known_hosts_unwritable(node: str, path: str, reason: str) -> str:
    """The fresh node's host key could not be recorded."""
    return (
        f"`{node}` was flashed and is up, but labbot could not record its new host key in "
        f"`{path}` ({reason}), so labbot cannot log in to it yet; fix the file's permissions "
        "and add the node's key there (e.g. with `ssh-keyscan`)."
    )


def sops_yaml_unreadable(name: str, reason: str) -> str:
    """The infra repo has no readable `.sops.yaml` where the config says."""
    why = f" ({reason})" if reason else ""
    return f"The infra repo has no readable `{name}`{why} (`sops.sops_yaml`). Nothing was changed."


# --- the digest and /lab status -------------------------------------------------------------

_DIGEST_STATUS_EMOJI = {
    "critical": ":red_circle:",
    "off": ":black_circle:",
    "warning": ":large_orange_circle:",
    "ok": ":large_green_circle:",
    "deferred": ":white_circle:",
}


def digest_status_emoji(status: str) -> str:
    """A node status of the digest as an emoji."""
    return _DIGEST_STATUS_EMOJI.get(str(status), ":grey_question:")


def digest_age(seconds: float) -> str:
    """A duration, short: `12 min`, `5 h`, `3 d 4 h`, `40 d`."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, days = minutes // 60, minutes // 1440
    if days == 0:
        return f"{hours} h"
    rest = hours - days * 24
    return f"{days} d {rest} h" if days < 7 and rest else f"{days} d"


def digest_source_timed_out(what: str, seconds: float) -> str:
    """A digest source gave no answer in time."""
    return f"{what} did not answer within {seconds:g} s"


def digest_ssh_not_configured() -> str:
    """The digest cannot look at nodes: no `ssh` section."""
    return "SSH is not configured (no `ssh` section)"


def digest_node_timed_out(seconds: float) -> str:
    """A node's SSH did not answer in time."""
    return f"no answer over SSH within {seconds:g} s"


def digest_node_said_nothing(detail: str) -> str:
    """A node answered with nothing the digest can read."""
    return f"it answered with nothing readable ({detail})"


def digest_no_flake_dir() -> str:
    """No infra checkout to read flake.lock from."""
    return "no infra checkout is configured (`colmena.flake_dir`)"


def digest_flake_lock_unreadable(path: str, error: OSError) -> str:
    """flake.lock could not be read."""
    return f"cannot read {path}: {error.strerror or error}"


def digest_no_nixpkgs_input(path: str) -> str:
    """flake.lock has no nixpkgs input."""
    return f"{path} has no `nixpkgs` input"


def digest_reason_deferred() -> str:
    """A deferred node (not set up yet) does not answer."""
    return "deferred: not set up yet"


def digest_reason_powered_off() -> str:
    """The BMC records the node's slot as off."""
    return "powered off (the BMC's record)"


def digest_reason_unreachable(problem: str, since: str | None) -> str:
    """The node does not answer over SSH; `since`: when a digest first saw that."""
    text = f"unreachable: {problem}" if problem else "unreachable"
    return f"{text} (since {since})" if since else text


def digest_reason_failed_units(units: Sequence[str]) -> str:
    """systemd units failed on the node."""
    shown = _names(units[:5]) + (f" and {len(units) - 5} more" if len(units) > 5 else "")
    return f"degraded: {shown} failed"


def digest_reason_system_state(state: str) -> str:
    """`systemctl is-system-running` said something other than running."""
    return f"system is {state}"


def digest_reason_k3s_not_ready() -> str:
    """The node's k3s node is not Ready."""
    return "k3s node not Ready"


def digest_reason_disk(path: str, percent: int) -> str:
    """A filesystem is past a threshold."""
    return f"`{path}` {percent} % full"


def digest_problem_bmc(bmc: str, problem: str) -> str:
    """A BMC could not be read."""
    return problem if bmc in problem else f"BMC `{bmc}`: {problem}"


def digest_problem_github(problem: str) -> str:
    """GitHub could not be read."""
    return f"Renovate PRs unknown: {problem}"


def digest_problem_ci_failing(number: int, title: str) -> str:
    """A Renovate PR's CI is failing."""
    return f"Renovate PR #{number} ({title}): CI failing"


def digest_problem_job(job_id: int, text: str, state: str) -> str:
    """A job of the last 24 h ended badly."""
    return f"job {job_id} `{text}` {state_word(state)}"


def digest_problem_nixpkgs(problem: str) -> str:
    """The nixpkgs lock could not be read."""
    return f"nixpkgs lock unknown: {problem}"


def digest_problem_sops(problem: str) -> str:
    """The last sops rotation could not be read."""
    return f"last sops rotation unknown: {problem}"


def digest_change_new_node(node: str) -> str:
    """A node appeared in the inventory."""
    return f"`{node}` joined the inventory"


def digest_change_node_left(node: str) -> str:
    """A node is no longer in the inventory."""
    return f"`{node}` left the inventory"


def digest_change_new_pull(number: int, title: str) -> str:
    """Renovate opened a PR."""
    return f"Renovate opened #{number}: {title}"


def digest_change_nixpkgs(old: str, new: str) -> str:
    """flake.lock locks another nixpkgs."""
    return f"nixpkgs lock moved `{old[:7]}` → `{new[:7]}`"


def digest_change_powered_off(node: str) -> str:
    """The node was on at the last digest and is off now."""
    return f"`{node}` was powered off"


def digest_change_unreachable(node: str, problem: str) -> str:
    """The node answered at the last digest and does not now."""
    return f"`{node}` became unreachable: {problem}" if problem else f"`{node}` became unreachable"


def digest_change_reachable_again(node: str) -> str:
    """The node answers again."""
    return f"`{node}` is reachable again"


def digest_change_rebooted(node: str, uptime_seconds: float | None) -> str:
    """The node's boot id changed."""
    up = f" (up {digest_age(uptime_seconds)})" if uptime_seconds is not None else ""
    return f"`{node}` rebooted{up}"


def digest_change_generation(node: str, old: int, new: int, version: str | None) -> str:
    """The node's current generation changed."""
    running = f", NixOS {version}" if version else ""
    return f"`{node}` generation {old} → {new}{running}"


def digest_change_new_failed_units(node: str, units: Sequence[str]) -> str:
    """Units failed since the last digest."""
    return f"`{node}` new failed units: {_names(units)}"


def digest_change_units_recovered(node: str, units: Sequence[str]) -> str:
    """Units failed at the last digest are fine now."""
    return f"`{node}` units no longer failed: {_names(units)}"


def digest_change_disk(node: str, path: str, limit: int, percent: int) -> str:
    """A filesystem passed a threshold."""
    return f"`{node}` `{path}` passed {limit} % (now {percent} %)"


def digest_change_k3s_not_ready(node: str) -> str:
    """The node's k3s node stopped being Ready."""
    return f"`{node}` k3s node is no longer Ready"


def digest_change_k3s_ready(node: str) -> str:
    """The node's k3s node is Ready again."""
    return f"`{node}` k3s node is Ready again"


def digest_title(day: str) -> str:
    """The digest's header."""
    return f"Lab digest · {day}"


def status_title(scope: str) -> str:
    """`/lab status`'s header."""
    return f"Lab status · {scope}"


def digest_late(due: str, ran: str) -> str:
    """A missed digest caught up after a restart."""
    return f":hourglass: Late: due {due}, sent {ran} (labbot was not running at the due time)."


def digest_summary(counts: Sequence[tuple[str, int]], gathered_seconds: float, at: str) -> str:
    """Counts per node status, and when and how fast the facts were gathered."""
    parts = [f"{digest_status_emoji(status)} {n} {status}" for status, n in counts if n]
    took = f"as of {at}, gathered in {gathered_seconds:.1f} s"
    return " · ".join(parts or ["no nodes"]) + f"  ({took})"


def digest_nodes_heading(attention: int) -> str:
    """Above the node lines."""
    if attention == 0:
        return "*Nodes* — nothing needs attention"
    verb = "needs" if attention == 1 else "need"
    return f"*Nodes* — {attention} {'node' if attention == 1 else 'nodes'} {verb} attention, listed first"


def digest_node_line(emoji: str, node: str, text: str) -> str:
    """One node in the summary."""
    return f"{emoji} *{node}* · {text}"


def digest_node_facts(
    generation: int | None,
    generation_age: str | None,
    version: str | None,
    uptime: str | None,
    disks: Sequence[tuple[str, int]],
    k3s: bool | None,
) -> str:
    """A healthy node's key facts, short enough for a phone."""
    parts = []
    if generation is not None:
        parts.append(f"gen {generation}" + (f" ({generation_age} old)" if generation_age else ""))
    if version:
        parts.append(version)
    if uptime:
        parts.append(f"up {uptime}")
    parts += [f"{'longhorn' if 'longhorn' in path else path} {pct} %" for path, pct in disks]
    if k3s is not None:
        parts.append("k3s Ready" if k3s else "k3s not Ready")
    return " · ".join(parts) or "answers, but reported nothing readable"


def digest_problems_heading() -> str:
    """Above lab-wide problems."""
    return "*Needs attention*"


def digest_changes_heading(previous: str) -> str:
    """Above the changes."""
    return f"*Since the last digest* ({previous})"


def digest_no_changes() -> str:
    """Nothing changed."""
    return "Nothing changed."


def digest_first() -> str:
    """No earlier digest to compare with."""
    return "*Since the last digest*: this is the first one, so there is nothing to compare yet."


def digest_more(count: int) -> str:
    """Lines left out to keep a message within Slack's limits."""
    return f"…and {count} more"


def digest_lab_heading() -> str:
    """Above the lab-wide facts."""
    return "*Updates and secrets*"


def digest_renovate(open_prs: int, verdicts: Sequence[tuple[str, int]]) -> str:
    """Open Renovate PRs and how many have each CI verdict."""
    if open_prs == 0:
        return ":package: Renovate: no open PRs"
    words = {"no_checks": "without checks", "unknown": "CI unknown"}
    ci = ", ".join(f"{n} {words.get(verdict, verdict)}" for verdict, n in verdicts if n)
    plural = "s" if open_prs != 1 else ""
    return f":package: Renovate: {open_prs} open PR{plural} (CI: {ci})"


def digest_renovate_unconfigured() -> str:
    """No github section."""
    return ":package: Renovate: not configured (no `github` section)"


def digest_deploys(total: int, succeeded: int, failed: int) -> str:
    """Deploys and rollbacks of the last 24 h."""
    if total == 0:
        return ":rocket: Last 24 h: no deploys"
    tail = f", {failed} did not succeed" if failed else ""
    plural = "s" if total != 1 else ""
    return f":rocket: Last 24 h: {total} deploy{plural} or rollback{plural}, {succeeded} succeeded{tail}"


def digest_nixpkgs(age: str, rev: str | None) -> str:
    """How old the locked nixpkgs is."""
    shown = f" (`{rev[:7]}`)" if rev else ""
    return f":snowflake: nixpkgs locked {age} ago{shown}"


def digest_sops(age: str | None, job_id: int | None) -> str:
    """Days since labbot last rotated the sops data keys."""
    if age is None:
        return ":key: sops: no data-key rotation recorded by labbot yet"
    return f":key: sops data keys rotated {age} ago (job {job_id})"


def digest_thread_hint() -> str:
    """The summary's last line."""
    return "Details per node, PR and job are in the thread."


def status_node_hint(prefix: str) -> str:
    """The last line of an all-nodes `/lab status`."""
    return f"Details of one node: `{prefix} status NODE`; `--channel` posts it for everyone."


def digest_node_detail(
    node: str,
    where: str,
    lines: Sequence[str],
) -> str:
    """One node's details in the thread."""
    return "\n".join([f"*{node}* ({where})", *lines])


def digest_detail_where(slot: int, board: str, k3s_role: str) -> str:
    """Where a node sits and its k3s role."""
    role = f", k3s {k3s_role}" if k3s_role != "none" else ""
    return f"slot {slot} on `{board}`{role}"


def digest_detail_power(power: bool | None, problem: str) -> str:
    """The BMC's record of the slot."""
    if power is None:
        return f"BMC: unknown ({problem})" if problem else "BMC: unknown"
    return f"BMC: {'on' if power else 'off'}"


def digest_detail_system(
    version: str | None, generation: int | None, built: str | None, revision: str | None
) -> str:
    """What the node runs."""
    text = f"NixOS {version or 'unknown'}"
    if generation is not None:
        text += f", generation {generation}" + (f" from {built}" if built else "")
    if revision:
        text += f", config `{revision[:7]}`"
    return text


def digest_detail_uptime(uptime: str | None, load: tuple[float, float, float] | None) -> str:
    """Uptime and load."""
    parts = [f"up {uptime}" if uptime else "uptime unknown"]
    if load is not None:
        parts.append(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return ", ".join(parts)


def digest_detail_units(state: str | None, failed: Sequence[str]) -> str:
    """systemd's view."""
    failed_text = f"failed: {_names(failed)}" if failed else "no failed units"
    return f"systemd: {state or 'unknown'}, {failed_text}"


def digest_detail_disk(path: str, percent: int, size_gb: float, mount: str) -> str:
    """One filesystem."""
    on = f" (on `{mount}`)" if mount != path else ""
    return f"`{path}` {percent} % of {size_gb:.0f} GB{on}"


def digest_detail_k3s(ready: bool | None) -> str:
    """k3s readiness."""
    if ready is None:
        return "k3s: unknown (no k3s server answered)"
    return "k3s: Ready" if ready else "k3s: not Ready"


def digest_detail_pull(number: int, title: str, url: str, ci: str, age: str) -> str:
    """One Renovate PR in the thread."""
    return f"<{url}|#{number}> {title} · CI {ci} · opened {age} ago"


def digest_detail_job(job_id: int, text: str, state: str, requester: str, result: str) -> str:
    """One job of the last 24 h in the thread."""
    tail = f": {result}" if result else ""
    word = state_word(state)
    return f"{state_emoji(state)} job {job_id} `{text}` by <@{requester}>, {word}{tail}"


def digest_detail_board(bmc: str, board: str, firmware: str | None, problem: str) -> str:
    """One BMC in the thread."""
    if problem:
        return f"BMC `{bmc}` (board `{board}`): {problem}"
    return f"BMC `{bmc}` (board `{board}`): firmware {firmware or 'unknown'}"


def digest_detail_heading(what: str) -> str:
    """A heading in the thread."""
    return f"*{what}*"


def digest_thread_part(index: int, total: int) -> str:
    """The notification text of a thread message with details."""
    return "Details" if total == 1 else f"Details ({index}/{total})"


def status_one_node_hint(prefix: str) -> str:
    """The last line of `/lab status NODE`."""
    return f"Changes are counted from the last digest. `{prefix} status` shows every node."


def status_not_posted(reason: str) -> str:
    """`/lab status --channel` could not post."""
    return f"The status could not be posted in the channel: {reason}"
