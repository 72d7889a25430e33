"""The flow every `/lab sops …` job shares: fresh clone → change → commit → approval → push → PR.

Must not print, log or store a secret value: plans, commits and PRs carry file names, key names,
public recipients and data-key fingerprints only; decrypted values stay inside `Sops` calls.

A kind (`handlers/secrets/changes.py`) supplies `change(work, args)`, which edits the clone and
checks its own result. The plan then commits on `labbot/<job>-<date>` in a clone of its own
under the state dir (so it survives a restart while it waits) and shows the summary; the
approval is bound to the commit and tree hashes. Apply pushes the branch and opens the PR (or
pushes to the base branch when `sops.direct_push` is set), posts the link and a deploy offer.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import messages as engine_messages
from bot.command_spec import Approval
from bot.config import Config, Role, SopsConfig
from bot.errors import LabError, UserError
from bot.integrations.infra_worktree import (
    InfraWorktree,
    PreparedCommit,
    origin_url,
    prune_worktrees,
)
from bot.integrations.sops import Sops
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.jobs import JobEngine
from bot.services import Services
from handlers.secrets import messages
from handlers.secrets.files import encrypted_files, unmatched_files

WORKTREES = "infra-worktrees"


def sops_config(config: Config) -> SopsConfig:
    """The `sops` section, or a `UserError` saying what is missing for secrets work."""
    if config.sops is None:
        raise UserError(messages.sops_not_configured())
    if config.sops.repo_url is None and config.colmena is None:
        raise UserError(messages.sops_no_repo())
    if not config.sops.direct_push and config.github is None:
        raise UserError(messages.sops_no_github())
    return config.sops


@dataclass(frozen=True)
class SopsChange:
    """What a kind changed in the clone: for the plan, the commit message and the PR."""

    title: str  # commit and PR title
    lines: tuple[str, ...]  # one line per change, mrkdwn/markdown-safe, no secret values
    notes: tuple[str, ...] = ()  # extra PR paragraphs (e.g. the k3s-side steps)
    deploy: tuple[str, ...] = ()  # the nodes to deploy once the change is in


@dataclass
class SopsWork:
    """What a change works with: the job's run, its clone and a sops client on that clone."""

    run: JobRun
    tree: InfraWorktree
    sops: Sops
    settings: SopsConfig

    @property
    def sops_yaml(self) -> Path:
        """The clone's `.sops.yaml`, as an absolute path."""
        return self.tree.path / self.settings.sops_yaml

    def read_sops_yaml(self) -> str:
        """The clone's `.sops.yaml`; a `UserError` naming it when it is missing."""
        try:
            return self.sops_yaml.read_text()
        except OSError as exc:
            name = str(self.settings.sops_yaml)
            raise UserError(messages.sops_yaml_unreadable(name, exc.strerror or "")) from None

    def write_sops_yaml(self, text: str) -> None:
        """Replace the clone's `.sops.yaml` (the commit picks it up)."""
        self.sops_yaml.write_text(text)

    async def say(self, line: str) -> None:
        """One line into the job's live output and log."""
        await self.run.stream.write(line)

    async def files(self) -> list[Path]:
        """The encrypted files the creation rules match; refuses if a configured file is missing."""
        text = self.read_sops_yaml()
        found = encrypted_files(
            self.tree.path, await self.tree.tracked_files(), text, self.settings
        )
        missing = unmatched_files(self.settings.secrets_files, found)
        if missing:
            raise UserError(messages.sops_files_unmatched(missing, str(self.settings.sops_yaml)))
        if not found:
            raise UserError(messages.sops_no_files(str(self.settings.sops_yaml)))
        return found


