"""Tests for bot/stream.py with a fake poster and a manual clock (no wall-time dependence)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bot.output_tail import strip_ansi
from bot.redact import Redactor
from bot.stream import MAX_TEXT, PosterRateLimited, ThreadStream

T = TypeVar("T")

SECRET = "bmc-password-0xC0FFEE"
TOKEN = "ghp_" + "T0k3n" * 8


class ManualClock:
    """Time moves only when a test says so; `sleep` waits for that."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + delay, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for due, future in list(self._sleepers):
            if due <= self.now and not future.done():
                future.set_result(None)

    async def drive(self, work: Awaitable[T], step: float = 0.25, limit: float = 3600) -> T:
        """Run `work`, moving time forward whenever it waits on this clock, until it is done.
        While it waits on something real instead (a file written in a thread), real time
        passes and this clock stands still, however slow the machine."""
        task = asyncio.ensure_future(work)
        start, real_start = self.now, time.monotonic()
        while not task.done():
            await asyncio.sleep(0)
            if task.done():
                break
            if self._sleepers:
                assert self.now - start < limit, "work did not finish in simulated time"
                self.advance(step)
            else:
                assert time.monotonic() - real_start < 60, "work waits on nothing that ends"
                await asyncio.wait({task}, timeout=0.001)
        return task.result()


