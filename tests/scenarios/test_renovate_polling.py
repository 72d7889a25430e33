"""The scheduled Renovate check polls GitHub with conditional requests: GitHub emulator → labbot.

An unchanged poll is answered with 304s (free of GitHub's rate limit) and posts nothing; a
poll after one PR changed re-reads that PR only and updates its card in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bot.integrations.github as github_client
from bot.app import LabBot
from bot.integrations.github import GitHubTuning
from handlers.renovate.board import SCHEDULE_NAME
from labsim.github import RenovatePr, RequestRecord
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Message

REQUIRED = "nix flake check"
FAST = GitHubTuning(
    http_timeout=10,
    call_timeout=30,
    seconds_between_requests=0,
    seconds_between_writes=0,
    retries=2,
    backoff_factor=0,
    mergeable_retry_delay=0.05,
)


@pytest.fixture
async def lab(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lab]:
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST)
    async with Lab(full=True, config_overrides={"github": {"required_checks": [REQUIRED]}}) as lab:
        assert lab.github is not None
        lab.github.set_mergeable_delay(0)
        yield lab


def cards(lab: Lab) -> dict[str, Message]:
    """The Renovate cards in the lab channel by PR number."""
    return {
        m.text.split()[2].strip("#:"): m
        for m in lab.slack.messages(LAB_CHANNEL)
        if m.thread_ts is None and m.text.startswith("Renovate PR #")
    }


def slack_view(lab: Lab) -> list[tuple[str, int, str]]:
    """Every message in the channel with its edit count and text."""
    return [(m.ts, m.updates, m.all_text()) for m in lab.slack.messages(LAB_CHANNEL)]


async def poll(lab: Lab, bot: LabBot) -> list[RequestRecord]:
    """Run the scheduled check once; the GitHub requests it made."""
    assert lab.github is not None
    mark = len(lab.github.requests())
    await bot.scheduler.run(SCHEDULE_NAME)
    return lab.github.requests()[mark:]


async def open_prs(lab: Lab, count: int) -> list[RenovatePr]:
    assert lab.github is not None
    opened = []
    for n in range(count):
        pr = await lab.github.open_renovate_pr(branch=f"renovate/nixpkgs-{n}")
        lab.github.set_check_run(pr.head_sha, REQUIRED, "completed", "success")
        opened.append(pr)
    return opened


async def test_an_unchanged_poll_sends_conditional_requests_and_posts_nothing(
    lab: Lab, bot: LabBot
) -> None:
    prs = await open_prs(lab, 3)
    first = await poll(lab, bot)
    assert set(cards(lab)) == {str(pr.number) for pr in prs}
    assert sum(r.counted for r in first) >= 3 * 4, "the first poll reads everything"
    before = slack_view(lab)

    unchanged = await poll(lab, bot)
    assert unchanged and all(r.method == "GET" for r in unchanged)
    assert all(r.conditional and r.status == 304 for r in unchanged), [
        (r.path, r.status, r.conditional) for r in unchanged if r.status != 304
    ]
    assert sum(r.counted for r in unchanged) <= 2
    assert slack_view(lab) == before, "no new message and no edit"


async def test_a_changed_pr_is_read_again_and_its_card_updated(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    prs = await open_prs(lab, 3)
    await poll(lab, bot)
    shown = cards(lab)
    moved = prs[1]
    new_head = await lab.github.push_commit_to_pr(moved.number, {"README.md": "moved\n"})

    changed = await poll(lab, bot)
    counted = [r for r in changed if r.counted]
    read_again = {r.path for r in counted}
    assert f"/repos/homelab/thelab-infra/pulls/{moved.number}" in read_again
    assert not any(f"/pulls/{pr.number}" in path for pr in (prs[0], prs[2]) for path in read_again)
    # The list, the PR and its files, and the new head's CI and flake.lock: O(1), whatever N.
    assert len(counted) <= 2 + 6, sorted(read_again)
    after = cards(lab)
    card = after[str(moved.number)]
    assert card.ts == shown[str(moved.number)].ts and card.updates == 1
    assert f"`{new_head[:12]}`" in card.all_text()
    assert "pending" in card.all_text(), "the new head has no CI yet"
    for pr in (prs[0], prs[2]):
        assert after[str(pr.number)].updates == 0
