"""The nightly digest and /lab status.

The capability's own sentences, beside the engine's in `bot.messages`: plain mrkdwn strings,
never handed a secret value. A `problem` is a sentence from the snapshot
(`handlers/status/lab_facts.py`), escaped where it was built, so it is embedded as it is; any
other outside text (versions, units, titles) is escaped here with `outside()`.

Long because: one short function per sentence the user can see, kept together so the wording
is reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.integrations.k3s_cluster import CertificateExpiry, PodProblem
from bot.messages.core import _names, outside, state_emoji, state_word
from bot.messages.integrations import boot_parts
from handlers.status.lab_facts import NodeFacts

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
    """A node answered with nothing the digest can read; `detail` is its stderr."""
    return f"it answered with nothing readable ({outside(detail)})"


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


def digest_reason_reboot_pending(node: str, parts: Sequence[str], prefix: str = "/lab") -> str:
    """The node runs a system whose kernel, initrd or modules it has not booted yet."""
    what = boot_parts(parts)
    return f"reboot pending ({what} changed): `{prefix} reboot {node}`"


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
    return f"Renovate PR #{number} ({outside(title)}): CI failing"


def digest_problem_job(job_id: int, text: str, state: str) -> str:
    """A job of the last 24 h ended badly."""
    return f"job {job_id} `{outside(text)}` {state_word(state)}"


def digest_problem_nixpkgs(problem: str) -> str:
    """The nixpkgs lock could not be read."""
    return f"nixpkgs lock unknown: {problem}"


def digest_problem_pods(counts: Mapping[str, int], worst: Sequence[PodProblem]) -> str:
    """Pods of the k3s cluster that are neither running nor completed."""
    total = sum(counts.values())
    per_namespace = ", ".join(f"{outside(ns)} {n}" for ns, n in counts.items())
    named = "; ".join(
        f"{outside(p.namespace)}/{outside(p.name)} {outside(p.reason)}"
        + (f" ({p.restarts} restarts)" if p.restarts else "")
        + (f" on {outside(p.node)}" if p.node else "")
        for p in worst
    )
    return f"{total} pod{'s' if total != 1 else ''} not running ({per_namespace}): {named}"


def digest_problem_volume(name: str, robustness: str, claim: str) -> str:
    """A Longhorn volume is degraded or faulted."""
    of = f" ({outside(claim)})" if claim else ""
    return f"Longhorn volume {outside(name)}{of} is {outside(robustness)}"


def digest_problem_certificates(server: str, certificates: Sequence[CertificateExpiry]) -> str:
    """k3s certificates expire within 30 days."""
    names = ", ".join(f"{outside(c.filename)} ({c.expires_at:%Y-%m-%d})" for c in certificates[:5])
    more = f" and {len(certificates) - 5} more" if len(certificates) > 5 else ""
    return (
        f"k3s certificates on {server} expire within 30 days: {names}{more}. k3s renews them "
        "when it restarts within 120 days of expiry: restart k3s on each server"
    )


def digest_problem_cluster(server: str, problem: str) -> str:
    """A part of the cluster's health could not be read."""
    return f"k3s on {server or 'the servers'}: {problem}"


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
    return f"Renovate opened #{number}: {outside(title)}"


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
    running = f", NixOS {outside(version)}" if version else ""
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
        parts.append(outside(version))
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


def digest_deploys(total: int, states: Mapping[str, int]) -> str:
    """Deploys and rollbacks of the last 24 h, every one counted by how it stands."""
    if total == 0:
        return ":rocket: Last 24 h: no deploys"
    plural = "s" if total != 1 else ""
    first = ("succeeded", "failed", "rolled_back", "interrupted", "cancelled")
    order = sorted(states, key=lambda s: first.index(s) if s in first else len(first))
    counted = ", ".join(f"{states[state]} {state_word(state)}" for state in order)
    return f":rocket: Last 24 h: {total} deploy{plural} or rollback{plural}: {counted}"


def digest_nixpkgs(age: str, rev: str | None) -> str:
    """How old the locked nixpkgs is."""
    shown = f" (`{rev[:7]}`)" if rev else ""
    return f":snowflake: nixpkgs locked {age} ago{shown}"


def digest_sops(age: str | None, job_id: int | None) -> str:
    """Days since labbot last rotated the sops data keys."""
    if age is None:
        return ":key: sops: no data-key rotation recorded by labbot yet"
    return f":key: sops data keys rotated {age} ago (job {job_id})"


def drift_unknown(problem: str) -> str:
    """The build for the drift check failed (`problem`: escaped where it was built)."""
    return f":twisted_rightwards_arrows: Drift unknown: the infra checkout did not build: {problem}"


def drift_none(revision: str) -> str:
    """Every node runs what the infra checkout builds."""
    return f":twisted_rightwards_arrows: No drift: every node runs what `{revision[:7]}` builds"


