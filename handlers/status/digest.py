"""The nightly digest: the whole lab gathered at once, compared with yesterday, posted with details.

Must not gather or judge by itself (`handlers/status/lab_snapshot.py`, `handlers/status/digest_report.py`) or build Block Kit
(`handlers/status/digest_blocks.py`); it runs the steps and posts through `Chat`.

1. Read the last stored snapshot.  2. Collect the lab now (every source concurrently, each with
its timeout).  3. Keep each unreachable node's "since" from the last digest.  4. Judge and
compare.  5. Post the summary in `digest.channel` (default: the first allowed channel), a
late run saying it is late; then the details in its thread.  6. Store the snapshot (only once
the summary is posted, so a digest nobody saw is not the base of tomorrow's changes) and prune.

Schedule: `schedules.digest_cron` in `schedules.timezone`, persisted by APScheduler in the
store; a run missed while labbot was down is coalesced into one and marked late.
Checklist: lock — none (reads only; APScheduler runs one at a time); approval — none; timeout —
per source (`digest.ssh_timeout_seconds`, `digest.source_timeout_seconds`); cancel — stops with
the scheduler; redaction — by the chat that posts (`bot/outbound.py`), every text and block; audit — the
snapshot row; tests — tests/handlers/status/test_digest.py, tests/scenarios/test_status.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.chat import Chat, ChatError, PosterRateLimited
from bot.config import Config
from bot.job_records import now_utc
from bot.scheduler import ScheduledRun
from bot.services import Services
from bot.store import Store
from handlers.status import messages
from handlers.status.digest_blocks import ChatMessage, summary_message, thread_messages
from handlers.status.digest_report import DigestReport, build_report, carry_forward, local_time
from handlers.status.digest_store import DigestStore
from handlers.status.lab_snapshot import LabSnapshotCollector

if TYPE_CHECKING:
    from bot.capability import CapabilityContext

log = logging.getLogger(__name__)

SCHEDULE_NAME = "digest"


@dataclass(frozen=True)
class DigestPosted:
    """A posted digest: where its summary is, how many thread messages followed, what it said."""

    channel: str
    ts: str
    details: int
    report: DigestReport


class DigestRunner:
    """Runs the digest; `scheduled` is the task the scheduler calls.

    Example: ``posted = await DigestRunner(config, store, chat, services).run()``.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        chat: Chat,
        services: Services,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._config = config
        self._chat = chat
        self._snapshots = DigestStore(store.sessions)
        self._collector = LabSnapshotCollector(config, services, store, clock)

    @property
    def channel(self) -> str:
        """Where the digest goes."""
        return self._config.digest.channel or self._config.slack.allowed_channels[0]

    async def run(self, run: ScheduledRun | None = None) -> DigestPosted:
        """Gather, compare, post and store one digest (`run` tells whether it is late)."""
        zone = ZoneInfo(self._config.schedules.timezone)
        previous = await self._snapshots.latest()
        snapshot = carry_forward(previous, await self._collector.collect(build=True))
        report = build_report(previous, snapshot, self._config)
        late = None
        if run is not None and run.late:
            late = messages.digest_late(
                local_time(run.scheduled_at, zone), local_time(run.started_at, zone)
            )
        day = snapshot.taken_at.astimezone(zone).strftime("%a %d %b")
        summary = summary_message(
            report,
            title=messages.digest_title(day),
            zone=zone,
            late=late,
            hint=messages.digest_thread_hint(),
        )
        ts, details = await post_with_thread(
            self._chat, self.channel, summary, thread_messages(report, zone)
        )
        await self._snapshots.save(snapshot)
        await self._snapshots.prune(self._config.digest.keep_snapshots)
        log.info(
            "digest posted in %s (%d nodes, %.1f s to gather)",
            self.channel,
            len(snapshot.nodes),
            snapshot.seconds,
        )
        return DigestPosted(self.channel, ts, details, report)

    async def scheduled(self, run: ScheduledRun) -> None:
        """The scheduler's task."""
        await self.run(run)


async def post_with_thread(
    chat: Chat,
    channel: str,
    summary: ChatMessage,
    details: Sequence[ChatMessage],
) -> tuple[str, int]:
    """Post `summary`, then `details` in its thread (the chat redacts and fits them); returns
    the summary's ts and how many details were posted (a failed detail is logged and skipped,
    the summary stands)."""
    ts = await chat.post(channel, summary.text, summary.blocks)
    posted = 0
    for message in details:
        try:
            await chat.post(channel, message.text, message.blocks, thread_ts=ts)
            posted += 1
        except (ChatError, PosterRateLimited) as error:
            log.warning("a digest detail message was not posted: %s", error)
    return ts, posted


def register(context: CapabilityContext) -> None:
    """The digest on its cron, in the configured time zone (unless `digest.enabled` is false)."""
    config = context.config
    if not config.digest.enabled:
        return
    runner = DigestRunner(config, context.store, context.chat, context.services)
    trigger = CronTrigger.from_crontab(
        config.schedules.digest_cron, timezone=config.schedules.timezone
    )
    context.scheduler.add(SCHEDULE_NAME, trigger, runner.scheduled)
