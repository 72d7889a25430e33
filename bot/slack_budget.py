"""One budget of Slack Web API calls, shared by every job, command and schedule of the app.

Slack limits calls "per API method per workspace per app" (docs.slack.dev/apis/web-api/rate-limits):
chat.update is Tier 3 (50+ a minute for the whole app, however many messages it edits),
chat.postEphemeral and the file-upload methods Tier 4 (100+), and chat.postMessage about one
message per second per channel with short bursts. A bot that paces each message on its own
exceeds the app's budget as soon as two jobs stream; Slack then answers 429.

So every call waits here for its turn. Each limit is a token bucket at or below Slack's
documented minimum, and when several calls wait for a token, the one whose deadline is nearest
goes first (earliest deadline first):

- a call someone waits for (a reply, an approval, a job's result) is due `URGENT_WITHIN` seconds
  after it was made;
- a *live* refresh of a streaming message is due `LIVE_WITHIN` seconds after that message was
  last refreshed (its first refresh: after it began waiting), so the message refreshed longest
  ago goes first and ten jobs streaming at once take turns evenly rather than the busiest one
  taking everything;
- a final edit of such a message is due at the earlier of the two;
- a *background* edit nobody waits on (a job's root message, whose thread already says the
  news) is due `BACKGROUND_WITHIN` seconds after it was asked.

A 429 that still happens (Slack's own accounting differs) empties the bucket until its
Retry-After has passed.

Usage::

    budget = SlackBudget()
    await budget.take("chat.postEphemeral")                                   # urgent
    await budget.take("chat.update", channel, message=(channel, ts))          # a final edit
    await budget.take("chat.update", channel, message=(channel, ts), live=True)  # a refresh
    budget.refused("chat.update", "", retry_after=3.0)        # Slack said 429 anyway
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallLimit:
    """A token bucket: ``per_minute`` calls refilled evenly, at most ``burst`` saved up."""

    per_minute: float
    burst: int


#: Per app: each tier's documented minimum rate, with a smaller burst than Slack tolerates, so
#: the bot's calls stay inside Slack's buckets even when requests arrive unevenly.
APP_LIMITS: dict[str, CallLimit] = {
    "chat.update": CallLimit(per_minute=50, burst=15),  # Tier 3
    "chat.postEphemeral": CallLimit(per_minute=90, burst=30),  # Tier 4
    "files.upload": CallLimit(per_minute=45, burst=15),  # Tier 4, two calls per upload
    # Tier 4 (docs.slack.dev/reference/methods/views.publish: "Tier 4: 100+ per minute").
    "views.publish": CallLimit(per_minute=90, burst=30),
}
#: Per channel: chat.postMessage's "one message per second per channel, short bursts allowed".
CHANNEL_LIMITS: dict[str, CallLimit] = {"chat.postMessage": CallLimit(per_minute=55, burst=4)}

URGENT_WITHIN = 3.0
"""Seconds within which a call someone waits for should go."""
LIVE_WITHIN = 12.0
"""Seconds within which a streaming message should be refreshed again; with the wait for the
token and the stream's own interval, every live message is refreshed at least every 15 s."""

BACKGROUND_WITHIN = 30.0
"""Seconds within which an edit nobody waits on should go: when many jobs end together, their
root messages' status yields to the verdicts and live output in their threads."""

_REMEMBERED_MESSAGES = 4096  # live messages whose last refresh is remembered


@dataclass
class _Waiter:
    order: int  # arrival, to break ties
    message: Hashable | None
    live: bool
    deadline: float
    granted: asyncio.Future[None]


@dataclass
class _Bucket:
    limit: CallLimit
    tokens: float
    updated: float
    blocked_until: float = 0.0
    waiting: list[_Waiter] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None

    def wait_time(self, now: float) -> float:
        """Seconds until a call may go (0 when a token is there and no 429 holds it back)."""
        rate = self.limit.per_minute / 60
        self.tokens = min(self.limit.burst, self.tokens + (now - self.updated) * rate)
        self.updated = now
        short = 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / rate
        return max(short, self.blocked_until - now)


