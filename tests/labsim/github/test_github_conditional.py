"""Conditional GETs: weak ETags and Last-Modified, 304 answers, and 304s free of the rate limit."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from email.utils import format_datetime, parsedate_to_datetime

import aiohttp
import pytest
from github import Github
from multidict import CIMultiDict

from labsim.github import GitHubEmulator

ClientFactory = Callable[..., Github]
REPO = "homelab/thelab-infra"
AUTH = {"Authorization": "token ghp_emulatortoken"}
WEAK_ETAG = re.compile(r'^W/"[0-9a-f]{64}"$')


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def get(
    http: aiohttp.ClientSession, gh: GitHubEmulator, path: str, **headers: str
) -> tuple[int, CIMultiDict[str]]:
    """GET `path` (relative to the API root): the status and the response headers."""
    async with http.get(f"{gh.api_url}{path}", headers=headers) as response:
        await response.read()
        return response.status, CIMultiDict(response.headers)


async def test_every_get_has_a_weak_etag_that_answers_304(
    gh: GitHubEmulator, http: aiohttp.ClientSession
) -> None:
    pr = await gh.open_renovate_pr()
    paths = [
        f"/repos/{REPO}/pulls",
        f"/repos/{REPO}/pulls/{pr.number}",
        f"/repos/{REPO}/pulls/{pr.number}/files",
        f"/repos/{REPO}/commits/{pr.head_sha}/status",
        f"/repos/{REPO}/commits/{pr.head_sha}/check-runs",
        f"/repos/{REPO}/contents/flake.lock?ref={pr.head_sha}",
    ]
    gh.set_mergeable_delay(0)
    for path in paths:
        status, headers = await get(http, gh, path)
        assert status == 200 and WEAK_ETAG.match(headers["ETag"]), (path, headers)
        again, replay = await get(http, gh, path, **{"If-None-Match": headers["ETag"]})
        assert again == 304, path
        assert replay["ETag"] == headers["ETag"]
        assert replay["X-RateLimit-Remaining"] == headers["X-RateLimit-Remaining"], "not counted"
    conditional = [r for r in gh.requests() if r.conditional]
    assert [r.status for r in conditional] == [304] * len(paths)
    assert not any(r.counted for r in conditional)
    assert all(r.counted for r in gh.requests() if not r.conditional)


async def test_etag_changes_with_the_representation(
    gh: GitHubEmulator, http: aiohttp.ClientSession
) -> None:
    gh.set_mergeable_delay(0)
    pr = await gh.open_renovate_pr()
    pull = f"/repos/{REPO}/pulls/{pr.number}"
    listing = f"/repos/{REPO}/pulls"
    runs = f"/repos/{REPO}/commits/{pr.head_sha}/check-runs"
    tags = {path: (await get(http, gh, path))[1]["ETag"] for path in (pull, listing, runs)}

    async def changed(path: str) -> bool:
        status, headers = await get(http, gh, path, **{"If-None-Match": tags[path]})
        assert status in (200, 304)
        if status == 200:
            assert headers["ETag"] != tags[path]
            tags[path] = headers["ETag"]
        return status == 200

    gh.set_check_run(pr.head_sha, "nix flake check", "in_progress", None)
    assert await changed(runs) and not await changed(listing)
    gh.pull_request(pr.number).title = "chore(deps): edited"
    assert await changed(pull) and await changed(listing)
    await gh.push_commit_to_pr(pr.number, {"README.md": "new commit\n"})
    assert await changed(pull) and await changed(listing)
    await gh.open_renovate_pr(input_name="sops-nix")
    assert await changed(listing) and not await changed(pull)


async def test_if_modified_since_and_its_precedence(
    gh: GitHubEmulator, http: aiohttp.ClientSession
) -> None:
    gh.set_mergeable_delay(0)
    pr = await gh.open_renovate_pr()
    path = f"/repos/{REPO}/pulls/{pr.number}"
    status, headers = await get(http, gh, path)
    modified = headers["Last-Modified"]
    assert status == 200 and modified.endswith(" GMT")
    assert parsedate_to_datetime(modified) == gh.pull_request(pr.number).updated_at
    before = format_datetime(
        parsedate_to_datetime(modified).replace(second=0, minute=0, hour=0), usegmt=True
    )
    assert (await get(http, gh, path, **{"If-Modified-Since": modified}))[0] == 304
    assert (await get(http, gh, path, **{"If-Modified-Since": before}))[0] == 200
    assert (await get(http, gh, path, **{"If-Modified-Since": "not a date"}))[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2), as PyGithub sends both.
    stale = {"If-None-Match": 'W/"0000"', "If-Modified-Since": modified}
    assert (await get(http, gh, path, **stale))[0] == 200
    # Weak comparison: the strong spelling, a list, and * all match.
    opaque = headers["ETag"].removeprefix("W/")
    for value in (opaque, f'"other", {headers["ETag"]}', "*"):
        assert (await get(http, gh, path, **{"If-None-Match": value}))[0] == 304, value
    # Lists carry no Last-Modified: If-Modified-Since alone never answers 304 there.
    listing, list_headers = await get(http, gh, f"/repos/{REPO}/pulls")
    assert listing == 200 and "Last-Modified" not in list_headers
    assert (await get(http, gh, f"/repos/{REPO}/pulls", **{"If-Modified-Since": modified}))[
        0
    ] == 200


async def test_304s_do_not_count_but_other_requests_do(
    gh: GitHubEmulator, connect: ClientFactory
) -> None:
    gh.set_mergeable_delay(0)
    pr = await gh.open_renovate_pr()
    client = connect(lazy=True)
    pull = client.get_repo(REPO).get_pull(pr.number)  # lazy: no request yet

    def refresh() -> tuple[bool, int]:
        changed = pull.update()  # PyGithub's conditional refresh (If-None-Match after the first)
        remaining, limit = client.rate_limiting
        return changed, limit - remaining

    assert await asyncio.to_thread(refresh) == (True, 1), "no validator yet: a 200"
    assert await asyncio.to_thread(refresh) == (False, 1), "304: not counted"
    gh.pull_request(pr.number).title = "changed"
    assert await asyncio.to_thread(refresh) == (True, 2), "changed: a 200 that counts"
    assert pull.title == "changed"
    records = [r for r in gh.requests() if r.path.endswith(f"/pulls/{pr.number}")]
    assert [(r.status, r.conditional, r.counted) for r in records] == [
        (200, False, True),
        (304, True, False),
        (200, True, True),
    ]


async def test_conditional_requests_past_the_limit_are_refused(
    gh: GitHubEmulator, http: aiohttp.ClientSession
) -> None:
    status, headers = await get(http, gh, f"/repos/{REPO}/pulls")
    gh.exhaust_rate_limit(reset_in=600)
    refused, refused_headers = await get(
        http, gh, f"/repos/{REPO}/pulls", **{"If-None-Match": headers["ETag"]}
    )
    assert (status, refused) == (200, 403)
    assert refused_headers["X-RateLimit-Remaining"] == "0"
    assert "ETag" not in refused_headers
