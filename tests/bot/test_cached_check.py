"""The health endpoint's write check runs at most once per interval, whatever the probes do."""

from __future__ import annotations

from bot.health import CachedCheck


async def test_a_cached_check_asks_once_per_interval() -> None:
    now = [100.0]
    answers = [True, False]
    asked: list[float] = []

    async def writable() -> bool:
        asked.append(now[0])
        return answers[len(asked) - 1]

    check = CachedCheck(writable, every=10, clock=lambda: now[0])
    assert await check() is True
    now[0] = 109.9
    assert await check() is True  # the earlier answer: no second write
    now[0] = 110.0
    assert await check() is False  # a new answer once the interval passed
    assert asked == [100.0, 110.0]