def drift_node(
    node: str,
    running: str | None,
    behind: int | None,
    commits: Sequence[str],
    revision: str,
    prefix: str = "/lab",
) -> str:
    """One node that runs something other than what the infra checkout builds."""
    dirty = running is not None and running.endswith("-dirty")
    if running is None:
        runs = "a system without a configurationRevision"
    else:
        runs = f"`{outside(running.removesuffix('-dirty'))[:7]}`" + (
            " (deployed from uncommitted changes)" if dirty else ""
        )
    if behind is None or (behind == 0 and dirty):
        where = f"not what `{revision[:7]}` builds"
    elif behind == 0:
        where = f"not what `{revision[:7]}` builds (same commit: changed outside git?)"
    else:
        where = f"{behind} commit{'s' if behind != 1 else ''} behind `{revision[:7]}`"
    listed = f": {'; '.join(outside(c) for c in commits)}" if commits else ""
    return (
        f":twisted_rightwards_arrows: Drift: *{node}* runs {runs}, {where}{listed} · "
        f"`{prefix} deploy {node}`"
    )


def drift_more(count: int) -> str:
    """More drifting nodes than the summary lists."""
    return f":twisted_rightwards_arrows: and {count} more node{'s' if count != 1 else ''} drifting"


def drift_build_timed_out(seconds: float) -> str:
    """The digest's build of every node took too long."""
    return f"the build took longer than {seconds:g} s (`digest.build_timeout_seconds`)"


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
    text = f"NixOS {outside(version) if version else 'unknown'}"
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
    return f"systemd: {outside(state) if state else 'unknown'}, {failed_text}"


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
    return f"<{outside(url)}|#{number}> {outside(title)} · CI {ci} · opened {age} ago"


def digest_detail_job(job_id: int, text: str, state: str, requester: str, result: str) -> str:
    """One job of the last 24 h in the thread."""
    tail = f": {result}" if result else ""
    word = state_word(state)
    return f"{state_emoji(state)} job {job_id} `{outside(text)}` by <@{requester}>, {word}{tail}"


def digest_detail_board(bmc: str, board: str, firmware: str | None, problem: str) -> str:
    """One BMC in the thread."""
    if problem:
        return f"BMC `{bmc}` (board `{board}`): {problem}"
    return f"BMC `{bmc}` (board `{board}`): firmware {outside(firmware) or 'unknown'}"


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
    return f"The status could not be posted in the channel: {outside(reason)}"


def digest_disabled() -> str:
    """`/lab digest` with `digest.enabled: false`."""
    return (
        "The digest is turned off (`digest.enabled: false` in labbot's config). Nothing was posted."
    )


def digest_posted_now(channel: str) -> str:
    """`/lab digest` posted the digest."""
    return f"Posted the digest in <#{channel}>, as the nightly run does."


def no_nodes() -> str:
    """`/lab nodes` with an empty inventory."""
    return "The inventory lists no nodes (`inventory` in labbot's config)."


def nodes_list(count: int, lines: Sequence[str]) -> str:
    """`/lab nodes`: the header and one line per node."""
    return f"*Nodes* ({count}):\n" + "\n".join(lines)


def node_line(
    name: str,
    board: str,
    slot: int,
    module: str,
    k3s_role: str,
    tags: Sequence[str],
    facts: NodeFacts | None,
    deferred: bool,
) -> str:
    """One node: where it sits, what it is, and what the BMC and SSH say now."""
    parts = [f"`{board}` slot {slot}", module]
    if k3s_role != "none":
        parts.append(f"k3s {k3s_role}")
    if tags:
        parts.append("tags " + ", ".join(f"`{t}`" for t in tags))
    if deferred:
        parts.append("deferred (never deployed)")
    if facts is not None:
        power = {True: "on", False: "off", None: "unknown"}[facts.power]
        parts.append(f"power {power}")
        if facts.reachable:
            parts.append("SSH ok")
            if facts.generation is not None:
                parts.append(f"generation {facts.generation}")
            if facts.k3s_ready is not None:
                parts.append("k3s Ready" if facts.k3s_ready else "k3s NotReady")
            if facts.reboot_pending:
                parts.append("reboot pending")
        elif not deferred:
            parts.append(f"SSH: {facts.problem or 'no answer'}")
    return f"• *{name}* — " + " · ".join(parts)


def logs_bad_unit(unit: str) -> str:
    """`/lab logs` with a unit name systemd would not have."""
    return (
        f"`{outside(unit)}` is not a unit name (letters, digits and `@_.:-`, not starting with "
        "`-`). Nothing was read."
    )


def logs_too_many_lines(count: int, most: int) -> str:
    """`--lines` out of bounds."""
    return f"`--lines {count}`: give 1 to {most}. Nothing was read."


def logs_unreachable(node: str, detail: str) -> str:
    """SSH to the node failed."""
    return f"Could not read the journal of {node}: {outside(detail)}"


def logs_failed(node: str, detail: str) -> str:
    """journalctl refused (a bad --grep pattern, say)."""
    return f"journalctl on {node} refused: {outside(detail) or 'no reason given'}"


def logs_empty(what: str) -> str:
    """Nothing matched."""
    return f"No journal lines for {what} (is the unit name right?)."


def logs_inline(what: str, count: int, output: str) -> str:
    """A short journal, shown whole."""
    return (
        f"Journal of {what}, {count} line{'s' if count != 1 else ''}:\n```\n{outside(output)}\n```"
    )


def logs_file_heading(what: str, count: int) -> str:
    """The message a long journal is attached to."""
    return f"Journal of {what}: {count} lines, attached."


def logs_tail(what: str, count: int, shown: int, tail: str) -> str:
    """A long journal: its last lines, the whole in the channel."""
    return (
        f"Journal of {what}: {count} lines; the whole is attached in the channel, the last "
        f"{shown} here:\n```\n{outside(tail)}\n```"
    )
