"""Subprocess runner: argv lists in their own process group, output streamed line by line.

Must not take shell strings, inherit the bot's environment, or hold a process's whole output.

Usage::

    result = await run_process(
        ["colmena", "apply", "--on", "tp-node3"], env={"PATH": path}, cwd=None,
        timeout=1800, on_line=stream_line, cancel=job.cancelled,
    )
    if not result.ok: ...

Lines end at "\\n", "\\r\\n" or a lone "\\r" (a progress bar's redraw becomes its own line); the
terminator is not passed on. A line longer than `MAX_LINE_BYTES` is passed on in pieces of that
size. Bytes are decoded as UTF-8, invalid sequences become U+FFFD. `on_line` calls never overlap,
and while one runs the pipes are not read, so a slow consumer slows the process down instead of
filling memory.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import inspect
import os
import re
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.errors import IntegrationError

MAX_LINE_BYTES = 64 * 1024
"""A line longer than this is delivered in pieces of this many bytes."""

_LINES_PER_TURN = 50
_READ_SIZE = 64 * 1024
_POLL = 0.02  # seconds between checks that a signalled process group is gone
_DRAIN = 2.0  # seconds to wait for the pipes to close once the group is dead
_KILL_WAIT = 2.0  # seconds to wait for SIGKILLed processes to disappear
_LINE_END = re.compile(rb"\r\n|\r|\n")


class Stream(StrEnum):
    """Which pipe a line came from."""

    stdout = "stdout"
    stderr = "stderr"


LineCallback = Callable[[Stream, str], Awaitable[None] | None]


@dataclass(frozen=True)
class ProcessResult:
    """How a process ended: its exit code (negative: killed by that signal) and why it stopped."""

    exit_code: int
    timed_out: bool
    cancelled: bool
    duration: float

    @property
    def ok(self) -> bool:
        """Whether the process ran to the end by itself and exited 0."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


