"""Rate limiting of emulated Web API calls: injected 429s and optional per-key token buckets.

Decides only whether a call is limited and for how long; answering with HTTP 429 is web_api's job.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class _Injection:
    remaining: int
    retry_after: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Answers "is this call rate limited, and what Retry-After?" for one emulator.

    Two sources: ``inject(method, count, retry_after)`` makes the next ``count`` calls of a method
    fail, and ``configure(...)`` turns on token buckets (off by default): chat.update per message
    (channel + ts) and chat.postMessage per channel. Slack documents ~1 post/s per channel with
    short bursts and chat.update as Tier 3 (per app, not per message); the per-message bucket is a
    stricter stand-in that lets benchmarks check the bot's own pacing.
    """

    def __init__(self) -> None:
        self._injections: dict[str, _Injection] = {}
        self._rates: dict[str, float] = {}
        self._burst = 1.0
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def inject(self, method: str, count: int, retry_after: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` fail with 429 and this Retry-After."""
        if count <= 0:
            self._injections.pop(method, None)
            return
        self._injections[method] = _Injection(count, retry_after)

    def configure(
        self,
        *,
        chat_update_per_sec_per_message: float | None,
        post_per_sec_per_channel: float | None,
        burst: float = 1.0,
    ) -> None:
        """Enable (a rate) or disable (None) the token buckets; ``burst`` is the bucket size."""
        self._rates = {}
        if chat_update_per_sec_per_message is not None:
            self._rates["chat.update"] = chat_update_per_sec_per_message
        if post_per_sec_per_channel is not None:
            self._rates["chat.postMessage"] = post_per_sec_per_channel
        self._burst = max(1.0, burst)
        self._buckets.clear()

    def check(self, method: str, params: dict[str, Any]) -> int | None:
        """Retry-After seconds if this call must be refused with 429, else None (call allowed)."""
        injection = self._injections.get(method)
        if injection is not None:
            injection.remaining -= 1
            if injection.remaining <= 0:
                del self._injections[method]
            return injection.retry_after
        rate = self._rates.get(method)
        if rate is None or rate <= 0:
            return None
        key = (method, str(params.get("channel", "")), str(params.get("ts", "")))
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(self._burst, now))
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))
