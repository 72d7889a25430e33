"""Pull request lifecycle against the bare repo: branch sync, mergeability, and the merge itself.

It must not speak HTTP: it returns outcomes (`MergeRefusal` or the merge sha) for routes to render.
"""

from __future__ import annotations

from dataclasses import dataclass

from labsim.github.ci import context_outcomes
from labsim.github.model import Actor, PullDetail, PullRequest, Repository, utcnow
from labsim.github.state import GITHUB_COMMITTER, GitHubState

NOT_MERGEABLE = "Pull Request is not mergeable"
HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
# Believed GitHub wording for a merge method disabled in the repo settings (not re-verified).
METHOD_DISABLED = {
    "merge": "Merge commits are not allowed on this repository.",
    "squash": "Squash merges are not allowed on this repository.",
    "rebase": "Rebase merges are not allowed on this repository.",
}


@dataclass(frozen=True)
class MergeRefusal:
    """Why a merge was refused, as the HTTP status and message GitHub sends."""

    status: int
    message: str


async def sync_pulls(repo: Repository) -> None:
    """Make open PRs follow their branches, as GitHub does after pushes and branch deletions.

    A deleted head (or base) branch closes the PR; a head that became part of the base branch
    (merged by a push outside the API) marks it merged.
    """
    branches = await repo.git.branches()
    for pr in repo.pulls.values():
        if pr.state != "open":
            continue
        head, base = branches.get(pr.head_ref), branches.get(pr.base_ref)
        if head is None or base is None:
            pr.state, pr.closed_at, pr.updated_at = "closed", utcnow(), utcnow()
            continue
        if (head, base) == pr.synced_key:
            continue
        if head != pr.head_sha or base != pr.base_sha:
            pr.updated_at = utcnow()
        pr.head_sha, pr.base_sha, pr.synced_key = head, base, (head, base)
        if head != base and await repo.git.is_ancestor(head, base):
            mark_merged(pr, base, None)


def mark_merged(pr: PullRequest, merge_sha: str, actor: Actor | None) -> None:
    """Record on the PR that it is merged as `merge_sha`."""
    now = utcnow()
    pr.state, pr.merged, pr.merged_at, pr.closed_at, pr.updated_at = "closed", True, now, now, now
    pr.merged_by, pr.merge_commit_sha = actor, merge_sha


async def _blocking_reason(repo: Repository, pr: PullRequest) -> str | None:
    """The protection rule the PR does not meet yet, in GitHub's 405 wording (believed)."""
    protection = repo.protections.get(pr.base_ref)
    if protection is None:
        return None
    outcomes = context_outcomes(repo, pr.head_sha)
    for context in protection.required_contexts:
        if outcomes.get(context) != "success":
            return f'Required status check "{context}" is expected.'
    latest_by_user: dict[str, str] = {}
    for review in pr.reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED"):
            latest_by_user[review.user.login] = review.state
    if "CHANGES_REQUESTED" in latest_by_user.values():
        return "Changes must be made through a pull request."
    approvals = sum(1 for state in latest_by_user.values() if state == "APPROVED")
    if approvals < protection.required_approvals:
        n = protection.required_approvals
        reviews = "reviews are" if n > 1 else "review is"
        return f"At least {n} approving {reviews} required by reviewers with write access."
    if protection.strict and not await repo.git.is_ancestor(pr.base_sha, pr.head_sha):
        return "Head branch is out of date. Review and try the merge again."
    return None


async def _merge_state(repo: Repository, pr: PullRequest, conflict_free: bool) -> str:
    if pr.draft:
        return "draft"
    if not conflict_free:
        return "dirty"
    reason = await _blocking_reason(repo, pr)
    if reason is not None:
        return "behind" if reason.startswith("Head branch is out of date") else "blocked"
    if any(outcome != "success" for outcome in context_outcomes(repo, pr.head_sha).values()):
        return "unstable"
    return "clean"