class FakePoster:
    """Records every call, with the simulated time it started; can fail on demand."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.messages: dict[str, str] = {}
        self.texts: list[str] = []
        self.call_times: list[float] = []
        self.uploads: list[tuple[str, bytes]] = []
        self.fail_updates = 0  # the next N updates raise
        self.fail_posts = 0
        self.rate_limit_next = 0.0  # the next call raises PosterRateLimited(this) when > 0
        self.upload_rate_limits = 0
        self.block: asyncio.Event | None = None  # updates wait for this
        self.in_flight = 0
        self.most_in_flight = 0

    async def _call(self, text: str) -> None:
        self.call_times.append(self.clock.now)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.block is not None:
                await self.block.wait()
            await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        if self.rate_limit_next:
            retry, self.rate_limit_next = self.rate_limit_next, 0.0
            raise PosterRateLimited(retry)
        self.texts.append(text)

    async def post(self, text: str) -> str:
        if self.fail_posts:
            self.fail_posts -= 1
            raise RuntimeError("channel_not_found")
        await self._call(text)
        ts = f"{len(self.messages) + 1}.000"
        self.messages[ts] = text
        return ts

    async def update(self, ts: str, text: str) -> None:
        if self.fail_updates:
            self.fail_updates -= 1
            self.call_times.append(self.clock.now)
            raise RuntimeError("message_not_found")
        await self._call(text)
        self.messages[ts] = text

    async def refresh(self, ts: str, render: Callable[[], str]) -> None:
        await self.update(ts, render())

    async def upload(self, path: Path, title: str) -> None:
        if self.upload_rate_limits:
            self.upload_rate_limits -= 1
            raise PosterRateLimited(3)
        self.uploads.append((title, await asyncio.to_thread(path.read_bytes)))

    @property
    def last_message(self) -> str:
        return self.messages[max(self.messages)]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def poster(clock: ManualClock) -> FakePoster:
    return FakePoster(clock)


def make_stream(
    poster: FakePoster, clock: ManualClock, tmp_path: Path, **kwargs: object
) -> ThreadStream:
    options: dict[str, object] = {"title": "Deploy tp-node3", "interval": 1.0}
    options.update(kwargs)
    return ThreadStream(
        poster,
        spool_path=tmp_path / "jobs" / "17.log",
        redactor=Redactor([SECRET]),
        clock=clock,
        sleep=clock.sleep,
        **options,  # type: ignore[arg-type]
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# --- the big one ----------------------------------------------------------------------------


async def test_200000_lines_bounded_rate_clean_and_complete(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    interval = 0.1
    stream = make_stream(poster, clock, tmp_path, interval=interval)
    started = clock.now
    written: list[str] = []
    for i in range(200_000):
        if i % 1000 == 0:
            line = f"\x1b[1;31mline {i}\x1b[0m pw={SECRET} token {TOKEN} <!channel>"
        else:
            line = f"line {i} building /nix/store/{i:032x}-system-path"
        written.append(line)
        await stream.write(line)
        clock.advance(10e-6)  # 200,000 lines over 2 simulated seconds
        if i % 200 == 0:
            await settle()
    await clock.drive(stream.close("tp-node3: generation 41 → 42, healthy"))
    duration = clock.now - started

    assert 5 <= len(poster.call_times) <= duration / interval + 2
    gaps = [b - a for a, b in zip(poster.call_times, poster.call_times[1:], strict=False)]
    assert min(gaps) >= interval - 1e-9
    assert poster.most_in_flight == 1
    assert all(len(text) <= MAX_TEXT for text in poster.texts)

    final = poster.last_message
    assert final.startswith("tp-node3: generation 41 → 42, healthy\n```\n")
    assert "line 199999 building" in final
    assert "earlier lines are in the attached log" in final
    assert stream.stats.final_delivered and stream.stats.uploaded

    expected = Redactor([SECRET]).redact("".join(strip_ansi(line) + "\n" for line in written))
    spool = stream.spool_path.read_bytes()
    assert spool == expected.encode()
    assert poster.uploads == [("Deploy tp-node3 log", spool)]
    assert stream.stats.bytes_written == len(spool)
    assert stream.stats.lines == 200_000
    for text in [*poster.texts, spool.decode()]:
        assert SECRET not in text and TOKEN not in text and "\x1b" not in text
    assert "[redacted:secret]" in spool.decode()
    assert "<!channel>" not in "".join(poster.texts)


# --- rate, changes, flight ------------------------------------------------------------------


async def test_first_line_is_posted_at_once_then_edits_wait_for_the_interval(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path, interval=1.0)
    await stream.write("one")
    await settle()
    assert poster.texts == ["Deploy tp-node3\n```\none\n```"]
    await stream.write("two")
    clock.advance(0.5)
    await settle()
    assert len(poster.texts) == 1
    clock.advance(0.5)
    await settle()
    assert poster.texts[-1] == "Deploy tp-node3\n```\none\ntwo\n```"
    await clock.drive(stream.close("done"))


async def test_nothing_is_sent_when_nothing_changed(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("only line")
    await settle()
    for _ in range(20):
        stream.set_title("Deploy tp-node3")  # the same title: nothing visible changed
        clock.advance(1.0)
        await settle()
    assert len(poster.texts) == 1
    stream.set_title("Deploy tp-node3: activating")
    clock.advance(1.0)
    await settle()
    assert poster.texts[-1].startswith("Deploy tp-node3: activating\n")
    await clock.drive(stream.close("done"))
    assert len(poster.texts) == 3


async def test_never_two_calls_in_flight_and_close_waits_for_the_one_running(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("first")
    await settle()
    poster.block = asyncio.Event()
    for i in range(10):
        await stream.write(f"more {i}")
        clock.advance(1.0)
        await settle()
    assert poster.in_flight == 1
    closing = asyncio.ensure_future(clock.drive(stream.close("done")))
    await settle()
    assert not closing.done()
    poster.block.set()
    await closing
    assert poster.most_in_flight == 1
    assert "done" in poster.last_message and "more 9" in poster.last_message


# --- failures -------------------------------------------------------------------------------


async def test_rate_limit_postpones_the_next_call_by_retry_after(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("one")
    await settle()
    poster.rate_limit_next = 5.0
    await stream.write("two")
    for _ in range(12):
        clock.advance(1.0)
        await settle()
    assert stream.stats.rate_limited == 1
    assert poster.call_times[2] - poster.call_times[1] >= 5.0
    assert poster.last_message.endswith("one\ntwo\n```")
    await clock.drive(stream.close("done"))


async def test_failed_edits_are_logged_and_the_stream_goes_on(
    poster: FakePoster, clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("one")
    await settle()
    poster.fail_updates = 1
    with caplog.at_level(logging.WARNING, logger="bot.stream"):
        await stream.write("two")
        clock.advance(1.0)
        await settle()
        await stream.write("three")
        clock.advance(1.0)
        await settle()
    assert stream.stats.failures == 1
    assert "updating the job's thread message failed" in caplog.text
    assert poster.last_message.endswith("one\ntwo\nthree\n```")
    await clock.drive(stream.close("done"))


async def test_final_state_survives_an_uneditable_message(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("building")
    await settle()
    poster.fail_updates = 1000  # e.g. the message was deleted
    await stream.write("activating")
    await clock.drive(stream.close("tp-node3: activation failed, rolled back to 41"))
    assert stream.stats.final_delivered
    assert len(poster.messages) == 2  # the result came as a new message
    assert poster.last_message.startswith("tp-node3: activation failed, rolled back to 41")
    assert "building\nactivating" in poster.last_message


async def test_final_post_is_retried_until_it_lands(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    poster.fail_posts = 4
    await clock.drive(stream.close("nothing to do"))
    assert stream.stats.final_delivered
    assert poster.last_message == "nothing to do"
    assert poster.uploads == []  # no output, no log file


async def test_upload_is_retried_after_a_rate_limit(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    poster.upload_rate_limits = 2
    await stream.write("x")
    await clock.drive(stream.close("done"))
    assert poster.uploads == [("Deploy tp-node3 log", b"x\n")]
    assert stream.stats.rate_limited == 2


async def test_the_log_keeps_its_name_when_the_heading_shows_progress(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("writing image")
    stream.set_title("Flash tp-node3: ▓▓▓▓░░░░ 52 %")
    await clock.drive(stream.close("done"))
    assert poster.last_message.startswith("done\n")
    assert any(t.startswith("Flash tp-node3: ▓▓▓▓░░░░ 52 %\n") for t in poster.texts)
    assert poster.uploads == [("Deploy tp-node3 log", b"writing image\n")]


# --- cleaning and bounds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[1;32mok\x1b[0m", "ok"),
        ("\x1b]0;window title\x07text", "text"),
        ("\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x1b[2Kb\x1b(Bc", "abc"),
        ("bell\x07 back\x08space\r", "bell backspace"),
        ("tab\tkept", "tab\tkept"),
    ],
)
def test_strip_ansi(raw: str, clean: str) -> None:
    assert strip_ansi(raw) == clean


async def test_output_cannot_mention_or_break_the_code_block(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("<!channel> & <@U0123> ``` done")
    await clock.drive(stream.close("ok"))
    assert "&lt;!channel&gt; &amp; &lt;@U0123&gt; ``\u200b` done" in poster.last_message
    assert stream.spool_path.read_text() == "<!channel> & <@U0123> ``` done\n"


async def test_long_lines_and_many_lines_stay_within_the_limit(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path, title="T" * 5000)
    for i in range(300):
        await stream.write(f"{i} " + "&" * (50 * i))
        clock.advance(0.3)
        await settle()
    await clock.drive(stream.close("F" * 5000))
    assert all(len(text) <= MAX_TEXT for text in poster.texts)
    assert poster.last_message.rstrip("`\n").endswith("…")


async def test_a_private_key_held_by_the_redactor_is_redacted_at_close(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    key_lines = ["-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU="]
    for line in ["reading key", *key_lines]:
        await stream.write(line)
    await clock.drive(stream.close("done"))
    assert "b3BlbnNzaC1rZXkt" not in "".join(poster.texts)
    assert "b3BlbnNzaC1rZXkt" not in stream.spool_path.read_text()
    assert "[redacted:private-key]" in poster.last_message


async def test_write_after_close_is_an_error(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await clock.drive(stream.close("done"))
    with pytest.raises(RuntimeError):
        await stream.write("late")


async def test_abort_stops_without_a_final_message(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("one")
    await settle()
    await stream.write("two")
    await stream.abort()
    clock.advance(10)
    await settle()
    assert len(poster.texts) == 1
    assert stream.spool_path.read_text() == "one\ntwo\n"


async def test_title_and_final_text_are_redacted(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path, title=f"login with {SECRET}")
    await stream.write("x")
    await clock.drive(stream.close(f"failed: token {TOKEN} refused"))
    assert poster.texts[0].startswith("login with [redacted:secret]\n")
    assert poster.last_message.startswith("failed: token [redacted:github-token] refused\n")


class TurnNeverComesPoster(FakePoster):
    """A chat whose budget never gives a live refresh its turn (the app's edits all spent)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.waiting_for_turn = asyncio.Event()

    async def refresh(self, ts: str, render: Callable[[], str]) -> None:
        self.waiting_for_turn.set()
        await asyncio.Event().wait()  # never granted; cancelled when the stream closes


async def test_close_does_not_wait_for_a_refresh_still_waiting_for_its_turn(
    clock: ManualClock, tmp_path: Path
) -> None:
    poster = TurnNeverComesPoster(clock)
    stream = make_stream(poster, clock, tmp_path)
    await stream.write("building")
    await settle()  # posted
    assert poster.messages
    await stream.write("still building")
    await clock.drive(poster.waiting_for_turn.wait(), limit=10)  # its refresh waits for a turn
    closing = clock.now
    await clock.drive(stream.close("done"), limit=60)
    assert stream.stats.final_delivered
    assert poster.call_times[-1] - closing <= 1.0  # the final did not wait for the refresh
    assert poster.last_message.startswith("done") and "still building" in poster.last_message


class FullDisk:
    """A spool file on a full file system: every write fails with ENOSPC."""

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_full_disk_stops_the_log_file_not_the_job_and_the_thread_says_so(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    stream._spool = FullDisk()  # type: ignore[assignment]  # the disk fills up mid-job
    for i in range(3):
        await stream.write(f"activating {i}")  # never raises: the job goes on
    await clock.drive(stream.close("tp-node3: generation 41 → 42, healthy"), limit=60)
    assert stream.spool_error == "No space left on device"
    assert "activating 2" in poster.last_message
    assert "The full log could not be saved: No space left on device." in poster.last_message
    assert poster.uploads == []  # no partial file passed off as the log


class RefusesLastBytes:
    """A spool that takes writes into its buffer, then cannot flush them at close (the disk
    filled meanwhile), as a buffered file does."""

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_log_cut_at_close_is_not_passed_off_as_attached(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path, tail_lines=5)
    stream._spool = RefusesLastBytes()  # type: ignore[assignment]
    for i in range(20):
        await stream.write(f"line {i}")
    await clock.drive(stream.close("done"), limit=60)
    assert "The full log could not be saved: No space left on device." in poster.last_message
    assert "15 earlier lines are not shown" in poster.last_message
    assert "attached log" not in poster.last_message and poster.uploads == []


async def test_a_long_final_text_is_shown_whole_and_the_tail_keeps_its_newest_lines(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    for i in range(40):
        await stream.write(f"{i:02d} " + "x" * 60)
    final = "Job 17 succeeded. " + "n" * 700 + " END OF NOTE"
    await clock.drive(stream.close(final))
    assert poster.last_message.startswith(final)  # not cut at the live title's 400
    assert len(poster.last_message) <= MAX_TEXT
    assert "39 " + "x" * 60 in poster.last_message  # the newest line
    assert "00 " + "x" * 60 not in poster.last_message  # the oldest gave way


class LateTurnPoster(FakePoster):
    """A chat whose budget gives a live refresh its turn late (0.9 s) one time, at once the next
    (the budget's queue changes with every other job's calls)."""

    late = False

    async def refresh(self, ts: str, render: Callable[[], str]) -> None:
        self.late = not self.late
        if self.late:
            await self.clock.sleep(0.9)
        self.call_times.append(self.clock.now)
        self.messages[ts] = render()


async def test_edits_of_a_message_are_a_full_interval_apart_even_when_turns_come_late(
    clock: ManualClock, tmp_path: Path
) -> None:
    poster = LateTurnPoster(clock)
    stream = make_stream(poster, clock, tmp_path)  # interval 1 s

    async def produce() -> None:
        for i in range(60):
            await stream.write(f"line {i}")
            await clock.sleep(0.1)

    await clock.drive(produce(), step=0.05)
    await clock.drive(stream.close("done"))  # the log upload reads the file in a thread
    gaps = [b - a for a, b in itertools.pairwise(poster.call_times)]
    assert len(gaps) >= 3 and min(gaps) >= 1.0 - 1e-9


async def test_a_board_is_replaced_in_place_and_kept_under_the_final_text(
    poster: FakePoster, clock: ManualClock, tmp_path: Path
) -> None:
    stream = make_stream(poster, clock, tmp_path)
    stream.set_board("tp-node1 building\ntp-node2 waiting")
    for i in range(40):
        await stream.write(f"{i:02d} " + "x" * 60)
    await clock.drive(settle())
    assert poster.last_message.startswith("Deploy tp-node3\ntp-node1 building\ntp-node2 waiting\n")
    stream.set_board(f"tp-node1 healthy\ntp-node2 healthy {SECRET}\n" + "r" * 2000)
    await clock.drive(stream.close("Job 17 succeeded."))
    final = poster.last_message
    assert final.startswith(
        "Job 17 succeeded.\ntp-node1 healthy\ntp-node2 healthy [redacted:secret]"
    )
    assert "building" not in final and SECRET not in final  # replaced, never appended
    assert "r" * 1300 in final and "r" * 1400 not in final  # the board is cut to its limit
    assert len(final) <= MAX_TEXT and "39 " + "x" * 60 in final  # the newest line stays
    assert poster.uploads[0][1].count(b"\n") == 40  # the board is not part of the log
