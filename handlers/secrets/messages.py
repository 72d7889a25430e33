"""sops secrets jobs.

The capability's own sentences, beside the engine's in `bot.messages`: plain mrkdwn strings,
never handed a secret value.

Long because: one short function per sentence the user can see, kept together so the wording
is reviewed in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages.core import _names, outside

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
    """The node's ed25519 host key file could not be read over SSH (a UserError's text, shown as
    it is: the node's words escaped here)."""
    return f"Cannot read `{path}` on {node}: {outside(reason.rstrip('.'))}. Nothing was changed."


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


def sops_key_unchanged(node: str, recipient: str) -> str:
    """add-node for a node whose key in .sops.yaml already is the one it has."""
    return (
        f"`{node}` already has its current key in .sops.yaml (`{recipient}`); there is nothing "
        "to replace. Nothing was changed."
    )


def sops_title_replace(node: str) -> str:
    """Commit/PR title of add-node replacing a node's key."""
    return f"sops: replace {node}'s key (new host key) and rotate"


def sops_line_key_replaced(node: str, old: str, new: str, source: str) -> str:
    """The .sops.yaml edit of a key replacement: old → new."""
    return f"`.sops.yaml`: key `{node}` replaced: `{old}` → `{new}` (from {source})"


def sops_line_recipient_replaced(path: str, node: str, fingerprints: tuple[str, str]) -> str:
    """One file re-encrypted for a node's new key, with a new data key."""
    before, after = fingerprints
    return (
        f"`{path}`: `{node}`'s old key replaced by its new one (sops updatekeys), data key "
        f"rotated `{before}` → `{after}`; values unchanged"
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
    return f"Pushed `{branch}` but could not open the PR: {outside(reason.rstrip('.'))}. Open it by hand."


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


def sops_yaml_unreadable(name: str, reason: str) -> str:
    """The infra repo has no readable `.sops.yaml` where the config says."""
    why = f" ({reason})" if reason else ""
    return f"The infra repo has no readable `{name}`{why} (`sops.sops_yaml`). Nothing was changed."


# --- after an interruption ----------------------------------------------------------------


def sops_same_change_open(number: int, url: str, branch: str) -> str:
    """A PR for the same change is still open: no second one is prepared."""
    return (
        f"PR #{number} (<{url}|branch `{branch}`>) already makes this change and is still open. "
        "Merge or close it first; nothing new was prepared."
    )


def sops_open_prs_unknown(detail: str) -> str:
    """GitHub could not list the open PRs before preparing a change."""
    return f"Could not look for an open PR making the same change ({outside(detail)}); going on."


def sops_interrupted_pr(job_id: int, number: int, url: str, branch: str) -> str:
    """An interrupted sops job had opened its PR."""
    return (
        f"Checked after the interruption of job {job_id}: it had opened PR #{number} "
        f"(<{url}|branch `{branch}`>). Review and merge it there; running the job again points "
        "to it rather than preparing a second change."
    )


def sops_interrupted_no_pr(job_id: int, branch: str) -> str:
    """An interrupted sops job that opened no PR."""
    return (
        f"Checked after the interruption of job {job_id}: no PR was opened from `{branch}`, so "
        "nothing changed on GitHub. Run the command again."
    )


def sops_interrupted_direct(job_id: int, base: str, commit: str) -> str:
    """An interrupted sops job that was to push straight to the base branch."""
    return (
        f"Job {job_id} was to push `{commit[:12]}` straight to `{base}`: check whether `{base}` "
        "has it before running the command again."
    )


def sops_interrupted_unknown(job_id: int, branch: str, error: str) -> str:
    """GitHub could not say whether the interrupted sops job opened its PR."""
    return (
        f"labbot could not check whether job {job_id} opened a PR from `{branch}` "
        f"(GitHub: {outside(error)}). Look for it on GitHub before running the command again."
    )
