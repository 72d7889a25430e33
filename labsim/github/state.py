"""The shared state of one running GitHub emulator: accounts, repositories, records, payloads.

It must not speak HTTP: route modules read and change it, the emulator owns it.
"""

from __future__ import annotations

from pathlib import Path

from labsim.github.gitstore import BareRepo, Identity
from labsim.github.model import (
    Actor,
    IdSequence,
    Installation,
    MergeRecord,
    Repository,
    RequestRecord,
    utcnow,
)
from labsim.github.payloads import Payloads
from labsim.github.renovate import RENOVATE_LOGIN, RENOVATE_USER_ID

# GitHub's identity for merge commits made through the web/API (web-flow).
GITHUB_COMMITTER = Identity("GitHub", "noreply@github.com")


class GitHubState:
    """Everything the routes share; one instance per started emulator.

    Example: ``state = GitHubState(tmpdir, api_url, web_url); repo = await state.create_repo(...)``.
    """

    def __init__(self, root: Path, api_url: str, web_url: str) -> None:
        self.root = root
        self.ids = IdSequence()
        self.accounts: dict[str, Actor] = {}
        self.accounts_by_email: dict[str, Actor] = {}
        self.repos: dict[str, Repository] = {}
        self.installations: dict[int, Installation] = {}
        self.requests: list[RequestRecord] = []
        self.merges: list[MergeRecord] = []
        self.mergeable_null_gets = 1
        self.roles: dict[str, str] = {}
        """An account's role on every repository ("admin" when not set: the owner's token)."""
        self.payloads = Payloads(api_url, web_url, self.accounts_by_email)
        self.add_account(RENOVATE_LOGIN, "Bot", RENOVATE_USER_ID)

    def add_account(self, login: str, kind: str = "User", account_id: int | None = None) -> Actor:
        """The account `login`, created on first use (kind: User, Bot or Organization)."""
        existing = self.accounts.get(login.lower())
        if existing is not None:
            return existing
        actor = Actor(login, account_id if account_id is not None else self.ids.next(), kind)
        self.accounts[login.lower()] = actor
        self.accounts_by_email[actor.noreply_email] = actor
        return actor

    def identity(self, actor: Actor) -> Identity:
        """The git identity GitHub uses for commits made on behalf of `actor`."""
        return Identity(actor.login, actor.noreply_email)

    def find_repo(self, owner: str, name: str) -> Repository | None:
        """A repository by owner and name (case-insensitive, as GitHub)."""
        return self.repos.get(f"{owner}/{name}".lower())

    async def create_repo(self, owner: str, name: str, default_branch: str) -> Repository:
        """Create an empty repository backed by a new bare git repo."""
        owner_actor = self.add_account(owner, "Organization")
        git = BareRepo(self.root / "repos" / owner / f"{name}.git", self.root / "scratch")
        await git.init(default_branch)
        repo = Repository(
            id=self.ids.next(),
            owner=owner_actor,
            name=name,
            git=git,
            default_branch=default_branch,
            created_at=utcnow(),
        )
        self.repos[repo.full_name.lower()] = repo
        return repo
