"""labbot in a process of its own, against a running `Lab`: for restarts with SIGKILL and for
measuring the bot's memory apart from the emulators.

The script is given the lab's config path, must print `ready` once connected, and should stop
cleanly on SIGTERM (tests/scenarios/bot_process.py and bench/bench_bot.py are two such scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from types import TracebackType

import psutil

from labsim.lab import Lab


class BotProcess:
    """One run of a bot script. Usage: `async with BotProcess(lab, script) as bot: bot.pid`."""

    def __init__(self, lab: Lab, script: Path) -> None:
        self._lab = lab
        self._script = script
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        """The bot's process id."""
        assert self._process is not None
        return self._process.pid

    async def start(self) -> None:
        """Start the script and wait until it says `ready` and Slack sees it connected."""
        assert self._lab.directory is not None
        with (self._lab.directory / "bot.log").open("ab") as log:  # the bot's own log lines
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(self._script),
                str(self._lab.config_path),
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=60)
        if line.strip() != b"ready":
            # The lab's directory (and bot.log with it) goes when the test ends: say why here.
            tail = (self._lab.directory / "bot.log").read_text(errors="replace").splitlines()
            raise RuntimeError(
                f"{self._script.name} did not start: {line!r}; the end of bot.log:\n"
                + "\n".join(tail[-30:])
            )
        await self._lab.slack.wait_connected()

    async def kill(self) -> None:
        """SIGKILL the bot and every process it started (colmena, ssh, sops), as systemd does
        with a service's whole control group (systemd.kill(5), the default
        `KillMode=control-group`) and Kubernetes with a container: no cleanup of any kind.
        Returns once Slack has seen the socket go."""
        assert self._process is not None
        live = self._lab.slack.live_connections
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(self._process.pid).children(recursive=True)
        self._process.kill()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        await self._process.wait()
        # Its own connection goes; other replicas' stay.
        await self._lab.slack.wait_for(lambda: self._lab.slack.live_connections < live, timeout=15)

    async def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s); nothing to do when it has already ended."""
        if self._process is None or self._process.returncode is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), timeout=15)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()

    async def __aenter__(self) -> BotProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