class SopsJobKind:
    """The shared plan/apply/still_valid of the sops kinds; subclasses define `change`."""

    name = "sops"
    action = "sops"  # the command after `sops`, used in branch names

    def title(self, job: Job) -> str:
        """Short title for the job's thread."""
        return messages.sops_job_title(self.action, job_args(job))

    async def change(self, work: SopsWork, args: Sequence[str]) -> SopsChange:
        """Edit the clone and check the result; raise a `LabError` to stop with nothing pushed."""
        raise NotImplementedError

    # --- plan -----------------------------------------------------------------------------------

    async def plan(self, run: JobRun) -> PlanResult:
        """Clone, change, commit; show the summary and ask a second admin to approve."""
        job = run.job
        path = worktree_path(run.config, job.id)
        try:
            settings = sops_config(run.config)
            if not settings.direct_push:
                open_pr = await _open_pr_for_same_change(run, self.action)
                if open_pr is not None:
                    return Finished(JobState.cancelled, open_pr)
            identity = _identity(settings)
            run.redactor.add_secret(identity)
            prune_worktrees(path.parent, keep=path)
            tree = await _clone(run, settings, path)
            base = await tree.branch()
            base_sha = await tree.head()
            branch = branch_name(self.action, job, datetime.now(UTC))
            await run.stream.write(messages.sops_cloned(base, base_sha, branch))
            await tree.start_branch(branch)
            sops = Sops(
                tree.path,
                identity=identity,
                config=settings.sops_yaml,
                binary=settings.binary,
                timeout=settings.timeout_seconds,
                redactor=run.redactor,
            )
            work = SopsWork(run, tree, sops, settings)
            change = await self.change(work, job_args(job))
            run.check_cancelled()
            commit = await tree.commit(
                change.title,
                messages.sops_commit_body(change.lines, change.notes),
                requester=job.requester,
                job_id=job.id,
            )
        except UserError as exc:  # labbot's own sentence
            return Finished(JobState.failed, str(exc))
        except LabError as exc:  # git's, sops' or GitHub's words in it
            return Finished(JobState.failed, engine_messages.integration_failed(str(exc)))
        await run.stream.write(messages.sops_committed(commit.sha, commit.files))
        payload = _payload(path, branch, base, base_sha, commit, change, settings.direct_push)
        payload["body"] = messages.sops_pr_body(
            change.lines,
            change.notes,
            job.requester,
            job.id,
            run.config.slack.command,
            change.deploy,
        )
        summary = messages.sops_plan(
            change.title, change.lines, branch, base, base_sha, commit.sha, settings.direct_push
        )
        button = "Push" if settings.direct_push else "Open PR"
        return NeedsApproval(summary, payload, Role.admin, Approval.four_eyes, button)

    async def after_interrupted(self, job: Job, config: Config, services: Services) -> str:
        """The PR this job opened before it was interrupted, if it opened one."""
        return await check_interrupted_sops(job, services)

    # --- approval check -------------------------------------------------------------------------

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """None while the prepared commit exists and the base branch did not move under it."""
        path = Path(payload["worktree"])
        if not await asyncio.to_thread(path.is_dir):
            return messages.sops_prepared_gone()
        try:
            reason = await _why_not_valid(_open(run, path), payload)
        except UserError as exc:  # labbot's own sentence
            reason = str(exc).rstrip(".")
        except LabError as exc:  # git's or GitHub's words in it
            reason = engine_messages.integration_failed(str(exc).rstrip("."))
        return reason

    # --- apply ----------------------------------------------------------------------------------

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Push the approved commit; open the PR (or push to the base); offer the deploy."""
        path = Path(payload["worktree"])
        tree = _open(run, path)
        prefix = run.config.slack.command
        deploy = list(payload["deploy"])
        try:
            if payload["direct_push"]:
                await tree.push(payload["branch"], to=payload["base"])
                await run.say(messages.sops_pushed(payload["base"], payload["commit"]))
                if payload["notes"]:
                    await run.say("\n".join(payload["notes"]))
                await run.say(messages.sops_deploy_offer(prefix, deploy, merged=True))
                return Finished(
                    JobState.succeeded,
                    messages.sops_done_pushed(payload["base"], payload["commit"]),
                )
            await tree.push(payload["branch"])
            await run.stream.write(messages.sops_branch_pushed(payload["branch"]))
            try:
                github = await run.services.github()
                # Resumed after a crash, the PR may already be open: use it, never a second one.
                pr = await github.pull_for_branch(payload["branch"]) or await github.create_pull(
                    payload["branch"], payload["base"], payload["title"], payload["body"]
                )
            except LabError as exc:
                return Finished(
                    JobState.failed, messages.sops_pr_failed(payload["branch"], str(exc))
                )
            await run.say(messages.sops_pr_opened(pr.number, pr.html_url, payload["title"]))
            await run.say(messages.sops_deploy_offer(prefix, deploy, merged=False))
            return Finished(JobState.succeeded, messages.sops_done_pr(pr.number, pr.html_url))
        except UserError as exc:  # labbot's own sentence
            return Finished(JobState.failed, str(exc))
        except LabError as exc:  # git's or GitHub's words in it
            return Finished(JobState.failed, engine_messages.integration_failed(str(exc)))


async def check_interrupted_sops(job: Job, services: Services) -> str:
    """What an interrupted sops job left on GitHub: the PR of its branch, if it opened one."""
    payload = job.payload
    if not payload.get("branch"):
        return ""  # interrupted before its change was prepared: nothing left anywhere
    if payload.get("direct_push"):
        return messages.sops_interrupted_direct(job.id, payload["base"], payload["commit"])
    try:
        github = await services.github()
        pr = await github.pull_for_branch(payload["branch"])
    except LabError as exc:
        return messages.sops_interrupted_unknown(job.id, payload["branch"], str(exc))
    if pr is None:
        return messages.sops_interrupted_no_pr(job.id, payload["branch"])
    return messages.sops_interrupted_pr(job.id, pr.number, pr.html_url, payload["branch"])


async def _why_not_valid(tree: InfraWorktree, payload: Mapping[str, Any]) -> str | None:
    if await tree.head() != payload["commit"]:
        return messages.sops_prepared_gone()
    moved = await tree.remote_branch(payload["base"])
    if moved is None:
        return messages.sops_base_gone(payload["base"])
    if moved == payload["base_sha"]:
        return None
    if payload["direct_push"]:  # a push to the base must fast-forward from what was approved
        return messages.sops_base_moved(payload["base"], [])
    await tree.fetch(payload["base"])  # a PR merges cleanly unless the base touched our files
    clashes = await tree.changed_files(payload["base_sha"], moved, payload["files"])
    return messages.sops_base_moved(payload["base"], clashes) if clashes else None


def job_args(job: Job) -> list[str]:
    """The words after `sops <action>` in the job's command text (validated when it started)."""
    try:
        return shlex.split(job.text)[2:]
    except ValueError:
        return []


