"""Shared steps for job scenarios: run a command, find the job's thread, press its buttons."""

from __future__ import annotations

from pathlib import Path

from bot.intake import ClickRequest, Intake, IntakeRecords
from bot.job_records import ApprovalRecords, ApprovalState, now_utc
from bot.store import Store
from labsim.bot_process import BotProcess
from labsim.lab import LAB_CHANNEL, Lab
from labsim.slack import Ephemeral, Message

BOT_PROCESS = Path(__file__).with_name("bot_process.py")


async def approve_in_store(lab: Lab, job_id: int, user: str) -> None:
    """Record `user`'s approval of `job_id` straight in the store: what a labbot process that
    died just after recording the click, before moving the job on, leaves behind."""
    store = await Store.open(lab.config().storage.resolved_database_url())
    try:
        approvals = ApprovalRecords(store.sessions)
        [approval] = await approvals.for_job(job_id)
        assert await approvals.decide(approval.id, ApprovalState.approved, user)
    finally:
        await store.close()


async def click_acked_before_a_crash(
    lab: Lab, user: str, message: Message, action_id: str, key: str = "T0CRASHED1"
) -> None:
    """Record a click on `message`'s button `action_id` as the Slack edge does before acking it,
    with a response_url of the Slack emulator: what the store holds when the process died right
    after the ack, before handling the click. Slack never delivers an acked click again."""
    button = lab.slack.message(message.channel, message.ts).button(action_id)
    response_url = lab.slack.response_urls.issue(
        user=user, channel=message.channel, original_ts=message.ts, original_ephemeral=False
    )
    click = ClickRequest(user, message.channel, action_id, button.value, message.ts, user)
    store = await Store.open(lab.config().storage.resolved_database_url())
    try:
        assert await IntakeRecords(store).receive(Intake(key, click, response_url, now_utc()))
    finally:
        await store.close()


class BotProcesses(list[BotProcess]):
    """labbot processes (replicas, or one restarted) on one lab, with the exercise commands."""

    def __init__(self, lab: Lab) -> None:
        super().__init__()
        self.lab = lab

    async def start(self) -> BotProcess:
        """Start one more and wait until Slack sees it connected."""
        bot = BotProcess(self.lab, BOT_PROCESS)
        self.append(bot)
        await bot.start()
        return bot

    async def stop_all(self) -> None:
        """SIGTERM each still running."""
        for bot in self:
            await bot.stop()


async def ask(lab: Lab, user: str, text: str, channel: str = LAB_CHANNEL) -> Ephemeral:
    """Send `/lab text` as `user`; return the ephemeral reply that follows."""
    before = len(lab.slack.ephemerals(user))
    result = await lab.slack.user(user).slash(text, channel=channel)
    await result.acked()
    replies = await lab.slack.wait_for(
        lambda: lab.slack.ephemerals(user)[before:] or None, timeout=15
    )
    return replies[0]


def root_of(lab: Lab, job_id: int) -> Message:
    """The root message of job `job_id`'s thread."""
    for message in lab.slack.messages(LAB_CHANNEL):
        if message.thread_ts is None and f"(job {job_id})" in message.text:
            return message
    raise LookupError(f"no root message for job {job_id}")


def thread_text(lab: Lab, job_id: int) -> str:
    """Everything said in the job's thread (current versions), newline-joined."""
    root = root_of(lab, job_id)
    return "\n".join(m.all_text() for m in lab.slack.thread(LAB_CHANNEL, root.ts))


async def start(lab: Lab, user: str, text: str) -> int:
    """Start a job; returns its id."""
    reply = await ask(lab, user, text)
    assert reply.text.startswith("Started job "), reply.text
    return int(reply.text.removeprefix("Started job ").rstrip("."))


async def approval_message(lab: Lab, job_id: int) -> Message:
    """Wait for the job's Apply/Reject message."""

    def find() -> Message | None:
        try:
            root = root_of(lab, job_id)
        except LookupError:
            return None
        for message in lab.slack.thread(LAB_CHANNEL, root.ts):
            if any(b.action_id == "labbot:approve" for b in message.buttons()):
                return message
        return None

    return await lab.slack.wait_for(find, timeout=15)


async def press(
    lab: Lab,
    user: str,
    message: Message,
    action_id: str,
    value: str | None = None,
    stale: bool = False,
) -> str:
    """Click a button as `user` (on the version held if `stale`); returns the ephemeral answer."""
    before = len(lab.slack.ephemerals(user))
    result = await lab.slack.user(user).click(message, action_id, value=value, stale=stale)
    await result.acked()
    replies = await lab.slack.wait_for(
        lambda: lab.slack.ephemerals(user)[before:] or None, timeout=15
    )
    return replies[0].text


async def wait_final(lab: Lab, job_id: int, words: str, timeout: float = 20) -> str:
    """Wait until the job's thread says `words` (the final verdict), return the thread text."""

    def said() -> bool:
        try:
            return words in thread_text(lab, job_id)
        except LookupError:  # the thread is not there yet
            return False

    await lab.slack.wait_for(said, timeout=timeout)
    return thread_text(lab, job_id)
