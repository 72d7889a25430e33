"""Tests for bot/integrations/process.py: streaming, exit codes, timeouts, cancel, env, limits."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.integrations.process import (
    MAX_LINE_BYTES,
    LineSplitter,
    ProcessError,
    ProcessResult,
    Stream,
    run_process,
)

PY = sys.executable


class Lines:
    """Collects (stream, line) pairs and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.items: list[tuple[Stream, str]] = []
        self.changed = asyncio.Event()

    def __call__(self, stream: Stream, line: str) -> None:
        self.items.append((stream, line))
        self.changed.set()

    def of(self, stream: Stream) -> list[str]:
        return [line for s, line in self.items if s is stream]

    async def wait_for_count(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.items) < count:
                self.changed.clear()
                await self.changed.wait()


def script(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def run(argv: list[str], lines: Lines, **kwargs: object) -> ProcessResult:
    options: dict[str, object] = {"env": {}, "cwd": None, "timeout": 20.0}
    options.update(kwargs)
    return await run_process(argv, on_line=lines, **options)  # type: ignore[arg-type]


# --- streaming ------------------------------------------------------------------------------


async def test_lines_from_both_streams_arrive_in_order() -> None:
    lines = Lines()
    result = await run(
        script("""
            import sys
            for i in range(500):
                print(f"out {i}", flush=True)
                print(f"err {i}", file=sys.stderr, flush=True)
        """),
        lines,
    )
    assert result == ProcessResult(0, False, False, result.duration)
    assert result.ok
    assert lines.of(Stream.stdout) == [f"out {i}" for i in range(500)]
    assert lines.of(Stream.stderr) == [f"err {i}" for i in range(500)]


async def test_line_endings_and_bad_utf8() -> None:
    lines = Lines()
    await run(
        script(r"""
            import sys
            sys.stdout.buffer.write(b"crlf\r\nprogress 1\rprogress 2\nbad \xff\xfe!\nno newline")
        """),
        lines,
    )
    assert lines.of(Stream.stdout) == [
        "crlf",
        "progress 1",
        "progress 2",
        "bad \ufffd\ufffd!",
        "no newline",
    ]


async def test_long_line_is_split_into_pieces() -> None:
    lines = Lines()
    size = 3 * MAX_LINE_BYTES + 100
    await run(script(f"import sys; sys.stdout.write('x' * {size} + '\\nshort\\n')"), lines)
    out = lines.of(Stream.stdout)
    assert [len(piece) for piece in out] == [MAX_LINE_BYTES] * 3 + [100, 5]


async def test_async_callbacks_never_overlap() -> None:
    active = 0
    most = 0
    count = 0

    async def on_line(stream: Stream, line: str) -> None:
        nonlocal active, most, count
        active += 1
        most = max(most, active)
        await asyncio.sleep(0)
        count += 1
        active -= 1

    code = "import sys\nfor i in range(300): print(i); print(i, file=sys.stderr)"
    result = await run_process(script(code), env={}, cwd=None, timeout=20, on_line=on_line)
    assert result.ok
    assert count == 600
    assert most == 1


async def test_200000_lines_stream_before_the_process_exits(tmp_path: Path) -> None:
    # The child only exits after the runner has handed every line over, so nothing may wait
    # for the end of the process (and nothing is kept: the callback only counts).
    marker = tmp_path / "all-lines-seen"
    count = 0
    total_chars = 0

    def on_line(stream: Stream, line: str) -> None:
        nonlocal count, total_chars
        count += 1
        total_chars += len(line)
        if count == 200_000:
            marker.touch()

    code = f"""
        import os, sys, time
        out = sys.stdout
        for i in range(200_000):
            out.write(f"line {{i}} of the build output\\n")
        out.flush()
        while not os.path.exists({str(marker)!r}):
            time.sleep(0.01)
    """
    result = await run_process(script(code), env={}, cwd=None, timeout=60, on_line=on_line)
    assert result.ok
    assert count == 200_000
    assert total_chars > 5_000_000


# --- exit, timeout, cancel ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        ("pass", 0),
        ("import sys; sys.exit(3)", 3),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9),
    ],
)
async def test_exit_codes(code: str, exit_code: int) -> None:
    result = await run(script(code), Lines())
    assert result.exit_code == exit_code
    assert result.ok is (exit_code == 0)
    assert not result.timed_out and not result.cancelled


async def test_timeout_terminates_the_process() -> None:
    lines = Lines()
    result = await run(
        script("import time; print('started', flush=True); time.sleep(60)"), lines, timeout=0.5
    )
    assert result.timed_out and not result.cancelled
    assert result.exit_code == -15  # SIGTERM was enough; no SIGKILL needed
    assert result.duration < 5
    assert lines.of(Stream.stdout) == ["started"]