async def pull_detail(repo: Repository, pr: PullRequest, null_gets: int) -> PullDetail:
    """Single-PR fields; `mergeable` is null for `null_gets` GETs after head or base moves."""
    mergeable: bool | None = None
    state = "unknown"
    if pr.state == "open":
        key = (pr.head_sha, pr.base_sha)
        if pr.mergeable_key != key:
            pr.mergeable_key = key
            pr.conflict_free = await repo.git.merge_tree(pr.base_sha, pr.head_sha) is not None
            pr.null_gets_left = null_gets
        if pr.mergeable_override is not None:
            mergeable, state = pr.mergeable_override
        elif pr.null_gets_left > 0:
            pr.null_gets_left -= 1
        else:
            mergeable = bool(pr.conflict_free)
            state = await _merge_state(repo, pr, mergeable)
    base = await repo.git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    files = await repo.git.changed_files(base, pr.head_sha)
    commits = await repo.git.rev_list(pr.head_sha, f"^{pr.base_sha}")
    return PullDetail(
        mergeable=mergeable,
        mergeable_state=state,
        commits=len(commits),
        additions=sum(f.additions for f in files),
        deletions=sum(f.deletions for f in files),
        changed_files=len(files),
    )


async def _refusal(repo: Repository, pr: PullRequest, method: str) -> MergeRefusal | None:
    if method not in repo.merge_methods:
        return MergeRefusal(405, METHOD_DISABLED[method])
    if pr.draft:
        return MergeRefusal(405, "Pull Request is still a draft")  # wording inferred
    if pr.mergeable_override is not None:
        value, state = pr.mergeable_override
        if value is False or state in ("dirty", "blocked", "behind", "draft"):
            return MergeRefusal(405, NOT_MERGEABLE)
    if await repo.git.merge_tree(pr.base_sha, pr.head_sha) is None:
        return MergeRefusal(405, NOT_MERGEABLE)
    if pr.mergeable_override is None:
        reason = await _blocking_reason(repo, pr)
        if reason is not None:
            return MergeRefusal(405, reason)
    return None


async def merge_pull(
    state: GitHubState,
    repo: Repository,
    pr: PullRequest,
    *,
    actor: Actor,
    method: str = "merge",
    expected_sha: str | None = None,
    title: str | None = None,
    message: str | None = None,
) -> MergeRefusal | str:
    """Merge `pr` into its base branch in the bare repo; the merge sha, or why not.

    Check order (closed, head sha guard, method, mergeability) is inferred, not verified.
    """
    async with repo.lock:
        await sync_pulls(repo)
        if pr.state != "open":
            return MergeRefusal(405, NOT_MERGEABLE)
        if expected_sha is not None and expected_sha != pr.head_sha:
            return MergeRefusal(409, HEAD_MODIFIED)
        refusal = await _refusal(repo, pr, method)
        if refusal is not None:
            return refusal
        new_sha = await _write_merge(state, repo, pr, actor, method, title, message)
        if new_sha is None:
            return MergeRefusal(405, NOT_MERGEABLE)
        if not await repo.git.update_ref(f"refs/heads/{pr.base_ref}", new_sha, pr.base_sha):
            return MergeRefusal(409, BASE_MODIFIED)
        mark_merged(pr, new_sha, actor)
        return new_sha


async def _write_merge(
    state: GitHubState,
    repo: Repository,
    pr: PullRequest,
    actor: Actor,
    method: str,
    title: str | None,
    message: str | None,
) -> str | None:
    git = repo.git
    if method == "rebase":
        commits = await git.rev_list("--reverse", "--no-merges", pr.head_sha, f"^{pr.base_sha}")
        return await git.cherry_pick_onto(pr.base_sha, commits, GITHUB_COMMITTER)
    tree = await git.merge_tree(pr.base_sha, pr.head_sha)
    if tree is None:
        return None
    if method == "squash":
        subjects = []
        for sha in reversed(await git.rev_list(pr.head_sha, f"^{pr.base_sha}")):
            subjects.append((await git.commit_info(sha)).message.split("\n", 1)[0])
        headline = title or f"{pr.title} (#{pr.number})"
        body = message if message is not None else "\n\n".join(f"* {s}" for s in subjects)
        author = state.identity(pr.user)
        return await git.create_commit(
            tree, [pr.base_sha], _join(headline, body), author, GITHUB_COMMITTER
        )
    headline = title or f"Merge pull request #{pr.number} from {repo.owner.login}/{pr.head_ref}"
    body = message if message is not None else pr.title
    return await git.create_commit(
        tree,
        [pr.base_sha, pr.head_sha],
        _join(headline, body),
        state.identity(actor),
        GITHUB_COMMITTER,
    )


def _join(headline: str, body: str) -> str:
    return f"{headline}\n\n{body}\n" if body else f"{headline}\n"
