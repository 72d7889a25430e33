"""The live view of a job's output: one thread message showing the tail, plus the full log on disk.

Must not import Slack: it talks through a `ThreadPoster`, and every text it hands over is redacted.

Usage::

    stream = ThreadStream(poster, spool_path=state_dir / "jobs" / "17.log", redactor=redactor,
                          title="Deploy tp-node3", interval=config.jobs.stream_interval_seconds)
    await stream.write("building...")             # cleaned, redacted, spooled, shown within 1 s
    stream.set_board("`tp-node3` activating")      # under the title, replaced in place
    await stream.close("tp-node3: generation 41 → 42, healthy")   # final message + log upload

Each line is cleaned (ANSI escapes and control characters removed), redacted, appended to the
spool file, and kept in a bounded tail. A background flusher posts the message once and then edits
it at most once per `interval`, only when the tail changed, with never two calls in flight. Edits
are live refreshes: the poster's shared budget decides when, and the text is rendered then. Rate
limits (`PosterRateLimited`) postpone the next call by their Retry-After; other poster errors are
logged and the stream goes on. `close` delivers the final text even when edits keep failing (it
falls back to a new message), then uploads the spool. Texts are Slack mrkdwn: output lines are
escaped (&, <, >) so they cannot mention anyone, and every text is at most `MAX_TEXT` characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.output_tail import OutputTail, strip_ansi
from bot.redact import Redactor

log = logging.getLogger(__name__)

MAX_TEXT = 3000
"""The longest text handed to the poster: a section block's text limit."""

_TITLE_CHARS = 400  # the title is cut to this; the tail gets the rest of MAX_TEXT
# A board (one line per node of a deploy, say) is cut to this; the tail gives way to it.
_BOARD_CHARS = 1400
# The final text (the verdict, and notes such as a record not yet written) is cut to this; the
# tail then gives up its oldest lines to fit.
_FINAL_CHARS = 1200
_FINAL_UPDATE_TRIES = 3  # failed edits of the final text before it is posted as a new message
_UPLOAD_TRIES = 5


class PosterRateLimited(Exception):
    """Raised by a `ThreadPoster` when Slack answered 429; the stream waits `retry_after` s."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Slack rate limit hit; retry after {retry_after:g} s.")
        self.retry_after = max(0.0, retry_after)


class ThreadPoster(Protocol):
    """Speaks in one Slack thread; the Slack edge implements it, tests fake it."""

    async def post(self, text: str) -> str:
        """Post `text` as a new reply in the thread; return the new message's ts."""
        ...

    async def update(self, ts: str, text: str) -> None:
        """Replace the text of message `ts` (a final state: it goes before any live refresh)."""
        ...

    async def refresh(self, ts: str, render: Callable[[], str]) -> None:
        """Replace the text of live message `ts` with `render()` when the chat's shared budget
        gives it a turn (fairly, after every other call)."""
        ...

    async def upload(self, path: Path, title: str) -> None:
        """Upload the file at `path` into the thread."""
        ...