async def test_cancel_kills_the_tree_even_when_sigterm_is_ignored() -> None:
    lines = Lines()
    cancel = asyncio.Event()
    argv = ["sh", "-c", 'trap "" TERM; sleep 1000 & echo "$!"; echo "$$"; wait']

    async def cancel_when_pids_seen() -> None:
        await lines.wait_for_count(2)
        cancel.set()

    helper = asyncio.create_task(cancel_when_pids_seen())
    result = await run(argv, lines, cancel=cancel, kill_grace=0.3, env={"PATH": os.defpath})
    await helper
    pids = [int(line) for line in lines.of(Stream.stdout)]
    assert len(pids) == 2
    assert result.cancelled and not result.timed_out
    assert result.exit_code == -9  # the shell ignored SIGTERM, so it was killed
    assert all(gone(pid) for pid in pids)


async def test_cancel_before_start_ends_at_once() -> None:
    cancel = asyncio.Event()
    cancel.set()
    result = await run(script("import time; time.sleep(60)"), Lines(), cancel=cancel)
    assert result.cancelled
    assert result.duration < 5


async def test_leftover_background_process_is_ended() -> None:
    lines = Lines()
    argv = ["sh", "-c", 'sleep 1000 >/dev/null 2>&1 & echo "$!"']
    result = await run(argv, lines, kill_grace=0.3, env={"PATH": os.defpath})
    assert result.exit_code == 0
    (pid,) = [int(line) for line in lines.of(Stream.stdout)]
    assert gone(pid)


async def test_cancelling_the_caller_kills_the_group() -> None:
    lines = Lines()
    argv = ["sh", "-c", 'trap "" TERM; sleep 1000 & echo "$!"; wait']
    task = asyncio.create_task(run(argv, lines, env={"PATH": os.defpath}))
    await lines.wait_for_count(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (pid,) = [int(line) for line in lines.of(Stream.stdout)]
    assert gone(pid)


async def test_callback_error_propagates_and_kills_the_process() -> None:
    seen: list[int] = []

    def on_line(stream: Stream, line: str) -> None:
        seen.append(int(line))
        raise RuntimeError("consumer broke")

    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    with pytest.raises(RuntimeError, match="consumer broke"):
        await run_process(script(code), env={}, cwd=None, timeout=20, on_line=on_line)
    assert gone(seen[0])


# --- arguments and environment --------------------------------------------------------------


async def test_environment_is_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABBOT_SHOULD_NOT_LEAK", "1")
    lines = Lines()
    await run(
        script("import json, os; print(json.dumps(dict(os.environ)))"), lines, env={"ONLY": "me"}
    )
    child_env = json.loads(lines.of(Stream.stdout)[0])
    assert child_env.get("ONLY") == "me"
    assert "LABBOT_SHOULD_NOT_LEAK" not in child_env
    assert "PATH" not in child_env


async def test_cwd_is_used(tmp_path: Path) -> None:
    lines = Lines()
    await run(script("import os; print(os.getcwd())"), lines, cwd=str(tmp_path))
    assert lines.of(Stream.stdout) == [str(tmp_path)]


@pytest.mark.parametrize("argv", ["colmena apply", b"colmena apply"])
async def test_string_argv_is_refused(argv: str) -> None:
    with pytest.raises(TypeError, match="not a string"):
        await run_process(argv, env={}, cwd=None, timeout=1, on_line=Lines())


async def test_non_string_argument_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        await run_process(["echo", 3], env={}, cwd=None, timeout=1, on_line=Lines())  # type: ignore[list-item]


async def test_missing_program_is_a_process_error() -> None:
    with pytest.raises(ProcessError) as caught:
        await run_process(["no-such-program-xyz"], env={}, cwd=None, timeout=1, on_line=Lines())
    assert str(caught.value) == "Cannot run no-such-program-xyz: the program was not found."


async def test_missing_cwd_is_a_process_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(ProcessError, match=r"working directory .* is not usable"):
        await run_process([PY, "-c", "pass"], env={}, cwd=missing, timeout=1, on_line=Lines())


# --- the line splitter ----------------------------------------------------------------------


def split_all(splitter: LineSplitter, chunks: list[bytes]) -> list[str]:
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.finish()


def test_crlf_split_across_reads_is_one_line_end() -> None:
    assert split_all(LineSplitter(), [b"a\r", b"\nb\r", b"c"]) == ["a", "b", "c"]
    assert split_all(LineSplitter(), [b"a\r"]) == ["a"]
    assert split_all(LineSplitter(), [b"\n\n"]) == ["", ""]


def test_multibyte_character_split_across_reads() -> None:
    data = "grüße → ✓\n".encode()
    assert split_all(LineSplitter(), [data[:3], data[3:9], data[9:]]) == ["grüße → ✓"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\xc3\xa9", b"\xe2\x9c\x93", b"\r", b"\n", b"\xff", b"xyz"])),
    st.lists(st.integers(0, 400), max_size=10),
)
def test_lines_do_not_depend_on_how_reads_split(pieces: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pieces)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    whole = split_all(LineSplitter(max_line_bytes=8), [data])
    assert split_all(LineSplitter(max_line_bytes=8), chunks) == whole
    assert all(len(line) <= 8 + 1 for line in whole)  # +1: a character cut by a piece
