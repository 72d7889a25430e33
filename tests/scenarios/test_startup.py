"""`labbot run` meeting a wrong or unreachable Slack: one sentence naming the token, or quiet
retries that SIGTERM or SIGINT ends at once. Run as the real command, in a process of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from labsim.lab import APP_TOKEN_ENV, BOT_TOKEN_ENV, Lab


async def labbot_run(lab: Lab, **environment: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "-c",
        str(lab.config_path),
        env={**os.environ, **environment},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def ended(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


async def test_a_wrong_app_token_ends_the_start_naming_it(lab: Lab) -> None:
    code, stderr = await ended(await labbot_run(lab, **{APP_TOKEN_ENV: "xapp-1-A0-not-ours"}))
    assert code == 1
    assert "labbot: slack.app_token was refused by Slack (invalid_auth)" in stderr
    assert "Traceback" not in stderr and "xapp-1-A0-not-ours" not in stderr
    assert not lab.slack.connected


async def test_a_wrong_bot_token_ends_the_start_naming_it(lab: Lab) -> None:
    code, stderr = await ended(await labbot_run(lab, **{BOT_TOKEN_ENV: "xoxb-1-not-ours"}))
    assert code == 1
    assert "labbot: slack.bot_token was refused by Slack (invalid_auth)" in stderr
    assert "labbot ready" not in stderr and "Traceback" not in stderr


async def test_tokens_swapped_are_named_before_asking_slack(lab: Lab) -> None:
    swapped = {BOT_TOKEN_ENV: lab.slack.app_token, APP_TOKEN_ENV: lab.slack.bot_token}
    code, stderr = await ended(await labbot_run(lab, **swapped))
    assert code == 1
    assert "slack.bot_token is an app-level token; it must be the xoxb-… token" in stderr
    assert "slack.app_token is a bot token; it must be the xapp-… token" in stderr
    assert [c for c in lab.slack.calls() if c.method == "auth.test"] == []


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_an_unreachable_slack_is_retried_quietly_and_a_signal_ends_it_at_once(
    stop_signal: signal.Signals,
) -> None:
    unreachable = {"slack": {"api_url": "http://127.0.0.1:9/api/"}}  # nothing listens on 9
    async with Lab(config_overrides=unreachable) as lab:
        process = await labbot_run(lab)
        assert process.stderr is not None
        retries = []
        while len(retries) < 2:  # two attempts, each one line
            line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
            assert line, "labbot ended while Slack was unreachable"
            if "Slack cannot be reached" in line:
                retries.append(line)
        signalled = time.monotonic()
        process.send_signal(stop_signal)  # systemd stops with SIGTERM, Ctrl-C sends SIGINT
        code, rest = await ended(process)
        took = time.monotonic() - signalled
        print(f"stopped {took:.2f} s after {stop_signal.name}")
        assert took < 2, took  # issue 19: "stops within 2 s on SIGTERM/SIGINT in every state"
        assert code == 0 and "Traceback" not in rest


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_a_connected_idle_labbot_stops_at_once_on_a_signal(
    lab: Lab, stop_signal: signal.Signals
) -> None:
    process = await labbot_run(lab)
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        assert line, "labbot ended before it was ready"
        if "labbot ready" in line:
            break
    await lab.slack.wait_connected()
    signalled = time.monotonic()
    process.send_signal(stop_signal)
    code, rest = await ended(process)
    took = time.monotonic() - signalled
    print(f"stopped {took:.2f} s after {stop_signal.name}")
    assert took < 2, took  # issue 19: "stops within 2 s on SIGTERM/SIGINT in every state"
    assert code == 0 and "Traceback" not in rest
    await lab.slack.wait_for(lambda: not lab.slack.connected or None, timeout=15)