def branch_name(action: str, job: Job, now: datetime) -> str:
    """`labbot/sops-add-node-tp-node1-17-20250131`: the action, its node, the job, the date."""
    return f"{_branch_stem(action, job)}-{job.id}-{now:%Y%m%d}"


def same_change_branch(action: str, job: Job) -> re.Pattern[str]:
    """Matches the branch of any job making this job's change (same action and node)."""
    return re.compile(re.escape(_branch_stem(action, job)) + r"-\d+-\d{8}")


def _branch_stem(action: str, job: Job) -> str:
    words = [word for word in job_args(job)[:1] if not word.startswith("age1")]
    return "labbot/" + "-".join(["sops", action, *words])


async def _open_pr_for_same_change(run: JobRun, action: str) -> str | None:
    """The refusal to prepare a second PR while one for the same change is open (an earlier
    run, interrupted after opening it, say); None when there is none or GitHub cannot say
    (the PR step at apply finds its own branch's PR either way)."""
    pattern = same_change_branch(action, run.job)
    try:
        github = await run.services.github()
        found = await github.open_pulls(lambda pr: pattern.fullmatch(pr.head_ref) is not None)
    except LabError as exc:
        await run.stream.write(messages.sops_open_prs_unknown(str(exc)))
        return None
    if not found:
        return None
    pr = found[0]
    return messages.sops_same_change_open(pr.number, pr.html_url, pr.head_ref)


def _identity(settings: SopsConfig) -> str:
    try:
        return settings.age_key.read()
    except LookupError as exc:
        raise UserError(messages.sops_age_key_unreadable(str(exc))) from None


async def _clone(run: JobRun, settings: SopsConfig, path: Path) -> InfraWorktree:
    checkout = run.config.colmena.flake_dir if run.config.colmena else None
    timeout = settings.timeout_seconds
    url = settings.repo_url
    if url is None:
        assert checkout is not None  # sops_config() checked
        url = await origin_url(checkout, timeout=timeout, redactor=run.redactor)
    return await InfraWorktree.clone(
        url,
        path,
        reference=checkout,
        timeout=timeout,
        redactor=run.redactor,
        cancel=run.cancel,
    )


def worktree_path(config: Config, job_id: int) -> Path:
    """Where job `job_id` keeps its clone of the infra repo."""
    return config.storage.state_dir / WORKTREES / f"job-{job_id}"


def remove_clone_when_done(engine: JobEngine, config: Config, kinds: Iterable[str]) -> None:
    """Delete a sops job's clone however the job ends (pushed, failed, void, rejected, expired,
    cancelled, crashed, or interrupted by a restart): the one place clones are removed, besides
    the prune of leftovers when the next sops job starts."""

    async def remove(job: Job, _outcome: Finished) -> None:
        await asyncio.to_thread(_remove, worktree_path(config, job.id))

    for kind in kinds:
        engine.on_finished(kind, remove)


def _open(run: JobRun, path: Path) -> InfraWorktree:
    timeout = run.config.sops.timeout_seconds if run.config.sops else 120.0
    return InfraWorktree(path, timeout=timeout, redactor=run.redactor, cancel=run.cancel)


def _remove(path: Path) -> None:
    InfraWorktree(path).remove()


def _payload(
    path: Path,
    branch: str,
    base: str,
    base_sha: str,
    commit: PreparedCommit,
    change: SopsChange,
    direct_push: bool,
) -> dict[str, Any]:
    return {
        "worktree": str(path),
        "branch": branch,
        "base": base,
        "base_sha": base_sha,
        "commit": commit.sha,
        "tree": commit.tree,
        "files": list(commit.files),
        "title": change.title,
        "deploy": list(change.deploy),
        "notes": list(change.notes),
        "direct_push": direct_push,
    }