class SlackBudget:
    """Slack's per-app and per-channel limits as one queue per limit, shared by all callers."""

    def __init__(
        self,
        app_limits: dict[str, CallLimit] | None = None,
        channel_limits: dict[str, CallLimit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._app_limits = APP_LIMITS if app_limits is None else app_limits
        self._channel_limits = CHANNEL_LIMITS if channel_limits is None else channel_limits
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._refreshed: OrderedDict[Hashable, float] = OrderedDict()  # live message → when
        self._order = itertools.count()

    async def take(
        self,
        method: str,
        channel: str = "",
        *,
        message: Hashable | None = None,
        live: bool = False,
        background: bool = False,
    ) -> None:
        """Wait until a call of `method` (in `channel`) may go now, and count it.

        `message` names the message a call edits; `live` marks a refresh of its streaming output
        and `background` an edit nobody waits on: both may wait longer than a call someone waits
        for (see the module's docstring). Cancelling the wait gives the turn back.
        """
        for bucket in self._buckets_for(method, channel):
            await self._turn(bucket, message, live, background)

    def refused(self, method: str, channel: str, retry_after: float) -> None:
        """Slack answered 429: hold every call of this limit back for `retry_after` seconds."""
        now = self._clock()
        for bucket in self._buckets_for(method, channel):
            bucket.tokens = 0.0
            bucket.blocked_until = max(bucket.blocked_until, now + max(retry_after, 0.0))

    def waiting(self) -> int:
        """Calls waiting for their turn (for metrics and tests)."""
        return sum(1 for b in self._buckets.values() for w in b.waiting if not w.granted.done())

    def _buckets_for(self, method: str, channel: str) -> list[_Bucket]:
        found = []
        if (limit := self._app_limits.get(method)) is not None:
            found.append(self._bucket((method, ""), limit))
        if (limit := self._channel_limits.get(method)) is not None:
            found.append(self._bucket((method, channel), limit))
        return found

    def _bucket(self, key: tuple[str, str], limit: CallLimit) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit, float(limit.burst), self._clock())
        return bucket

    async def _turn(
        self, bucket: _Bucket, message: Hashable | None, live: bool, background: bool
    ) -> None:
        now = self._clock()
        refreshed = self._refreshed.get(message) if message is not None else None
        if live:
            deadline = (now if refreshed is None else refreshed) + LIVE_WITHIN
        elif background:
            deadline = now + BACKGROUND_WITHIN
        else:
            deadline = now + URGENT_WITHIN
            if refreshed is not None:  # the final edit of a live message
                deadline = min(deadline, refreshed + LIVE_WITHIN)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(next(self._order), message, live, deadline, loop.create_future())
        bucket.waiting.append(waiter)
        if bucket.pump is None or bucket.pump.done():
            bucket.pump = asyncio.create_task(self._pump(bucket), name="slack budget")
        await waiter.granted  # cancelled: the pump skips it

    async def _pump(self, bucket: _Bucket) -> None:
        """Hand out the bucket's tokens to its waiters, nearest deadline first, until none wait.

        Who goes is chosen when a token is there, not when the wait began, so a call that
        arrives during the wait still goes before later-due calls queued earlier.
        """
        while bucket.waiting:
            delay = bucket.wait_time(self._clock())
            if delay > 0:
                await self._sleep(delay)  # pacing to Slack's limit: the wait is the point
                continue
            bucket.waiting = [w for w in bucket.waiting if not w.granted.done()]  # gave up
            if not bucket.waiting:
                return
            waiter = min(bucket.waiting, key=lambda w: (w.deadline, w.order))
            bucket.waiting.remove(waiter)
            bucket.tokens -= 1.0
            waiter.granted.set_result(None)
            if waiter.live:
                self._refreshed[waiter.message] = self._clock()
                self._refreshed.move_to_end(waiter.message)
                while len(self._refreshed) > _REMEMBERED_MESSAGES:
                    self._refreshed.popitem(last=False)
