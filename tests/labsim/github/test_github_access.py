"""Authentication, GitHub App installation tokens, rate limits and injected faults."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import (
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    GithubIntegration,
    GithubRetry,
    RateLimitExceededException,
)

from labsim.github import GitHubEmulator

ClientFactory = Callable[..., Github]
REPO = "homelab/thelab-infra"
APP_ID = 424242


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_bad_token_is_401_bad_credentials(gh: GitHubEmulator, connect: ClientFactory) -> None:
    client = connect(auth=Auth.Token("ghp_wrong"))
    with pytest.raises(BadCredentialsException) as caught:
        await asyncio.to_thread(client.get_repo, REPO)
    assert caught.value.status == 401
    assert gh.requests()[-1].status == 401


async def test_rate_limit_headers_on_every_response(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    client = connect()

    def call() -> tuple[int, int, int]:
        assert client.get_repo(REPO).get_pulls().totalCount == 0
        remaining, limit = client.rate_limiting
        return remaining, limit, client.get_rate_limit().resources.core.remaining

    remaining, limit, reported = await asyncio.to_thread(call)
    assert limit == 5000
    assert remaining == 4998
    assert reported == 4998, "GET /rate_limit does not count"


async def test_exhausted_primary_limit_raises(gh: GitHubEmulator, connect: ClientFactory) -> None:
    gh.exhaust_rate_limit(reset_in=600)
    client = connect()
    with pytest.raises(RateLimitExceededException) as caught:
        await asyncio.to_thread(client.get_repo, REPO)
    assert caught.value.status == 403
    assert caught.value.headers is not None
    assert caught.value.headers["x-ratelimit-remaining"] == "0"


async def test_secondary_rate_limit_is_retried_after_retry_after(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    gh.inject_secondary_rate_limit(count=1, retry_after=1)
    client = connect(retry=GithubRetry(total=3, secondary_rate_wait=1))
    title = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(pr.number).title)
    assert title == pr.title
    statuses = [(r.path, r.status) for r in gh.requests()]
    assert statuses[:2] == [(f"/repos/{REPO}", 403), (f"/repos/{REPO}", 200)]


async def test_secondary_rate_limit_without_retry_raises(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    gh.inject_secondary_rate_limit(count=1, retry_after=30)
    client = connect()
    with pytest.raises(RateLimitExceededException) as caught:
        await asyncio.to_thread(client.get_repo, REPO)
    assert caught.value.headers is not None
    assert caught.value.headers["retry-after"] == "30"
    assert await asyncio.to_thread(lambda: client.get_repo(REPO).full_name) == REPO


async def test_inject_status_hits_only_the_matching_request(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    gh.inject_status("PUT", r"/pulls/\d+/merge$", 502, count=1)
    client = connect()
    pull = await asyncio.to_thread(lambda: client.get_repo(REPO).get_pull(pr.number))
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(pull.merge)
    assert caught.value.status == 502
    assert (await asyncio.to_thread(pull.merge)).merged


async def test_app_installation_token_flow() -> None:
    private, public = _rsa_pair()
    async with GitHubEmulator(app_id=APP_ID, app_public_key_pem=public) as gh:
        await gh.seed_infra_repo()
        pr = await gh.open_renovate_pr()
        app_auth = Auth.AppAuth(APP_ID, private)
        integration = GithubIntegration(auth=app_auth, base_url=gh.api_url)
        client = Github(
            auth=app_auth.get_installation_auth(gh.installation_id("homelab")),
            base_url=gh.api_url,
            retry=None,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        try:

            def flow() -> tuple[int, list[int], str, str]:
                installation = integration.get_repo_installation("homelab", "thelab-infra")
                repo = client.get_repo(REPO)
                numbers = [p.number for p in repo.get_pulls()]
                review = repo.get_pull(pr.number).create_review(event="APPROVE")
                run = repo.create_check_run("labbot/gate", pr.head_sha, status="in_progress")
                run.edit(status="completed", conclusion="success")
                return installation.id, numbers, review.user.login, run.app.slug

            inst_id, numbers, reviewer, slug = await asyncio.to_thread(flow)
        finally:
            client.close()
            integration.close()
        assert inst_id == gh.installation_id("homelab")
        assert numbers == [pr.number]
        assert reviewer == "labbot[bot]"
        assert slug == "labbot"
        [run] = gh.state.repos[REPO].check_runs.values()
        assert (run.name, run.status, run.conclusion) == ("labbot/gate", "completed", "success")
        minted = [r for r in gh.requests() if r.path.endswith("/access_tokens")]
        assert [r.status for r in minted] == [201], "the token is minted once and reused"


async def test_jwt_signed_by_another_key_is_refused() -> None:
    _, public = _rsa_pair()
    other_private, _ = _rsa_pair()
    async with GitHubEmulator(app_id=APP_ID, app_public_key_pem=public) as gh:
        await gh.seed_infra_repo()
        integration = GithubIntegration(
            auth=Auth.AppAuth(APP_ID, other_private), base_url=gh.api_url
        )
        try:
            with pytest.raises(GithubException) as caught:
                await asyncio.to_thread(integration.get_access_token, gh.installation_id("homelab"))
        finally:
            integration.close()
        assert caught.value.status == 401
        assert caught.value.data["message"] == "A JSON web token could not be decoded"


async def test_check_runs_need_an_app_installation(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    pr = await gh.open_renovate_pr()
    client = connect()
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(lambda: client.get_repo(REPO).create_check_run("gate", pr.head_sha))
    assert caught.value.status == 403
    assert caught.value.data["message"] == "You must authenticate via a GitHub App."


async def test_a_classic_token_shows_its_scopes_and_needs_repo_for_a_private_repository(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    full = connect()
    await asyncio.to_thread(full.get_repo, REPO)
    assert full.oauth_scopes == ["repo"]
    gh.add_token("ghp_readorg", "labbot", scopes=("read:org", "gist"))
    narrow = connect(auth=Auth.Token("ghp_readorg"))
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(narrow.get_repo, REPO)
    assert caught.value.status == 404  # as if the private repository did not exist
    assert narrow.oauth_scopes == ["read:org", "gist"]


async def test_a_fine_grained_token_is_refused_what_it_lacks_and_told_what_was_needed(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    gh.add_token(
        "github_pat_nochecks",
        "labbot",
        permissions={"contents": "read", "pull_requests": "read"},
    )
    client = connect(auth=Auth.Token("github_pat_nochecks"))
    repo = await asyncio.to_thread(client.get_repo, REPO)
    assert client.oauth_scopes is None  # fine-grained tokens have no scopes header
    await asyncio.to_thread(lambda: list(repo.get_pulls()))
    with pytest.raises(GithubException) as caught:
        await asyncio.to_thread(lambda: list(repo.get_commit("main").get_check_runs()))
    assert caught.value.status == 403
    assert caught.value.data["message"] == "Resource not accessible by personal access token"
    assert (caught.value.headers or {})["x-accepted-github-permissions"] == "checks=read"


async def test_the_repository_shows_the_accounts_role_and_the_branch_its_protection(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    gh.protect_branch("main", required_contexts=("ci/build",))
    gh.set_role("labbot", "read")
    client = connect()
    repo = await asyncio.to_thread(client.get_repo, REPO)
    assert repo.permissions.pull and not repo.permissions.push and not repo.permissions.admin
    branch = await asyncio.to_thread(repo.get_branch, "main")
    assert branch.protected
    assert branch.raw_data["protection"]["required_status_checks"]["contexts"] == ["ci/build"]