class ProcessError(IntegrationError):
    """Raised when a process cannot start: no such program, not executable, or a bad cwd."""

    def __init__(self, program: str, reason: str) -> None:
        super().__init__(f"Cannot run {program}: {reason}.")
        self.program = program
        self.reason = reason


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path | None,
    timeout: float,
    on_line: LineCallback,
    cancel: asyncio.Event | None = None,
    kill_grace: float = 5.0,
) -> ProcessResult:
    """Run `argv` with exactly `env`, calling `on_line` for each output line as it arrives.

    On timeout or when `cancel` is set, the whole process group gets SIGTERM, then SIGKILL after
    `kill_grace` seconds. The group never outlives this call: processes left in it after the
    program exits are ended the same way, and a cancelled caller gets the group SIGKILLed.
    Raises `ProcessError` when the program cannot be started; an exception from `on_line` kills
    the group and propagates.
    """
    args = _checked_argv(argv)
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = await _spawn(args, env, cwd)
    deliver = _Delivery(on_line)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        asyncio.create_task(_pump(proc.stdout, Stream.stdout, deliver), name=f"{args[0]} stdout"),
        asyncio.create_task(_pump(proc.stderr, Stream.stderr, deliver), name=f"{args[0]} stderr"),
    ]
    finished = asyncio.create_task(_finish(proc, pumps), name=f"{args[0]} finish")
    cancelled = asyncio.create_task(_wait_event(cancel), name=f"{args[0]} cancel")
    timed_out = was_cancelled = False
    try:
        done, _ = await asyncio.wait(
            {finished, cancelled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if finished not in done:
            was_cancelled = cancelled in done
            timed_out = not was_cancelled
            await _terminate_group(proc.pid, kill_grace)
            await _settle(proc, pumps)
        else:
            finished.result()  # re-raises what `on_line` raised
            if _group_alive(proc.pid):
                # The leader exited, but something it started is still in its group: end it.
                await _terminate_group(proc.pid, kill_grace)
    except BaseException:
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(BaseException):
            await _kill_group(proc.pid)
            await _settle(proc, pumps)
        raise
    finally:
        for task in (finished, cancelled):
            task.cancel()
        await asyncio.gather(finished, cancelled, return_exceptions=True)
    returncode = proc.returncode
    assert returncode is not None
    return ProcessResult(
        exit_code=returncode,
        timed_out=timed_out,
        cancelled=was_cancelled,
        duration=loop.time() - started,
    )


def _checked_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a list of arguments, not a string; labbot never uses a shell")
    args = list(argv)
    if not args:
        raise ValueError("argv is empty")
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"every argv item must be a str, not {type(arg).__name__}")
    return args


async def _spawn(
    args: list[str], env: Mapping[str, str], cwd: str | Path | None
) -> asyncio.subprocess.Process:
    program = args[0]
    try:
        return await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        if cwd is not None and exc.filename is not None and str(exc.filename) == str(cwd):
            reason = f"working directory {cwd} is not usable ({exc.strerror})"
        elif isinstance(exc, FileNotFoundError):
            reason = "the program was not found"
        else:
            reason = f"it could not be started ({exc.strerror})"
        raise ProcessError(program, reason) from None


class _Delivery:
    """Calls the line callback, one call at a time, awaiting it when it is a coroutine."""

    def __init__(self, on_line: LineCallback) -> None:
        self._on_line = on_line
        self._lock = asyncio.Lock()

    async def __call__(self, stream: Stream, line: str) -> None:
        async with self._lock:
            result = self._on_line(stream, line)
            if inspect.isawaitable(result):
                await result


async def _pump(reader: asyncio.StreamReader, stream: Stream, deliver: _Delivery) -> None:
    lines = LineSplitter()
    while data := await reader.read(_READ_SIZE):
        for count, line in enumerate(lines.feed(data), start=1):
            await deliver(stream, line)
            if count % _LINES_PER_TURN == 0:
                # A full read buffer is hundreds of lines handled without a suspension point;
                # yield so that Slack acks and other jobs are not held up behind them.
                await asyncio.sleep(0)
    for line in lines.finish():
        await deliver(stream, line)


async def _finish(proc: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> None:
    await asyncio.gather(*pumps)
    await proc.wait()


async def _wait_event(event: asyncio.Event | None) -> None:
    if event is None:
        await asyncio.get_running_loop().create_future()  # never done; cancelled on the way out
    else:
        await event.wait()


async def _settle(proc: asyncio.subprocess.Process, pumps: list[asyncio.Task[None]]) -> None:
    """Reap the leader and let the readers drain; readers held open by strays are cancelled."""
    await proc.wait()
    _, pending = await asyncio.wait(pumps, timeout=_DRAIN)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to `grace` seconds for it to be gone, then SIGKILL it."""
    _signal_group(pgid, signal.SIGTERM)
    if not await _wait_group_gone(pgid, grace):
        await _kill_group(pgid)


async def _kill_group(pgid: int) -> None:
    """SIGKILL the group and wait (briefly) until the kernel has removed every member."""
    _signal_group(pgid, signal.SIGKILL)
    await _wait_group_gone(pgid, _KILL_WAIT)


async def _wait_group_gone(pgid: int, within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    # No event tells us when a grandchild exits, so poll the group.
    while _group_alive(pgid):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL)
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return True
    # killpg also succeeds for zombies nobody has reaped yet; only count processes still running.
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


class LineSplitter:
    """Turns a byte stream into text lines; see the module docstring for the rules."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._pending = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> list[str]:
        """Take the next bytes; return the lines (and pieces of long lines) they complete."""
        buf = self._pending + data
        lines: list[str] = []
        start = 0
        for end in _LINE_END.finditer(buf):
            if end.end() == len(buf) and end.group() == b"\r":
                break  # may be the first half of "\r\n": wait for the next byte
            start = self._cut_pieces(buf, start, end.start(), lines)
            lines.append(self._decoder.decode(buf[start : end.start()], final=True))
            start = end.end()
        body_end = len(buf) - (1 if buf.endswith(b"\r") else 0)
        start = self._cut_pieces(buf, start, body_end, lines)
        self._pending = buf[start:]
        return lines

    def _cut_pieces(self, buf: bytes, start: int, end: int, lines: list[str]) -> int:
        """Emit full pieces of an over-long line while more than one piece is left."""
        while end - start > self._max:
            lines.append(self._decoder.decode(buf[start : start + self._max]))
            start += self._max
        return start

    def finish(self) -> list[str]:
        """End of stream: return the unterminated last line, if any."""
        buf = self._pending
        held_cr = buf.endswith(b"\r")
        rest = self._decoder.decode(buf[:-1] if held_cr else buf, final=True)
        self._pending = b""
        return [rest] if rest or held_cr else []
