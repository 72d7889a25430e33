"""The shared Slack budget: urgent calls first, live refreshes in turn, 429s respected."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.slack_budget import CallLimit, SlackBudget


class FakeTime:
    """A clock that moves only when the budget sleeps, so pacing is exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def one_per_second(time: FakeTime) -> SlackBudget:
    return SlackBudget(
        {"chat.update": CallLimit(per_minute=60, burst=1)},
        {"chat.postMessage": CallLimit(per_minute=60, burst=2)},
        clock=time.clock,
        sleep=time.sleep,
    )


async def granted_order(budget: SlackBudget, calls: list[tuple[str, object]]) -> list[str]:
    order: list[str] = []

    async def call(name: str, message: object) -> None:
        await budget.take("chat.update", "C1", message=message, live=message is not None)
        order.append(name)

    tasks = [asyncio.create_task(call(name, live)) for name, live in calls]
    await asyncio.gather(*tasks)
    return order


async def test_urgent_calls_go_before_live_refreshes_queued_earlier() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    order = await granted_order(
        budget, [("live-a", "a"), ("live-b", "b"), ("approval", None), ("final", None)]
    )
    assert order == ["approval", "final", "live-a", "live-b"]
    assert time.now == pytest.approx(3.0)  # four calls at one a second, the first from the burst


async def test_live_messages_take_turns_least_recently_refreshed_first() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    assert await granted_order(budget, [("a", "a"), ("b", "b")]) == ["a", "b"]
    time.now += 1
    # "a" was refreshed before "b": asked again together, "a" goes first although "b" asked
    # first; "c", never refreshed and waiting from now, goes last.
    assert await granted_order(budget, [("c", "c"), ("b", "b"), ("a", "a")]) == ["a", "b", "c"]


async def test_a_busy_stream_does_not_starve_the_others() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    refreshed: dict[str, list[float]] = {name: [] for name in "abcdefghij"}

    async def stream(name: str) -> None:
        for _ in range(6):
            await budget.take("chat.update", "C1", message=name, live=True)
            refreshed[name].append(time.now)

    await asyncio.gather(*(stream(name) for name in refreshed))
    gaps = [b - a for times in refreshed.values() for a, b in itertools.pairwise(times)]
    assert max(gaps) == pytest.approx(10.0)  # ten streams at one refresh a second: every 10 s


async def test_a_429_holds_the_limit_back_for_its_retry_after() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    await budget.take("chat.update")
    budget.refused("chat.update", "", retry_after=30)
    await budget.take("chat.update")
    assert time.now == pytest.approx(30.0)


async def test_post_message_is_limited_per_channel() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    for channel in ("C1", "C1", "C2", "C2", "C3"):
        await budget.take("chat.postMessage", channel)
    assert time.now == 0.0  # each channel's burst of two
    await budget.take("chat.postMessage", "C1")
    assert time.now == pytest.approx(1.0)


async def test_a_cancelled_wait_gives_its_turn_back() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    await budget.take("chat.update")  # the burst is spent
    gave_up = asyncio.create_task(budget.take("chat.update"))
    await asyncio.sleep(0)
    gave_up.cancel()
    await budget.take("chat.update")
    assert time.now == pytest.approx(1.0)  # the cancelled call did not use the next token
    assert budget.waiting() == 0


async def test_methods_without_a_limit_never_wait() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    for _ in range(100):
        await budget.take("auth.test")
    assert time.slept == []


async def test_the_final_edit_of_a_long_unrefreshed_message_goes_before_newer_calls() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    await budget.take("chat.update", "C1", message="log", live=True)  # refreshed at 0 s
    queued = [(f"reply{i}", None) for i in range(20)]
    order = await granted_order(budget, queued)
    assert time.now == pytest.approx(20.0)  # twenty replies at one a second

    async def final() -> None:
        await budget.take("chat.update", "C1", message="log")  # a final edit: not live
        order.append("final")

    # Replies asked at 20 s are due at 23 s; the log, last refreshed at 0 s, was due at 12 s.
    later = asyncio.create_task(granted_order(budget, [(f"late{i}", None) for i in range(3)]))
    await asyncio.gather(final(), later)
    assert order[20] == "final"


async def test_replies_due_sooner_go_before_a_refresh_that_is_due_later() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    order = await granted_order(budget, [("log", "log")] + [(f"reply{i}", None) for i in range(30)])
    # All thirty replies were asked at 0 s and are due at 3 s, before the refresh (12 s): under
    # such a backlog the refresh waits for them (the budget cannot make both on time).
    assert order.index("log") == 30


async def test_a_background_edit_is_due_from_when_it_was_asked_not_from_long_ago() -> None:
    time = FakeTime()
    budget = one_per_second(time)
    await budget.take("chat.update", "C1", message="root", background=True)  # at 0 s
    await budget.take("chat.update", "C1", message="log", live=True)  # at 1 s
    time.now = 20.0
    order: list[str] = []

    async def call(name: str, **kwargs: object) -> None:
        await budget.take("chat.update", "C1", **kwargs)  # type: ignore[arg-type]
        order.append(name)

    await budget.take("chat.update", "C1")  # spend the token: the next two wait together
    await asyncio.gather(
        call("root", message="root", background=True),  # due 50 s
        call("log", message="log", live=True),  # last refreshed at 1 s: due 13 s
    )
    assert order == ["log", "root"]