@dataclass
class StreamStats:
    """Counters for tests and benchmarks."""

    lines: int = 0
    bytes_written: int = 0
    posts: int = 0
    updates: int = 0
    failures: int = 0
    rate_limited: int = 0
    final_delivered: bool = False
    uploaded: bool = False

    @property
    def calls(self) -> int:
        """Calls that post or edit a message (attempts, successful or not)."""
        return self.posts + self.updates


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ThreadStream:
    """A job's output as one live thread message and a spooled log file, in bounded memory.

    Example: `stream = ThreadStream(poster, spool_path=p, redactor=r, title="Deploy tp-node3")`,
    then `await stream.write(line)` per output line and `await stream.close(verdict)` once.
    `title` and the final text are labbot's own mrkdwn: redacted and cut to 400 characters, but
    not escaped. `close` may take up to `final_timeout` seconds while Slack refuses the result.
    """

    def __init__(
        self,
        poster: ThreadPoster,
        *,
        spool_path: Path,
        redactor: Redactor,
        title: str = "",
        interval: float = 1.0,
        tail_lines: int = 40,
        tail_chars: int = 2500,
        line_chars: int = 400,
        final_timeout: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if tail_chars + _TITLE_CHARS + 100 > MAX_TEXT:
            raise ValueError(f"tail_chars must leave room for the title within {MAX_TEXT}")
        self.stats = StreamStats()
        self._poster = poster
        self._redactor = redactor
        self._title = self._heading(title)
        self._board = ""
        self._log_title = f"{self._title} log" if self._title else spool_path.name
        self._interval = interval
        self._final_timeout = final_timeout
        self._clock = clock
        self._sleep = sleep
        self._redact = redactor.stream()
        self._tail = OutputTail(tail_lines, tail_chars, min(line_chars, tail_chars))
        self._spool_path = spool_path
        spool_path.parent.mkdir(parents=True, exist_ok=True)
        self._spool = spool_path.open("wb")
        self.spool_error: str | None = None  # why the log file stopped being written
        self._ts: str | None = None
        self._next_at = clock()  # the earliest time of the next post or edit
        self._last_sent = ""
        self._changed = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._sending = False  # a post or edit is on its way to the chat (not merely waiting)
        self._stopping = False
        self._closed = False

    @property
    def ts(self) -> str | None:
        """The ts of the thread message, once posted."""
        return self._ts

    @property
    def spool_path(self) -> Path:
        """The full (cleaned, redacted) log on disk."""
        return self._spool_path

    def set_title(self, title: str) -> None:
        """Change the line above the tail (for example the job's phase); the log keeps the
        first title as its name."""
        self._title = self._heading(title)
        self._changed.set()

    def set_board(self, board: str) -> None:
        """Show `board` (labbot's own mrkdwn, a few lines such as one per node) under the
        title, in the live message and in the final one: it is replaced in place, unlike
        output lines, which scroll by. Redacted, cut to 1,400 characters; "" removes it."""
        self._board = _cut(self._redactor.redact(board), _BOARD_CHARS)
        self._changed.set()

    async def write(self, line: str) -> None:
        """Append one line of output (without its newline)."""
        if self._closed:
            raise RuntimeError("write() after close()")
        self.stats.lines += 1
        self._emit(self._redact.feed(strip_ansi(line) + "\n"))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="thread stream flusher")

    async def close(self, final_text: str) -> None:
        """Show `final_text` with the last lines (never dropped), then upload the log file."""
        if self._closed:
            return
        self._closed = True
        self._emit(self._redact.flush())
        self._tail.finish()
        await self._stop_flusher()
        try:
            self._spool.close()
        except OSError as exc:  # a full disk refusing the last buffered bytes
            self._spool_failed(exc)
        heading = _cut(self._redactor.redact(final_text), _FINAL_CHARS)
        if self.spool_error is not None:
            heading += f"\n(The full log could not be saved: {self.spool_error}.)"
        await self._deliver_final(self._render(heading))
        if self.stats.bytes_written and self.spool_error is None:
            await self._upload()

    async def abort(self) -> None:
        """Stop without a final message or upload (shutdown); the spool file stays on disk."""
        if self._closed:
            return
        self._closed = True
        self._emit(self._redact.flush())
        await self._stop_flusher()
        with contextlib.suppress(OSError):
            self._spool.close()

    def _heading(self, text: str) -> str:
        return _cut(self._redactor.redact(text), _TITLE_CHARS)

    def _emit(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8")
        if self.spool_error is None:
            try:
                self._spool.write(data)
            except OSError as exc:
                # The log file is a convenience; the job (colmena mid-activation, say) must not
                # die of a full state directory. The thread keeps the tail and says so.
                self._spool_failed(exc)
        self.stats.bytes_written += len(data)
        if self._tail.add(text):
            self._changed.set()

    def _spool_failed(self, error: OSError) -> None:
        if self.spool_error is None:
            self.spool_error = error.strerror or type(error).__name__
            log.error("writing the job log %s failed: %s", self._spool_path, self.spool_error)
        self._tail.log_kept = False

    def _render(self, heading: str) -> str:
        if self._board:
            heading = f"{heading}\n{self._board}" if heading else self._board
        tail = self._tail.render()
        if not tail:
            return heading or "(no output)"
        room = MAX_TEXT - len(heading) - 10  # the heading, the fence and its newlines
        if len(tail) > room:  # a long final text: the oldest shown lines give way, whole
            start = tail.find("\n", len(tail) - room + 1)
            tail = "…" + (tail[start:] if start != -1 else tail[len(tail) - room + 1 :])
        text = f"{heading}\n```\n{tail}\n```" if heading else f"```\n{tail}\n```"
        return text if len(text) <= MAX_TEXT else _cut(text, MAX_TEXT - 4) + "\n```"

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await self._changed.wait()
            delay = self._next_at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            self._changed.clear()
            await self._send_live()

    async def _send_live(self) -> None:
        text = self._render(self._title)
        if text == self._last_sent:
            return
        try:
            self._next_at = max(self._next_at, self._clock() + self._interval)
            if self._ts is None:
                self._sending = True
                await self._send(text)  # the first post
            else:
                self.stats.updates += 1
                text = await self._refresh(self._ts)
            self._last_sent = text
        except PosterRateLimited as exc:
            self.stats.rate_limited += 1
            self._next_at = max(self._next_at, self._clock() + exc.retry_after)
            self._changed.set()
        except Exception:
            # The poster is outside code: a failed edit must not end the job's stream.
            self.stats.failures += 1
            log.warning("updating the job's thread message failed", exc_info=True)
        finally:
            self._sending = False

    async def _refresh(self, ts: str) -> str:
        """Edit the live message when its turn comes, with the tail as it is then."""
        sent = ""

        def render() -> str:  # called when the turn has come, just before the edit is sent
            nonlocal sent
            self._sending = True
            # The interval counts from the edit itself: a turn that came late must not let the
            # next edit follow it at once.
            self._next_at = max(self._next_at, self._clock() + self._interval)
            sent = self._render(self._title)
            return sent

        await self._poster.refresh(ts, render)
        return sent

    async def _send(self, text: str) -> None:
        self._next_at = max(self._next_at, self._clock() + self._interval)
        if self._ts is None:
            self.stats.posts += 1
            self._ts = await self._poster.post(text)
        else:
            self.stats.updates += 1
            await self._poster.update(self._ts, text)

    async def _stop_flusher(self) -> None:
        flusher, self._flusher = self._flusher, None
        self._stopping = True
        if flusher is None:
            return
        if not self._sending:
            # It waits for a change, the interval or its turn in the chat's budget: nothing is
            # half done, and the final text goes out without waiting for a refresh's turn.
            flusher.cancel()
        # else: the call in flight finishes, then the loop sees `_stopping` and ends.
        with contextlib.suppress(asyncio.CancelledError):
            await flusher

    async def _deliver_final(self, text: str) -> None:
        deadline = self._clock() + self._final_timeout
        backoff = 1.0
        failed_edits = 0
        while True:
            delay = self._next_at - self._clock()
            if delay > 0:
                await self._sleep(delay)
            try:
                await self._send(text)
            except PosterRateLimited as exc:
                self.stats.rate_limited += 1
                self._next_at = self._clock() + exc.retry_after
            except Exception:
                self.stats.failures += 1
                log.warning("delivering the job's final message failed", exc_info=True)
                if self._ts is not None:
                    failed_edits += 1
                    if failed_edits >= _FINAL_UPDATE_TRIES:
                        self._ts = None  # the message cannot be edited: post the result anew
                self._next_at = self._clock() + backoff
                backoff = min(backoff * 2, 30.0)
            else:
                self.stats.final_delivered = True
                return
            if self._clock() >= deadline:
                log.error("gave up delivering the job's final message to Slack")
                return

    async def _upload(self) -> None:
        for _ in range(_UPLOAD_TRIES):
            try:
                await self._poster.upload(self._spool_path, self._log_title)
            except PosterRateLimited as exc:
                self.stats.rate_limited += 1
                await self._sleep(exc.retry_after)
            except Exception:
                self.stats.failures += 1
                log.warning("uploading the job's log failed", exc_info=True)
                return
            else:
                self.stats.uploaded = True
                return
