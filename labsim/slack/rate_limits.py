"""Rate limiting of emulated Web API calls: Slack's documented limits, on by default, and injected 429s.

Decides only whether a call is limited and for how long; answering with HTTP 429 is web_api's job.

What Slack documents (docs.slack.dev/apis/web-api/rate-limits, and each method's reference page
under docs.slack.dev/reference/methods/): limits apply "per API method per workspace per app";
Tier 1 allows 1+ calls a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, each with some burst
("a small amount", "occasional", "sporadic", "generous"); chat.postMessage is a special tier of
about one message per second per channel with short bursts allowed, plus a workspace-wide limit
Slack does not quantify (not emulated). Exceeding a limit answers HTTP 429 with `Retry-After`
seconds and ``{"ok": false, "error": "ratelimited"}``: the shape slack_sdk's own handler reads
(repository slackapi/python-slack-sdk, file slack_sdk/http_retry/builtin_async_handlers.py,
`AsyncRateLimitErrorRetryHandler`: status 429, then the `Retry-After` header). The tiers and
rates come from Slack's published documentation only; no source repository states them.

Slack does not publish burst sizes; the emulator uses a token bucket per limit whose size is
stated below, and whose refill is the documented minimum rate — the strictest reading of "N+".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``per_minute`` calls refilled evenly, at most ``burst`` saved up."""

    per_minute: float
    burst: int


TIER_1 = Limit(per_minute=1, burst=3)
TIER_2 = Limit(per_minute=20, burst=10)
TIER_3 = Limit(per_minute=50, burst=20)
TIER_4 = Limit(per_minute=100, burst=40)
POST_PER_CHANNEL = Limit(per_minute=60, burst=5)

#: Each emulated method's tier, from its reference page on docs.slack.dev. auth.test and
#: chat.getPermalink are "special" tiers without a published figure: not limited here.
APP_LIMITS: dict[str, Limit] = {
    "apps.connections.open": TIER_1,
    "usergroups.users.list": TIER_2,
    "chat.update": TIER_3,
    "conversations.info": TIER_3,
    "chat.postEphemeral": TIER_4,
    "users.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "views.publish": TIER_4,  # "Tier 4: 100+ per minute" on its reference page
}

#: Methods limited per channel as well as (or instead of) per app.
CHANNEL_LIMITS: dict[str, Limit] = {"chat.postMessage": POST_PER_CHANNEL}


@dataclass
class _Injection:
    remaining: int
    retry_after: int


@dataclass
class _Bucket:
    limit: Limit
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.limit.per_minute / 60
        self.tokens = min(self.limit.burst, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def retry_after(self) -> int:
        """Whole seconds until one token is back (Slack sends an integer Retry-After)."""
        return max(1, math.ceil((1.0 - self.tokens) * 60 / self.limit.per_minute))


class RateLimiter:
    """Answers "is this call rate limited, and what Retry-After?" for one emulator.

    Slack's limits (`APP_LIMITS`, `CHANNEL_LIMITS`) are enforced from the start;
    ``configure(enforce=False)`` turns them off for a test about something else, and
    ``configure(app_limits=..., channel_limits=...)`` replaces them. ``inject(method, count,
    retry_after)`` makes the next ``count`` calls of a method fail whatever the buckets say.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._injections: dict[str, _Injection] = {}
        self._app_limits = dict(APP_LIMITS)
        self._channel_limits = dict(CHANNEL_LIMITS)
        self._enforce = True
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def inject(self, method: str, count: int, retry_after: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` fail with 429 and this Retry-After."""
        if count <= 0:
            self._injections.pop(method, None)
            return
        self._injections[method] = _Injection(count, retry_after)

    def configure(
        self,
        *,
        enforce: bool = True,
        app_limits: dict[str, Limit] | None = None,
        channel_limits: dict[str, Limit] | None = None,
    ) -> None:
        """Turn Slack's limits on or off, or replace them; all buckets start full again."""
        self._enforce = enforce
        self._app_limits = dict(APP_LIMITS if app_limits is None else app_limits)
        self._channel_limits = dict(CHANNEL_LIMITS if channel_limits is None else channel_limits)
        self._buckets.clear()

    def check(self, method: str, params: dict[str, Any]) -> int | None:
        """Retry-After seconds if this call must be refused with 429, else None (call allowed).

        A refused call takes no token: like Slack, retrying early is refused again, but the
        attempt itself does not push the next allowed call further out.
        """
        injection = self._injections.get(method)
        if injection is not None:
            injection.remaining -= 1
            if injection.remaining <= 0:
                del self._injections[method]
            return injection.retry_after
        if not self._enforce:
            return None
        buckets = []
        if (limit := self._app_limits.get(method)) is not None:
            buckets.append(self._bucket((method, ""), limit))
        if (limit := self._channel_limits.get(method)) is not None:
            buckets.append(self._bucket((method, str(params.get("channel", ""))), limit))
        now = self._clock()
        for bucket in buckets:
            bucket.refill(now)
        short = [b for b in buckets if b.tokens < 1.0]
        if short:
            return max(b.retry_after() for b in short)
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None

    def _bucket(self, key: tuple[str, str], limit: Limit) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit, float(limit.burst), self._clock())
        return bucket
