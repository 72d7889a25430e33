"""Deploy and rollback: targets, colmena, SSH, the health gate and verdicts.

The capability's own sentences, beside the engine's in `bot.messages`: plain mrkdwn strings,
never handed a secret value.

Long because: one short function per sentence the user can see, kept together so the wording
is reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.messages.core import _names, outside
from bot.messages.integrations import boot_parts, colmena_exit

# --- deploy and rollback (targets, colmena, SSH, health gate) ---------------------------------


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
    return f"systemctl is-system-running on {node} says `{outside(state)}`"


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
    """The rollback could not even start (an SSH error's text)."""
    return f"could not roll back: {outside(detail)}"


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
    """What the nodes run before anything changes (for many nodes: the table has each)."""
    if len(generations) > 6:
        return (
            f"Recorded before building: the generation of each of the {len(generations)} "
            "nodes (in the table of the output below)."
        )
    listed = ", ".join(f"{node} on generation {gen}" for node, gen in generations.items())
    return f"Recorded before building: {listed}."


def deploy_plan_failed(detail: str, hint: str = "") -> str:
    """The plan (check, record, build) failed; nothing changed. `detail` is an error's text,
    `hint` labbot's own sentence after it."""
    return f"Nothing was deployed: {outside(detail)}" + (f" {hint}" if hint else "")


def deploy_nothing_to_do(nodes: Sequence[str]) -> str:
    """Every node already runs what colmena built, and passes the health gate."""
    run, passes = ("runs", "passes") if len(nodes) == 1 else ("run", "pass")
    return (
        f"Nothing to deploy: {_names(nodes)} already {run} exactly what colmena built, "
        f"and {passes} the health gate."
    )


def no_flake_lock(flake_dir: object) -> str:
    """The infra checkout has no flake.lock."""
    return (
        f"Nothing was deployed: the infra checkout ({flake_dir}) has no `flake.lock`, so the "
        "inputs would be resolved anew on every build and what runs would not be what is "
        "committed. Run `nix flake lock` in the infra repository, commit flake.lock and push; "
        "labbot deploys once its checkout has it."
    )


def plan_only_done() -> str:
    """`deploy … --plan` ends with its plan."""
    return "This was `--plan`: nothing was applied and no approval was asked. Run it without `--plan` to deploy."


def power_on_hint(node: str) -> str:
    """After an unreachable node: it may simply be off."""
    return f"If it is powered off, `/lab power {node} on` starts it (`/lab power status` shows)."


def unchanged_node_unhealthy(name: str, generation: int, reasons: Sequence[str]) -> str:
    """A node that already runs what colmena built fails the health gate."""
    problems = "; ".join(outside(r) for r in reasons)
    return (
        f"• *{name}* runs what colmena built (generation {generation}) but is not healthy: "
        f"{problems}. `/lab rollback {name}` goes back to the generation before it."
    )


def deploy_nothing_to_do_unhealthy(lines: Sequence[str]) -> str:
    """Nothing to switch, but the health gate failed on some nodes."""
    return "Nothing to deploy, but the health gate failed:\n" + "\n".join(lines)


def closure_diff_summary(
    changes: Sequence[tuple[str, Sequence[str], Sequence[str]]], size_delta: int
) -> str:
    """A closure diff in one or two lines: version changes and the size delta."""
    shown = [
        f"{outside(name)} {outside(', '.join(old)) or '∅'} → {outside(', '.join(new)) or '∅'}"
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
        + (f" ({outside(reason.rstrip('.'))})" if reason else "")
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
    return f"the check before applying failed ({outside(detail.rstrip('.'))})"


def deploy_build_changed(node: str, approved: str, now: str | None) -> str:
    """A rebuild yields another path than the approved one."""
    return f"the build of {node} changed since the plan (approved `{approved}`, now `{now or 'nothing'}`)"


def deploy_node_moved(node: str, planned: int, now: int) -> str:
    """The node changed between plan and apply."""
    return f"{node} changed since the plan (generation {planned} then, {now} now)"


def deploy_progress(job_id: int, phases: dict[str, str]) -> str:
    """The live output's title while colmena runs."""
    return f"Job {job_id} output: " + ", ".join(f"{node} {phase}" for node, phase in phases.items())


def deploy_progress_counts(job_id: int, nodes: int, states: Mapping[str, int]) -> str:
    """The live output's title of a deploy of several nodes: how many are in which state."""
    counted = ", ".join(f"{count} {state}" for state, count in states.items())
    return f"Job {job_id} output: {nodes} nodes: {counted}"


_TABLE_CHARS = 1300  # within the stream's board limit (bot/stream.py)


def deploy_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """One line per node (node, state, generation), aligned in a code block."""
    header = ("node", "state", "generation")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    lines = [
        f"{node.ljust(widths[0])}  {state.ljust(widths[1])}  {generation}".rstrip()
        for node, state, generation in [header, *rows]
    ]
    if sum(len(line) + 1 for line in lines) + 8 <= _TABLE_CHARS:
        return "```\n" + "\n".join(lines) + "\n```"
    shown: list[str] = []
    for index, line in enumerate(lines):
        more = f"… and {len(lines) - index} more nodes (every node is in the log)"
        if sum(len(s) + 1 for s in shown) + len(line) + len(more) + 8 > _TABLE_CHARS:
            shown.append(more)
            break
        shown.append(line)
    return "```\n" + "\n".join(shown) + "\n```"


def deploy_apply_failed(detail: str) -> str:
    """colmena did nothing (usage error, panic, nothing selected, could not start)."""
    return f"Nothing was deployed: {outside(detail)}"


def deploy_not_activated(stage: str, error: str) -> str:
    """A node failed before activation: it was not changed."""
    return f"{stage} failed ({outside(error)}); the node was not changed"


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
    return f"{stage} failed: {outside(error)}{because}{failed}"


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


def deploy_summary_counted(
    verdicts: Mapping[str, int], problems: Sequence[str], unchanged: Sequence[str]
) -> str:
    """The verdict of a deploy of many nodes: how many ended how, then a line for each node
    that is not healthy; the table below has every node."""
    counted = ", ".join(f"{count} {verdict}" for verdict, count in verdicts.items())
    nodes = sum(verdicts.values())
    same = f" Unchanged: {len(unchanged)} node(s)." if unchanged else ""
    lines = "".join(f"\n{line}" for line in problems)
    return f"{nodes} nodes deployed: {counted}.{same} Every node is in the table below.{lines}"


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
    return f"Nothing was changed: {outside(detail)}"


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
    return f"the check before switching failed ({outside(detail.rstrip('.'))})"


def rollback_path_changed(node: str, generation: int) -> str:
    """The generation's path is not the approved one."""
    return f"generation {generation} of {node} is no longer the approved system"


def rollback_apply_failed(detail: str) -> str:
    """The switch could not run."""
    return f"The rollback could not run: {outside(detail)}"


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


# --- after an interruption ----------------------------------------------------------------

DEPLOY_PLANNED = "the deploy"
ROLLBACK_PLANNED = "the rollback"


def interrupted_node_state(
    name: str,
    *,
    approved_running: bool,
    generation_before: int,
    generation_now: int,
    healthy: bool,
    reasons: Sequence[str],
    planned_by: str,
) -> str:
    """One node of an interrupted deploy or rollback (`planned_by`), as checked afterwards."""
    if approved_running:
        running = f"runs the approved system (generation {generation_now}, was {generation_before})"
    else:
        running = (
            f"does not run the approved system (generation {generation_now}; "
            f"it was on {generation_before} when {planned_by} was planned)"
        )
    if healthy:
        return f"• *{name}* {running}: healthy."
    problems = "; ".join(outside(r) for r in reasons)
    back = (
        f" `/lab rollback {name} {generation_before}` goes back to generation {generation_before}."
        if generation_now != generation_before
        else ""
    )
    return f"• *{name}* {running}: *not healthy*: {problems}.{back}"


def interrupted_node_unreachable(name: str, error: str) -> str:
    """A node of an interrupted deploy that could not be read over SSH."""
    return (
        f"• *{name}*: could not be checked over SSH ({outside(error)}); "
        f"`/lab power status` shows whether it has power."
    )


def interrupted_deploy_checked(job_id: int, lines: Sequence[str]) -> str:
    """What the nodes of an interrupted deploy run now."""
    return (
        f"Checked after the interruption of job {job_id}: what each node runs now.\n"
        + "\n".join(lines)
    )


def generations_unreadable(node: str, detail: str) -> str:
    """`/lab generations` could not read the node."""
    return f"Could not read the generations of {node}: {outside(detail)}"


def generation_line(
    number: int, date: str, version: str | None, *, current: bool, booted: bool
) -> str:
    """One generation: number, date, NixOS version, current and booted marks."""
    marks = [m for m, on in (("current", current), ("booted", booted)) if on]
    what = f" · NixOS {outside(version)}" if version else ""
    return f"• *{number}* · {date}{what}" + (f" · *{', '.join(marks)}*" if marks else "")


def generations_list(node: str, lines: Sequence[str], reboot_pending: bool) -> str:
    """`/lab generations NODE`."""
    pending = (
        "\n:arrows_counterclockwise: Reboot pending: the node booted another system than the "
        "current one; a reboot starts the current one."
        if reboot_pending
        else ""
    )
    return f"*Generations of {node}* (newest last):\n" + "\n".join(lines) + pending


def restart_bad_unit(unit: str) -> str:
    """`/lab restart` with a unit name systemd would not have."""
    return (
        f"`{outside(unit)}` is not a unit name (letters, digits and `@_.:-`, not starting with "
        "`-`). Nothing was started."
    )


def restart_no_such_unit(node: str, unit: str) -> str:
    """The node's systemd has no unit of that name."""
    return f"{node} has no unit `{outside(unit)}` (systemd: not-found). Nothing was restarted."


def restart_title(node: str, unit: str) -> str:
    """The job's title."""
    return f"Restart {unit} on {node}"


def restart_unreachable(node: str, detail: str) -> str:
    """SSH to the node failed."""
    return f"Nothing was restarted: {outside(detail)}"


def restart_plan(node: str, unit: str, state: str) -> str:
    """What the approval is for."""
    return f"*Plan*: `systemctl restart {unit}` on {node} (it is {outside(state)} now)."


def restart_done(node: str, unit: str, state: str, exit_status: int) -> str:
    """The verdict: the unit's state after the restart."""
    if exit_status != 0:
        return f"`systemctl restart {unit}` failed on {node} (exit {exit_status}); it is {outside(state)}. Its last journal lines are above."
    return (
        f"{unit} on {node} is {outside(state)} after the restart. Its last journal lines are above."
    )


# --- /lab reboot ----------------------------------------------------------------------------


def reboot_title(node: str, drain: bool) -> str:
    """The job's title."""
    return f"Reboot {node}" + (" (drained first)" if drain else "")


def reboot_drain_both() -> str:
    """`--drain` and `--no-drain` together."""
    return "`--drain` and `--no-drain` contradict each other: give one. Nothing was started."


def reboot_drain_not_k3s(node: str) -> str:
    """`--drain` on a node outside k3s."""
    return f"{node} is not a k3s node, so there is nothing to drain. Nothing was started."


def reboot_not_configured() -> str:
    """Rebooting needs the ssh section."""
    return "Rebooting needs the `ssh` section in labbot's config. Nothing was started."


def reboot_unreachable(node: str, detail: str) -> str:
    """SSH or kubectl failed before the reboot was asked for."""
    return f"Could not reboot {node}: {outside(detail)}"


def reboot_longhorn_unreadable(server: str, detail: str) -> str:
    """Longhorn's replica list could not be read: an error's text, so `detail` (the node's
    words) stays raw and the message showing the error escapes it (`bot.errors`)."""
    return (
        f"could not read Longhorn's replicas on {server} ({detail}), so labbot cannot "
        "tell whether draining would leave a volume without a healthy replica"
    )


def reboot_recheck_failed(detail: str) -> str:
    """The check before rebooting failed: the error's text, escaped."""
    return outside(detail)


def reboot_refused_longhorn(node: str, volumes: Sequence[str]) -> str:
    """The node holds the last healthy replica of these volumes."""
    names = ", ".join(f"`{outside(v)}`" for v in volumes)
    return (
        f"Refused: {node} holds the last healthy Longhorn replica of {names}. Draining would "
        "block and rebooting would leave "
        + ("it" if len(volumes) == 1 else "them")
        + " without a healthy replica. Let Longhorn rebuild a replica on another node first "
        "(or add one), then try again. Nothing was changed."
    )


def reboot_plan(node: str, drain: bool, server: str | None, pending: Sequence[str]) -> str:
    """What the approval is for."""
    steps = []
    if drain:
        steps.append(f"cordon and drain {node} (kubectl on {server})")
    steps.append(f"`systemctl reboot` on {node}")
    steps.append("wait for it to come back with a new boot id, then the health gate")
    if drain:
        steps.append(f"uncordon {node}")
    why = ""
    if pending:
        what = boot_parts(pending)
        why = f" It boots the running system's {what}, which {node} has not booted yet."
    longhorn = " Every Longhorn volume keeps a healthy replica on another node." if drain else ""
    return "*Plan*: " + "; ".join(steps) + "." + why + longhorn


def reboot_went_down(node: str) -> str:
    """The log line when the node stops answering."""
    return f"{node} went down"


def reboot_came_back(node: str, boot_id: str) -> str:
    """The log line when the node answers with a new boot id."""
    return f"{node} is back (boot id {outside(boot_id[:8])}…)"


def reboot_drain_failed(node: str, detail: str, uncordoned: bool) -> str:
    """kubectl drain failed: no reboot."""
    after = (
        f"{node} was uncordoned again."
        if uncordoned
        else f"{node} is still cordoned: `k3s kubectl uncordon {node}` on a server."
    )
    return f"The drain of {node} failed, so it was not rebooted: {outside(detail)}. {after}"


def reboot_not_back(node: str, seconds: float, drained: bool) -> str:
    """The node did not answer with a new boot id in time."""
    cordoned = (
        f" It stays cordoned until it is back: then `k3s kubectl uncordon {node}` on a server."
        if drained
        else ""
    )
    return (
        f"{node} did not come back within {seconds:g} s of `systemctl reboot`. A BMC power reset "
        f"usually brings a hung node back: the button below starts one (with its own approval)."
        + cordoned
    )


def reboot_reset_offer(node: str) -> str:
    """The sentence above the reset button."""
    return f"{node} has not come back. Reset it through the BMC?"


def reboot_unhealthy(node: str, reasons: Sequence[str], drained: bool) -> str:
    """The node came back but failed the health gate."""
    stays = (
        f" It stays cordoned so nothing is scheduled onto it: `k3s kubectl uncordon {node}` when fixed."
        if drained
        else ""
    )
    return f"{node} rebooted but is not healthy: {'; '.join(outside(r) for r in reasons)}." + stays


def reboot_done(node: str, generation: int, drained: bool, uncordoned: bool) -> str:
    """The verdict after a reboot."""
    text = f"{node} rebooted into generation {generation} and is healthy."
    if drained and uncordoned:
        text += " It was uncordoned."
    elif drained:
        text += f" Uncordoning failed: `k3s kubectl uncordon {node}` on a server."
    return text


@dataclass(frozen=True)
class NodeRunning:
    """What a node runs, as checked after an interruption: its generation and the gate's say."""

    generation: int
    healthy: bool
    reasons: tuple[str, ...] = ()


def _running(running: NodeRunning | None) -> str:
    if running is None:
        return ""
    if running.healthy:
        return f" It runs generation {running.generation} and is healthy."
    problems = "; ".join(outside(r) for r in running.reasons)
    return f" It runs generation {running.generation} and is *not healthy*: {problems}."


def reboot_interrupted(
    job_id: int,
    node: str,
    rebooted: bool | None,
    cordoned: bool | None,
    running: NodeRunning | None = None,
) -> str:
    """What an interrupted reboot left: checked, not assumed."""
    if rebooted is None:
        state = f"{node} does not answer over SSH: it may still be booting, or hung (`/lab power {node} reset`)."
    elif rebooted:
        state = f"{node} rebooted (its boot id changed) and answers." + _running(running)
    else:
        state = f"{node} was not rebooted (same boot id)." + _running(running)
    if cordoned:
        state += f" It is still cordoned: `k3s kubectl uncordon {node}` on a server, or `/lab reboot {node}` again."
    return f"Checked after job {job_id} was interrupted: {state}"


def reboot_offer(node: str, parts: Sequence[str], boot_goal: bool) -> str:
    """A deployed node waits for a reboot to run its new kernel, initrd or modules."""
    what = boot_parts(parts)
    when = "boots the deployed system" if boot_goal else "runs the deployed system's"
    if boot_goal:
        return f"{node} {when} only after a reboot (its {what} changed). Reboot it now?"
    return f"{node} {when} {what} only after a reboot. Reboot it now (drained first on k3s)?"


def reboot_offer_more(nodes: Sequence[str]) -> str:
    """More nodes wait for a reboot than get a button."""
    return f"Also waiting for a reboot: {', '.join(nodes)} (`/lab reboot NODE` for each)."


def reboot_offer_started(node: str, job_id: int) -> str:
    """The clicker started the reboot."""
    return f"Started job {job_id}: reboot `{node}`. Its plan and approval follow in its thread."


def reboot_offer_taken(node: str, job_id: int) -> str:
    """A reboot of the node was already started after this deploy."""
    return f"Job {job_id} already reboots `{node}` after this deploy. Nothing more was started."
