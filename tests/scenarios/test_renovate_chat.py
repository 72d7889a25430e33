"""Renovate cards end to end: GitHub emulator → labbot → Slack emulator, and back through clicks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jobflow import ask, press

import bot.integrations.github as github_client
from bot.app import LabBot
from bot.integrations.github import GitHubTuning
from bot.integrations.infra_checkout import InfraCheckout
from bot.job_state import JobState
from handlers.renovate.cards import MERGE_KIND, MergeOrder, RenovateCards
from labsim.github import RenovatePr
from labsim.lab import INFRA_REPO, LAB_CHANNEL, Lab
from labsim.slack import Message

REQUIRED = "nix flake check"
# No request spacing, quick retries; a rate limit longer than 0.5 s reaches the bot's own wait.
FAST = GitHubTuning(
    http_timeout=10,
    call_timeout=30,
    seconds_between_requests=0,
    seconds_between_writes=0,
    retries=2,
    max_rate_limit_wait=0.5,
    backoff_factor=0,
    mergeable_attempts=3,
    mergeable_retry_delay=0.05,
)


@pytest.fixture
async def lab(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lab]:
    monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST)
    async with Lab(full=True, config_overrides={"github": {"required_checks": [REQUIRED]}}) as lab:
        assert lab.github is not None
        lab.github.set_mergeable_delay(0)
        yield lab


def cards(lab: Lab) -> list[Message]:
    """Every Renovate card in the lab channel."""
    return [
        m
        for m in lab.slack.messages(LAB_CHANNEL)
        if m.thread_ts is None and m.text.startswith("Renovate PR #")
    ]


def card(lab: Lab, number: int) -> Message:
    """The one card of PR `number`."""
    found = [m for m in cards(lab) if m.text.startswith(f"Renovate PR #{number}")]
    assert len(found) == 1, [m.text for m in cards(lab)]
    return found[0]


def thread_text(lab: Lab, message: Message) -> str:
    return "\n".join(m.all_text() for m in lab.slack.thread(LAB_CHANNEL, message.ts))


async def check(lab: Lab) -> str:
    reply = await ask(lab, lab.users.operator, "renovate check")
    assert reply.text.startswith("Checked "), reply.text
    return reply.text


def make_green(lab: Lab, sha: str) -> None:
    assert lab.github is not None
    lab.github.set_check_run(sha, REQUIRED, "completed", "success")
    lab.github.set_status(sha, "ci/hydra", "success", description="Build succeeded")


async def open_green_pr(lab: Lab) -> RenovatePr:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    make_green(lab, pr.head_sha)
    await check(lab)
    return pr


async def wait_thread(lab: Lab, message: Message, words: str, timeout: float = 20) -> str:
    await lab.slack.wait_for(lambda: words in thread_text(lab, message), timeout=timeout)
    return thread_text(lab, message)


async def test_new_pr_gets_one_card_that_follows_ci(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    lab.github.set_check_run(pr.head_sha, REQUIRED, "in_progress", None)
    answer = await check(lab)
    assert "1 new card" in answer
    shown = card(lab, pr.number)
    text = shown.all_text()
    assert pr.title in text
    assert f"`{pr.old_rev[:7]}`" in text and f"`{pr.new_rev[:7]}`" in text  # old → new
    assert "*nixpkgs* (NixOS/nixpkgs)" in text and "flake.lock, base → head" in text
    assert f"`{REQUIRED}` (required): in_progress" in text and "pending" in text
    assert "*Mergeable*: :large_green_circle: yes" in text
    # CI still running: no merge button, and the card says why.
    assert [b.text for b in shown.buttons()] == ["Skip"]
    assert "No merge button yet: CI is still running" in text

    # Unchanged PR: nothing is posted or edited.
    assert "0 new cards, 0 updated" in await check(lab)
    assert card(lab, pr.number).updates == 0

    # CI turns green: the same message is updated in place.
    make_green(lab, pr.head_sha)
    assert "0 new cards, 1 updated" in await check(lab)
    updated = card(lab, pr.number)
    assert updated.ts == shown.ts and updated.updates == 1
    assert "*CI* :white_check_mark: green" in updated.all_text()
    assert ":white_check_mark: `ci/hydra`: success: Build succeeded" in updated.all_text()
    assert [b.text for b in updated.buttons()] == ["Approve & merge", "Merge & deploy all", "Skip"]
    assert len({b.value for b in updated.buttons()}) == 1  # one opaque token, nothing else
    assert "No merge button yet" not in updated.all_text()

    listing = await ask(lab, lab.users.viewer, "renovate")
    assert f"#{pr.number}>" in listing.text and "card posted" in listing.text


async def test_approve_and_merge(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    shown = card(lab, pr.number)
    lab.slack.add_user(lab.users.operator, "ops.alice")  # the username the click carries
    answer = await press(lab, lab.users.operator, shown, "labbot:renovate-merge")
    assert answer.startswith(f"You approved PR #{pr.number} at `{pr.head_sha[:7]}`"), answer
    text = await wait_thread(lab, shown, "succeeded")
    assert f"Merged PR #{pr.number} (squash)" in text
    [merge] = lab.github.merges()
    assert (merge.number, merge.head_sha, merge.method) == (pr.number, pr.head_sha, "squash")
    [put] = [r for r in lab.github.requests() if r.method == "PUT" and r.path.endswith("/merge")]
    assert put.body["sha"] == pr.head_sha  # the sha guard
    [review] = lab.github.reviews(pr.number)
    assert review.state == "APPROVED" and review.commit_id == pr.head_sha
    assert review.body == (
        f"Approved in Slack by `ops.alice` (Slack user {lab.users.operator}) through labbot, "
        f"for head {pr.head_sha}."
    )
    final = await lab.slack.wait_for(
        lambda: (c := card(lab, pr.number)) and "Merged" in c.all_text() and c, timeout=10
    )
    assert final.buttons() == [] and final.text.startswith(f"Renovate PR #{pr.number} merged")
    again = await press(lab, lab.users.operator, shown, "labbot:renovate-merge", stale=True)
    assert f"PR #{pr.number} is" in again and "merged" in again and "Nothing was done" in again


async def test_head_moved_before_the_click_is_refused_and_the_card_refreshed(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    shown = card(lab, pr.number)
    new_head = await lab.github.push_commit_to_pr(pr.number, {"README.md": "moved\n"})
    answer = await press(lab, lab.users.operator, shown, "labbot:renovate-merge")
    assert "changed since the card was shown" in answer and "Nothing was done" in answer
    assert f"`{new_head[:12]}`" in card(lab, pr.number).all_text()
    assert lab.github.merges() == [] and lab.github.reviews(pr.number) == []
    # The old buttons stand for the old head: they no longer act.
    stale = await press(lab, lab.users.operator, shown, "labbot:renovate-merge", stale=True)
    assert stale == "That button is no longer valid. Nothing was done."

    # The head moves again between the click and GitHub's merge: GitHub's 409 is explained.
    make_green(lab, new_head)
    await check(lab)  # the card shows the new head, green: its buttons are back
    lab.github.inject_status(
        "PUT",
        r"/pulls/\d+/merge$",
        409,
        body={"message": "Head branch was modified. Review and try the merge again."},
    )
    answer = await press(lab, lab.users.operator, card(lab, pr.number), "labbot:renovate-merge")
    assert answer.startswith("You approved"), answer
    text = await wait_thread(lab, shown, "failed")
    assert "head branch moved" in text and "Head branch was modified" in text
    assert lab.github.merges() == []
    await lab.slack.wait_for(lambda: card(lab, pr.number).buttons(), timeout=10)


async def test_not_mergeable_is_explained(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    lab.github.set_mergeable(pr.number, False, "dirty")
    shown = card(lab, pr.number)
    await press(lab, lab.users.operator, shown, "labbot:renovate-merge")
    text = await wait_thread(lab, shown, "failed")
    assert "cannot be merged now" in text and "Pull Request is not mergeable" in text
    assert lab.github.merges() == []


async def test_ci_not_green_is_not_merged(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    lab.github.set_check_run(pr.head_sha, "lint", "completed", "failure")
    await check(lab)
    shown = card(lab, pr.number)
    # Failing CI: the card offers no merge, and says why in words.
    assert [b.text for b in shown.buttons()] == ["Skip"]
    assert "No merge button yet: CI is failing; failing: `lint`" in shown.all_text()
    assert f"required but not reported: `{REQUIRED}`" in shown.all_text()
    # CI went green and the card offered the merge; then CI failed before the click landed:
    # the merge job reads CI again and refuses.
    make_green(lab, pr.head_sha)
    lab.github.set_check_run(pr.head_sha, "lint", "completed", "success")
    await check(lab)
    green = await lab.slack.wait_for(
        lambda: card(lab, pr.number).buttons()[:1] and card(lab, pr.number), timeout=10
    )
    lab.github.set_check_run(pr.head_sha, "lint", "completed", "failure")
    await press(lab, lab.users.operator, green, "labbot:renovate-merge")
    text = await wait_thread(lab, shown, "failed")
    assert "CI is failing" in text and "`lint`" in text
    assert lab.github.merges() == [] and lab.github.reviews(pr.number) == []
    redrawn = await lab.slack.wait_for(
        lambda: "No merge button yet" in card(lab, pr.number).all_text() and card(lab, pr.number),
        timeout=10,
    )
    assert [b.text for b in redrawn.buttons()] == ["Skip"]  # back, with the reason
    viewer = await press(lab, lab.users.viewer, redrawn, "labbot:renovate-skip")
    assert "needs the operator role" in viewer


async def test_a_pr_without_ci_or_with_conflicts_gets_no_merge_button(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.github is not None
    bare = await lab.github.open_renovate_pr()  # no CI has reported at all
    await check(lab)
    text = card(lab, bare.number).all_text()
    assert (
        f"No merge button yet: CI is still running; required but not reported: `{REQUIRED}`" in text
    )
    dirty = await open_green_pr(lab)
    lab.github.set_mergeable(dirty.number, False, "dirty")
    await check(lab)
    shown = card(lab, dirty.number)
    assert [b.text for b in shown.buttons()] == ["Skip"]
    assert "GitHub says it cannot be merged as it is (dirty)" in shown.all_text()


async def test_closed_or_merged_elsewhere(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    closed = await lab.github.open_renovate_pr(input_name="nixpkgs")
    merged = await lab.github.open_renovate_pr(input_name="sops-nix")
    await check(lab)
    assert len(cards(lab)) == 2
    await lab.github.close_pr(closed.number)
    await lab.github.merge_elsewhere(merged.number)
    assert "2 closed" in await check(lab)
    assert card(lab, closed.number).buttons() == []
    assert "Closed without merging" in card(lab, closed.number).all_text()
    assert card(lab, merged.number).buttons() == []
    assert "Merged" in card(lab, merged.number).all_text()
    assert "0 updated, 0 closed" in await check(lab)  # final cards are left alone


async def test_restart_keeps_one_card_and_working_buttons(lab: Lab) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    make_green(lab, pr.head_sha)
    async with lab.bot():
        await lab.slack.wait_connected()
        await check(lab)
    await lab.slack.wait_for(lambda: not lab.slack.connected, timeout=10)
    async with lab.bot():
        await lab.slack.wait_connected()
        assert "0 new cards" in await check(lab)
        assert len(cards(lab)) == 1
        answer = await press(lab, lab.users.operator, card(lab, pr.number), "labbot:renovate-skip")
        assert answer.startswith(f"Skipped PR #{pr.number}")
    skipped = card(lab, pr.number)
    assert [b.text for b in skipped.buttons()] == ["Approve & merge", "Merge & deploy all"]
    assert "Skipped by <@" in skipped.all_text()


async def test_skip_returns_when_the_head_moves(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    await check(lab)
    await press(lab, lab.users.operator, card(lab, pr.number), "labbot:renovate-skip")
    assert "Skip" not in [b.text for b in card(lab, pr.number).buttons()]
    await lab.github.push_commit_to_pr(pr.number, {"README.md": "new\n"})
    await check(lab)
    assert "Skip" in [b.text for b in card(lab, pr.number).buttons()]
    assert "Skipped by" not in card(lab, pr.number).all_text()


async def test_secondary_rate_limit_is_waited_out(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    lab.github.inject_secondary_rate_limit(count=1, retry_after=1)
    assert "1 new card" in await check(lab)
    assert card(lab, pr.number)
    assert any(r.status == 403 for r in lab.github.requests())


async def test_merge_and_deploy_in_the_card_thread(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await open_green_pr(lab)
    shown = card(lab, pr.number)
    answer = await press(lab, lab.users.operator, shown, "labbot:renovate-deploy")
    assert "then deploying it" in answer
    await wait_thread(lab, shown, "the deploy follows in this thread")
    [merge] = lab.github.merges()
    assert await InfraCheckout(lab.flake_dir).head() == merge.merge_commit_sha

    def apply_button() -> Message | None:
        for message in lab.slack.thread(LAB_CHANNEL, shown.ts):
            if any(b.action_id == "labbot:approve" for b in message.buttons()):
                return message
        return None

    approval = await lab.slack.wait_for(apply_button, timeout=30)
    await press(lab, lab.users.operator2, approval, "labbot:approve")
    deploys = [j for j in await bot.jobs.jobs.recent() if j.kind == "deploy"]
    assert len(deploys) == 1 and deploys[0].thread_ts == shown.ts
    text = await wait_thread(lab, shown, f"Job {deploys[0].id} succeeded", timeout=40)
    assert "tp-node3" in text and "healthy" in text
    job = await bot.jobs.jobs.get(deploys[0].id)
    assert job is not None and job.state is JobState.succeeded
    assert lab.slack.message(LAB_CHANNEL, shown.ts).text.startswith("Renovate PR #")
    # The card followed the deploy: under way while it waited, then its verdict.
    now = lab.slack.message(LAB_CHANNEL, shown.ts)
    versions = [str(v.blocks) for v in now.history] + [now.all_text()]
    assert any(f"Deploying it: job {deploys[0].id} in this thread" in v for v in versions)
    await lab.slack.wait_for(
        lambda: (
            f"Deploy (job {deploys[0].id}): succeeded"
            in lab.slack.message(LAB_CHANNEL, shown.ts).all_text()
        ),
        timeout=20,
    )


HOSTILE = "<!channel> <@U0HOSTILE1> <https://evil.example|click me>"


async def test_outside_text_from_github_never_pings_or_links(lab: Lab, bot: LabBot) -> None:
    assert lab.github is not None
    pr = await lab.github.open_renovate_pr()
    owner, name = INFRA_REPO.split("/")
    repo = lab.github.state.find_repo(owner, name)
    assert repo is not None
    repo.pulls[pr.number].title = f"Update nixpkgs {HOSTILE}"
    lab.github.set_status(pr.head_sha, f"ci/{HOSTILE}", "failure", description=HOSTILE)
    await check(lab)
    listed = await ask(lab, lab.users.viewer, "renovate")

    shown = card(lab, pr.number)
    # Every mrkdwn text (the header is plain_text, where Slack parses no mentions or links).
    mrkdwn = [b for b in shown.blocks if b["type"] != "header"]
    for text in (shown.text, str(mrkdwn), listed.text, str(listed.blocks)):
        assert "<!channel>" not in text and "<@U0HOSTILE1>" not in text
        assert "<https://evil.example" not in text
    assert "&lt;!channel&gt;" in shown.text  # shown, escaped: seen, not acted on
    assert "ci/&lt;!channel&gt;" in str(mrkdwn)  # the check's context and description
    assert "&lt;!channel&gt;" in listed.all_text()


async def lose_a_merge_job(bot: LabBot, card_message: Message, order: MergeOrder) -> int:
    """A merge job as the store holds it when its replica died mid-way; recovery runs."""
    card_row = await RenovateCards(bot.store.sessions).by_token(
        card_message.button("labbot:renovate-merge").value or ""
    )
    assert card_row is not None
    lost = await bot.jobs.jobs.create(
        kind=MERGE_KIND,
        text=f"renovate merge {order.number}",
        requester=order.approver,
        channel_id=card_message.channel,
        targets=[],
        payload=order.model_copy(update={"card_id": card_row.id}).model_dump(mode="json"),
        owner="a-replica-that-died",
    )
    await bot.jobs.jobs.update_fields(lost.id, thread_ts=card_message.ts)
    assert await bot.jobs.jobs.move(lost.id, JobState.queued, JobState.running)
    await bot.jobs.recover()
    return lost.id


async def test_an_interrupted_merge_job_says_whether_its_pr_got_merged(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.github is not None
    merged_pr = await open_green_pr(lab)
    merged_card = card(lab, merged_pr.number)
    await lab.github.merge_elsewhere(merged_pr.number)  # the job merged it, then was lost
    merge_sha = lab.github.pull_request(merged_pr.number).merge_commit_sha
    assert merge_sha is not None
    order = MergeOrder(
        card_id="", number=merged_pr.number, head_sha=merged_pr.head_sha, approver="U0OPER0001"
    )
    lost = await lose_a_merge_job(bot, merged_card, order)
    text = await wait_thread(lab, merged_card, f"interruption of job {lost}")
    assert f"PR #{merged_pr.number} is merged as `{merge_sha[:7]}`." in text

    open_pr = await open_green_pr(lab)
    open_card = card(lab, open_pr.number)
    order = MergeOrder(
        card_id="",
        number=open_pr.number,
        head_sha=open_pr.head_sha,
        approver="U0OPER0001",
        deploy=True,
        deploy_targets="all",
    )
    lost = await lose_a_merge_job(bot, open_card, order)
    text = await wait_thread(lab, open_card, f"interruption of job {lost}: PR")
    assert f"PR #{open_pr.number} is still open and was not merged by it." in text
    assert lab.github.merges() == []  # checking merged nothing
