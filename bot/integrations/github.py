"""labbot's GitHub client: the infra repo's pull requests, CI, files, reviews and merges.

Must not block the event loop or let PyGithub objects and exceptions out: every PyGithub call runs
in the client's own small thread pool with a timeout, and its errors are translated in `_run`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from github import Github
from github.Repository import Repository
from github.Requester import Requester

from bot.config import GitHubConfig, MergeMethod
from bot.integrations.github_access import read_access
from bot.integrations.github_ci import (
    CheckRunState,
    CiState,
    CiVerdict,
    StatusContext,
    judge_ci,
    latest_check_runs,
)
from bot.integrations.github_conditional import ConditionalReads
from bot.integrations.github_connection import GitHubTuning, connect_github
from bot.integrations.github_errors import (
    LIBRARY_ERRORS,
    MERGE_REFUSALS,
    GitHubAuthFailed,
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    MergeRefused,
    translate_github_error,
)
from bot.integrations.github_models import (
    MergeResult,
    PostedComment,
    PullDetails,
    PullSummary,
    RepoAccess,
    ReviewResult,
)
from bot.integrations.github_snapshots import (
    CHECK_RUNS_ACCEPT,
    check_run_states,
    combined_status,
    details_of,
    file_names,
    file_text,
    pull_summaries,
    summary_of,
)

__all__ = [
    "CheckRunState",
    "CiState",
    "CiVerdict",
    "GitHubAuthFailed",
    "GitHubClient",
    "GitHubError",
    "GitHubNotFound",
    "GitHubRateLimited",
    "GitHubTuning",
    "MergeRefused",
    "MergeResult",
    "PostedComment",
    "PullDetails",
    "PullSummary",
    "RepoAccess",
    "ReviewResult",
    "StatusContext",
]

T = TypeVar("T")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitHubClient:
    """The infra repository on GitHub, as an async context manager.

    Example::

        async with GitHubClient(config.github) as gh:
            for pr in await gh.list_renovate_prs():
                details = await gh.pull(pr.number)
                if (await gh.ci(details.head_sha)).verdict is CiVerdict.green:
                    await gh.merge(pr.number, details.head_sha)
    """

    def __init__(
        self,
        config: GitHubConfig,
        tuning: GitHubTuning | None = None,
        on_error: Callable[[GitHubError], None] | None = None,
    ) -> None:
        self.config = config
        self.tuning = tuning or GitHubTuning()
        self._on_error = on_error
        self._executor: ThreadPoolExecutor | None = None
        self._github: Github | None = None
        self._repo: Repository | None = None
        self._reads = ConditionalReads()

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the thread pool and connect (looking up the app installation if needed)."""
        if self._executor is not None:
            raise RuntimeError("GitHubClient is already open")
        self._executor = ThreadPoolExecutor(
            max_workers=self.tuning.workers, thread_name_prefix="labbot-github"
        )
        try:
            self._github = await self._run(
                "connect", lambda: connect_github(self.config, self.tuning)
            )
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection and wait for the pool's threads to finish."""
        executor, self._executor = self._executor, None
        github, self._github, self._repo = self._github, None, None
        self._reads.clear()
        if executor is None:
            return
        if github is not None:
            executor.submit(github.close)
        await asyncio.to_thread(executor.shutdown, wait=True)

    async def __aenter__(self) -> GitHubClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- reads ---------------------------------------------------------------------------------

    async def list_renovate_prs(self) -> list[PullSummary]:
        """Open PRs by `renovate_author` whose head branch starts with `renovate_branch_prefix`."""
        author = self.config.renovate_author.lower()
        prefix = self.config.renovate_branch_prefix
        return await self.open_pulls(
            lambda pr: pr.author.lower() == author and pr.head_ref.startswith(prefix),
            "list Renovate pull requests",
        )

    async def open_pulls(
        self, wanted: Callable[[PullSummary], bool], action: str = "list open pull requests"
    ) -> list[PullSummary]:
        """The open PRs of the repository that `wanted` picks, oldest first.

        Read newest first with each page's ETag (a new PR changes the first page, so an
        unchanged first page cannot hide a new last one), then put oldest first.
        """

        def call() -> list[PullSummary]:
            requester = self._requester()
            pulls = self._reads.listing(
                requester,
                f"{self._repository().url}/pulls",
                pull_summaries,
                dict(state="open", sort="created", direction="desc", per_page=self.tuning.per_page),
            )
            return [summary for summary in reversed(pulls) if wanted(summary)]

        return await self._run(action, call)

    async def pull(self, number: int) -> PullDetails:
        """PR `number` in full; while GitHub still computes `mergeable` (null), asks again.

        The PR is refreshed with PyGithub's conditional `update()` and its files with their
        ETag: an unchanged PR costs no rate limit.
        """
        attempts = max(1, self.tuning.mergeable_attempts)
        for attempt in range(1, attempts + 1):
            details = await self._run(
                f"read PR #{number}",
                lambda: self._reads.tracked(
                    ("pull", number), lambda: self._repository().get_pull(number), details_of
                ),
            )
            if details.mergeable is not None or details.state != "open" or attempt == attempts:
                break
            await asyncio.sleep(self.tuning.mergeable_retry_delay)

        def files() -> tuple[str, ...]:
            url = f"{self._repository().url}/pulls/{number}/files"
            per_page = {"per_page": self.tuning.per_page}
            return tuple(self._reads.listing(self._requester(), url, file_names, per_page))

        changed = await self._run(f"list the files of PR #{number}", files)
        return dataclasses.replace(details, changed_files=changed)

    async def ci(self, sha: str) -> CiState:
        """Commit statuses and check runs of `sha`, judged against `required_checks`.

        Both are asked for with their ETags; only what changed is parsed again.
        """
        required = list(self.config.required_checks)

        def call() -> CiState:
            requester = self._requester()
            commit_url = f"{self._repository().url}/commits/{sha}"
            status_url = f"{commit_url}/status"
            state, statuses = self._reads.document(requester, status_url, combined_status)
            runs = self._reads.listing(
                requester,
                f"{commit_url}/check-runs",
                check_run_states,
                {"per_page": self.tuning.per_page},
                CHECK_RUNS_ACCEPT,
            )
            return judge_ci(sha, state, statuses, latest_check_runs(runs), required)

        return await self._run(f"read CI of {sha[:12]}", call)

    async def file_at(self, path: str, ref: str) -> str | None:
        """The text of `path` at `ref` (branch, tag or sha); None if the file or ref is missing.

        At a full commit sha the file cannot change: it is read once and remembered. At a
        branch or tag it is asked for with its ETag.
        """

        def read() -> str:
            return self._reads.document(
                self._requester(),
                f"{self._repository().url}/contents/{urllib.parse.quote(path)}",
                file_text(f"GitHub {self.config.repo}: {path} at {ref}"),
                {"ref": ref},
            )

        def call() -> str:
            if _FULL_SHA.match(ref):
                return self._reads.remembered(("file", path, ref), read)
            return read()

        try:
            return await self._run(f"read {path} at {ref[:12]}", call)
        except GitHubNotFound:
            return None

    # -- writes --------------------------------------------------------------------------------

    async def approve(self, number: int, body: str, sha: str | None = None) -> ReviewResult:
        """Submit an APPROVE review on PR `number` (pinned to commit `sha` when given)."""

        def call() -> ReviewResult:
            repo = self._repository()
            pr = repo.get_pull(number)
            if sha is None:
                review = pr.create_review(body=body, event="APPROVE")
            else:
                review = pr.create_review(commit=repo.get_commit(sha), body=body, event="APPROVE")
            return ReviewResult(review.id, review.state, review.commit_id, review.html_url)

        return await self._run(f"approve PR #{number}", call)

    async def merge(
        self, number: int, sha: str, method: MergeMethod | str | None = None
    ) -> MergeResult:
        """Merge PR `number` only if its head is still `sha`; `MergeRefused` on 405/409/422.

        A 405 on a PR that is already merged or closed says so (`already_merged`/`already_closed`).
        """
        how = str(method or self.config.merge_method)

        def call() -> MergeResult:
            done = self._repository().get_pull(number).merge(merge_method=how, sha=sha)
            return MergeResult(number, done.merged, done.sha, sha, how, done.message)

        try:
            return await self._run(f"merge PR #{number}", call)
        except GitHubError as exc:
            if exc.status not in MERGE_REFUSALS:
                raise
            refusal = exc
        merged = closed = False
        if refusal.status == 405:
            try:
                state = await self._run(
                    f"read PR #{number}", lambda: details_of(self._repository().get_pull(number))
                )
                merged, closed = state.merged, state.closed
            except GitHubError:
                pass  # the refusal itself is the answer; its cause is a nicety
        raise MergeRefused(
            refusal.status or 0,
            refusal.detail or str(refusal),
            number=number,
            already_merged=merged,
            already_closed=closed and not merged,
        ) from refusal

    async def create_pull(
        self, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> PullSummary:
        """Open a pull request from branch `head` into `base`."""

        def call() -> PullSummary:
            pr = self._repository().create_pull(
                base=base, head=head, title=title, body=body, draft=draft
            )
            return summary_of(pr)

        return await self._run(f"open a PR from {head} into {base}", call)

    async def pull_for_branch(self, branch: str) -> PullSummary | None:
        """The newest pull request from `branch` of this repository, open or not (None: none):
        how a job finds the PR it opened before it was interrupted."""
        owner = self.config.repo.split("/", 1)[0]

        def call() -> PullSummary | None:
            pulls = self._repository().get_pulls(
                state="all", head=f"{owner}:{branch}", sort="created", direction="desc"
            )
            for pr in pulls:
                return summary_of(pr)
            return None

        return await self._run(f"look for a PR from {branch}", call)

    async def access(self) -> RepoAccess:
        """What the token may do on the repository, read only (`labbot doctor`)."""
        github = self._github
        if github is None:
            raise RuntimeError("GitHubClient is not open")
        return await self._run(
            "read the repository", lambda: read_access(github, self._repository())
        )

    async def comment(self, number: int, body: str) -> PostedComment:
        """Post `body` on PR `number`'s conversation."""

        def call() -> PostedComment:
            posted = self._repository().get_issue(number).create_comment(body)
            return PostedComment(posted.id, posted.html_url)

        return await self._run(f"comment on PR #{number}", call)

    # -- plumbing ------------------------------------------------------------------------------

    def _requester(self) -> Requester:
        """PyGithub's requester (throttling, retries, auth) for conditional page reads."""
        if self._github is None:
            raise RuntimeError("GitHubClient is not open")
        return self._github.requester

    def _repository(self) -> Repository:
        """The repository object (lazy: building it makes no request). Pool threads only."""
        if self._github is None:
            raise RuntimeError("GitHubClient is not open")
        if self._repo is None:
            self._repo = self._github.get_repo(self.config.repo)
        return self._repo

    async def _run(self, action: str, call: Callable[[], T]) -> T:
        """Run `call` in the pool with the call timeout; the one place library errors translate."""
        executor = self._executor
        if executor is None:
            raise RuntimeError("GitHubClient is not open")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.tuning.call_timeout):
                return await loop.run_in_executor(executor, call)
        except TimeoutError:
            error = GitHubError(
                f"GitHub {self.config.repo}: {action} timed out after "
                f"{self.tuning.call_timeout:g} s."
            )
            self._report(error)
            raise error from None
        except LIBRARY_ERRORS as exc:
            error = translate_github_error(exc, self.config.repo, action)
            self._report(error)
            raise error from exc

    def _report(self, error: GitHubError) -> None:
        if self._on_error is not None:
            self._on_error(error)
