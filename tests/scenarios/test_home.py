"""The bot's Home tab through Slack: opening it publishes the lab at a glance for the user's
role; a job's end refreshes it for whoever opened it lately, and a refused refresh never touches
the job."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from exercise import EXERCISE_CAPABILITIES
from jobflow import approval_message, press, start, wait_final

import bot.integrations.github as github_client
from bot.app import LabBot
from bot.integrations.github import GitHubTuning
from bot.job_state import JobState
from handlers.status.digest import SCHEDULE_NAME
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import HomeView
from labsim.slack.limits import MAX_VIEW_BLOCKS, find_block_problem
from labsim.terminal import SlackTerminal

FAST_GITHUB = GitHubTuning(seconds_between_requests=0, seconds_between_writes=0, retries=1)


@pytest.fixture
async def ebot(lab: Lab) -> AsyncIterator[LabBot]:
    """labbot with the test-only `exercise` job kind beside every real capability."""
    async with LabBot(lab.config(), EXERCISE_CAPABILITIES) as bot:
        await lab.slack.wait_connected()
        yield bot


async def open_home(lab: Lab, user: str) -> HomeView:
    """Open the Home tab as `user`; return the view published for them in answer."""
    before = view.publishes if (view := lab.slack.home_view(user)) else 0
    await (await lab.slack.user(user).open_home()).acked()

    def published() -> HomeView | None:
        now = lab.slack.home_view(user)
        return now if now is not None and now.publishes > before else None

    return await lab.slack.wait_for(published, timeout=15)


def valid(view: HomeView) -> bool:
    return (
        find_block_problem(
            view.blocks, max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks", text_limit=None
        )
        is None
    )


class TestTheWholeLab:
    @pytest.fixture
    async def lab(self, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lab]:
        monkeypatch.setattr(github_client, "GitHubTuning", lambda: FAST_GITHUB)
        async with Lab(full=True) as lab:
            yield lab

    async def test_home_shows_nodes_jobs_prs_and_the_last_digest_for_each_role(
        self, lab: Lab, ebot: LabBot
    ) -> None:
        assert lab.github is not None
        users = lab.users
        before = await open_home(lab, users.viewer)
        assert "*Last digest:* none yet" in before.all_text()
        pull = await lab.github.open_renovate_pr()
        await ebot.scheduler.run(SCHEDULE_NAME)
        job_id = await start(lab, users.operator, "exercise print 1")
        approval = await approval_message(lab, job_id)

        admin = await open_home(lab, users.admin)
        text = admin.all_text()
        assert "*Last digest:* " in text and "none yet" not in text
        for node in lab.config().inventory.nodes:
            assert f"*{node.name}* · power on · reachable · generation " in text, node.name
        assert "*Jobs* (1 under way)" in text
        assert f"*{job_id}* `exercise print 1` by <@{users.operator}>: waiting for approval" in text
        assert "*Renovate PRs* (1 open)" in text and f"|#{pull.number}> " in text
        [button] = admin.buttons()
        assert button.text == "Approve in thread"
        assert button.url is not None and approval.ts.replace(".", "") in button.url
        assert valid(admin)
        # Slack opens the link and still sends the click: labbot acks it and does nothing else.
        before = len(lab.slack.messages(LAB_CHANNEL))
        await (await lab.slack.user(users.admin).click_home(button.action_id)).acked()
        job = await ebot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.awaiting_approval
        assert len(lab.slack.messages(LAB_CHANNEL)) == before

        viewer = await open_home(lab, users.viewer)
        assert viewer.buttons() == []  # a viewer may not approve: no button to click
        assert f"*{job_id}* `exercise print 1`" in viewer.all_text()
        stranger = await open_home(lab, users.stranger)
        assert "You hold no labbot role" in stranger.all_text()
        assert "tp-node" not in stranger.all_text() and stranger.buttons() == []


class TestJobEnds:
    """On the Slack-only lab: the engine's jobs without the nodes."""

    @pytest.fixture
    async def lab(self) -> AsyncIterator[Lab]:
        async with Lab() as lab:
            yield lab

    async def test_a_job_end_refreshes_the_tab_of_who_opened_it(
        self, lab: Lab, ebot: LabBot
    ) -> None:
        users = lab.users
        job_id = await start(lab, users.operator, "exercise print 1")
        approval = await approval_message(lab, job_id)
        opened = await open_home(lab, users.operator)
        assert "waiting for approval" in opened.all_text() and opened.publishes == 1

        assert "You approved" in await press(lab, users.admin, approval, "labbot:approve")
        await wait_final(lab, job_id, "succeeded")

        def refreshed() -> HomeView | None:
            view = lab.slack.home_view(users.operator)
            return view if view is not None and view.publishes == 2 else None

        after = await lab.slack.wait_for(refreshed, timeout=15)
        assert "*Jobs:* none running, queued or awaiting approval." in after.all_text()
        assert lab.slack.home_view(users.admin) is None  # never opened it: nothing published

    async def test_the_messages_tab_publishes_nothing(self, lab: Lab, ebot: LabBot) -> None:
        await (await lab.slack.user(lab.users.operator).open_home("messages")).acked()
        await open_home(lab, lab.users.admin)  # the first was acked, so already looked at
        assert lab.slack.home_view(lab.users.operator) is None
        assert [c.params["user_id"] for c in lab.slack.calls("views.publish")] == [lab.users.admin]

    async def test_a_429_on_the_refresh_leaves_the_job_end_alone(
        self, lab: Lab, ebot: LabBot
    ) -> None:
        users = lab.users
        await open_home(lab, users.operator)
        # Slack refuses the refresh for a minute: a refresh that waited out the Retry-After
        # before the job's end could finish would hold the verdict back that long.
        lab.slack.inject_rate_limit("views.publish", 1, retry_after=60)
        job_id = await start(lab, users.operator, "exercise now 2")
        await wait_final(lab, job_id, "succeeded")
        await lab.slack.wait_for(
            lambda: any(c.status == 429 for c in lab.slack.calls("views.publish")), timeout=15
        )
        job = await ebot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.succeeded
        # The refresh gave up at once: waiting out the minute would outlast this bound.
        async with asyncio.timeout(15):
            await ebot.tasks.wait_idle()
        assert [c.status for c in lab.slack.calls("views.publish")] == [200, 429]
        view = lab.slack.home_view(users.operator)
        assert view is not None and view.publishes == 1  # the Retry-After is respected

    async def test_the_demo_terminal_opens_the_home_tab(self, lab: Lab, ebot: LabBot) -> None:
        out = io.StringIO()
        typed = iter([":home\n", ":quit\n"])
        users = {"viewer": lab.users.viewer}
        terminal = SlackTerminal(
            lab.slack, LAB_CHANNEL, users, "viewer", out=out, read_line=lambda: next(typed)
        )
        await terminal.run()
        shown = out.getvalue()
        assert "  ⌂ Lab at a glance" in shown
        assert "  ⌂ *Jobs:* none running, queued or awaiting approval." in shown
