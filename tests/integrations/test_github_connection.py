"""GitHubClient's connection against the emulator: token and App auth, rate limits and retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config import GitHubConfig, SecretSource
from bot.integrations.github import (
    GitHubAuthFailed,
    GitHubClient,
    GitHubError,
    GitHubRateLimited,
    GitHubTuning,
)
from labsim.github import GitHubEmulator

REPO = "homelab/thelab-infra"
APP_ID = 424242
FAST = GitHubTuning(
    http_timeout=5,
    call_timeout=20,
    seconds_between_requests=0,
    seconds_between_writes=0,
    max_rate_limit_wait=5,
    backoff_factor=0,
    mergeable_retry_delay=0.01,
)


def _secret(tmp_path: Path, name: str, value: str) -> SecretSource:
    path = tmp_path / name
    path.write_text(value)
    return SecretSource(file=path)


def _token_config(gh: GitHubEmulator, tmp_path: Path, token: str, **fields: Any) -> GitHubConfig:
    return GitHubConfig(
        repo=REPO, base_url=gh.api_url, token=_secret(tmp_path, "token", token), **fields
    )


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


@pytest.fixture
async def gh() -> AsyncIterator[GitHubEmulator]:
    async with GitHubEmulator() as emulator:
        await emulator.seed_infra_repo()
        yield emulator


# -- authentication ----------------------------------------------------------------------------


async def test_a_bad_token_is_github_auth_failed(gh: GitHubEmulator, tmp_path: Path) -> None:
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_wrong"), FAST) as client:
        with pytest.raises(GitHubAuthFailed) as failed:
            await client.list_renovate_prs()
    assert failed.value.status == 401
    assert "Bad credentials" in str(failed.value) and REPO in str(failed.value)


async def test_a_revoked_token_fails_later_calls(gh: GitHubEmulator, tmp_path: Path) -> None:
    pr = await gh.open_renovate_pr()
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        assert (await client.pull(pr.number)).number == pr.number
        gh.revoke_token("ghp_emulatortoken")
        with pytest.raises(GitHubAuthFailed):
            await client.ci(pr.head_sha)


async def test_a_missing_token_fails_on_open(gh: GitHubEmulator, tmp_path: Path) -> None:
    config = GitHubConfig(
        repo=REPO, base_url=gh.api_url, token=SecretSource(file=tmp_path / "absent")
    )
    with pytest.raises(GitHubAuthFailed, match="token is missing"):
        async with GitHubClient(config, FAST):
            pass


async def test_github_app_auth_looks_up_the_installation(tmp_path: Path) -> None:
    private, public = _rsa_pair()
    async with GitHubEmulator(app_id=APP_ID, app_public_key_pem=public) as gh:
        await gh.seed_infra_repo()
        pr = await gh.open_renovate_pr()
        config = GitHubConfig(
            repo=REPO,
            base_url=gh.api_url,
            app_id=APP_ID,
            app_private_key=_secret(tmp_path, "app.pem", private),
        )
        async with GitHubClient(config, FAST) as client:
            listed = await client.list_renovate_prs()
            await client.approve(pr.number, "Approved by labbot")
        assert [p.number for p in listed] == [pr.number]
        [review] = gh.reviews(pr.number)
        assert (review.user.login, review.state) == ("labbot[bot]", "APPROVED")
        calls = [(r.method, r.path, r.status) for r in gh.requests()]
        assert calls[0] == ("GET", f"/repos/{REPO}/installation", 200)
        installation = gh.installation_id("homelab")
        assert calls[1] == ("POST", f"/app/installations/{installation}/access_tokens", 201)
        assert sum(1 for c in calls if c[1].endswith("/access_tokens")) == 1, "token reused"


async def test_github_app_problems_are_auth_failures(tmp_path: Path) -> None:
    private, public = _rsa_pair()
    async with GitHubEmulator(app_id=APP_ID, app_public_key_pem=public) as gh:
        await gh.seed_infra_repo()

        def config(repo: str, pem: str) -> GitHubConfig:
            key = _secret(tmp_path, f"key-{len(pem)}-{repo.replace('/', '-')}", pem)
            return GitHubConfig(repo=repo, base_url=gh.api_url, app_id=APP_ID, app_private_key=key)

        with pytest.raises(GitHubAuthFailed, match="not installed"):
            async with GitHubClient(config("elsewhere/infra", private), FAST):
                pass
        with pytest.raises(GitHubAuthFailed, match="not an unencrypted PEM key"):
            async with GitHubClient(config(REPO, "not a key"), FAST):
                pass
        other, _ = _rsa_pair()
        with pytest.raises(GitHubAuthFailed) as failed:
            async with GitHubClient(config(REPO, other), FAST):
                pass
        assert failed.value.status == 401


# -- rate limits and retries -------------------------------------------------------------------


async def test_a_short_secondary_rate_limit_is_waited_out(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    pr = await gh.open_renovate_pr()
    gh.inject_secondary_rate_limit(count=1, retry_after=1)
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        started = time.monotonic()
        listed = await client.list_renovate_prs()
        waited = time.monotonic() - started
    assert [p.number for p in listed] == [pr.number]
    assert [(r.path, r.status) for r in gh.requests()] == [
        (f"/repos/{REPO}/pulls", 403),
        (f"/repos/{REPO}/pulls", 200),
    ]
    assert waited >= 0.9, "Retry-After: 1 was honoured"


async def test_a_long_retry_after_raises_instead_of_sleeping(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    gh.inject_secondary_rate_limit(count=1, retry_after=600)
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        started = time.monotonic()
        with pytest.raises(GitHubRateLimited) as limited:
            await client.list_renovate_prs()
        assert time.monotonic() - started < 5
        assert await client.list_renovate_prs() == [], "the next call goes through"
    assert limited.value.retry_after == 600
    assert "retry in 600 s" in str(limited.value)


async def test_an_exhausted_primary_limit_reports_the_reset(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    gh.exhaust_rate_limit(reset_in=600)
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        with pytest.raises(GitHubRateLimited) as limited:
            await client.list_renovate_prs()
    assert limited.value.retry_after is not None and 500 < limited.value.retry_after <= 602
    assert len(gh.requests()) == 1, "no blind retries"


async def test_reads_are_retried_after_5xx_but_writes_are_not(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    pr = await gh.open_renovate_pr()
    gh.inject_status("GET", r"/pulls$", 502, count=1)
    gh.inject_status("POST", r"/reviews$", 502, count=1)
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        assert [p.number for p in await client.list_renovate_prs()] == [pr.number]
        with pytest.raises(GitHubError) as failed:
            await client.approve(pr.number, "LGTM")
    assert failed.value.status == 502
    posts = [r.status for r in gh.requests() if r.method == "POST"]
    assert posts == [502], "a review POST is never repeated"
    assert gh.reviews(pr.number) == []


async def test_an_unreachable_github_is_a_github_error(tmp_path: Path) -> None:
    async with GitHubEmulator() as gh:
        url = gh.api_url
    config = GitHubConfig(
        repo=REPO, base_url=url, token=_secret(tmp_path, "token", "ghp_emulatortoken")
    )
    async with GitHubClient(config, FAST) as client:
        with pytest.raises(GitHubError, match="unreachable"):
            await client.list_renovate_prs()


async def test_a_secondary_limit_without_retry_after_means_a_minute(
    gh: GitHubEmulator, tmp_path: Path
) -> None:
    message = (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )
    gh.inject_status("GET", r"/pulls$", 403, body={"message": message})
    async with GitHubClient(_token_config(gh, tmp_path, "ghp_emulatortoken"), FAST) as client:
        with pytest.raises(GitHubRateLimited) as limited:
            await client.list_renovate_prs()
    assert limited.value.retry_after == 60, "GitHub asks for at least a minute"
    assert [r.status for r in gh.requests()] == [403]
