"""Outside text in Renovate replies and merge jobs: GitHub's own words in an error (its
`message` field) are shown escaped once (`bot.errors`: an error's text is raw, the message
escapes it) and never ping anyone — `/lab renovate`, `/lab renovate check`, a merge's thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jobflow import ask, press
from test_renovate_chat import FAST, REQUIRED, card, open_green_pr, wait_thread
from test_status_outside_text import ESCAPED, HOSTILE, inert

import bot.integrations.github as github_client
from bot.app import LabBot
from labsim.lab import Lab


@pytest.fixture
async def lab(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lab]:
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST)
    async with Lab(full=True, config_overrides={"github": {"required_checks": [REQUIRED]}}) as lab:
        assert lab.github is not None
        lab.github.set_mergeable_delay(0)
        yield lab


async def test_renovate_and_renovate_check_show_githubs_error_escaped(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.github is not None
    lab.github.inject_status("GET", r"/pulls$", 422, count=2, body={"message": HOSTILE})
    for command in ("renovate check", "renovate"):
        reply = (await ask(lab, lab.users.operator, command)).text
        assert ESCAPED in reply, reply
        inert(reply)


async def test_renovate_check_lists_a_cards_problem_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    lab.github.inject_status("GET", rf"/pulls/{pr.number}$", 422, body={"message": HOSTILE})
    reply = (await ask(lab, lab.users.operator, "renovate check")).text
    assert reply.startswith("Checked 1 open Renovate PR: ") and " Problems: " in reply, reply
    assert ESCAPED in reply.split(" Problems: ")[1]
    inert(reply)


async def test_a_merge_job_shows_githubs_refusal_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    lab.github.inject_status("PUT", r"/pulls/\d+/merge$", 405, body={"message": HOSTILE})
    shown = card(lab, pr.number)
    answer = await press(lab, lab.users.operator, shown, "labbot:renovate-merge")
    assert answer.startswith("You approved"), answer
    text = await wait_thread(lab, shown, "failed")
    assert "cannot be merged now" in text and ESCAPED in text
    inert(text)
    assert lab.github.merges() == []


async def test_a_merge_job_shows_a_refused_review_escaped(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    lab.github.inject_status("POST", r"/pulls/\d+/reviews$", 422, body={"message": HOSTILE})
    shown = card(lab, pr.number)
    await press(lab, lab.users.operator, shown, "labbot:renovate-merge")
    text = await wait_thread(lab, shown, "failed")
    assert f"PR #{pr.number} was not merged: the approval review failed." in text
    assert ESCAPED in text
    inert(text)
    assert lab.github.merges() == []
