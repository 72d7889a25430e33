"""Runs labbot with the exercise commands as a separate process, so tests can SIGKILL it.

Usage: python bot_process.py CONFIG.yaml
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from exercise import EXERCISE_CAPABILITIES

from bot.app import LabBot
from bot.config_file import load_config


async def main(path: Path) -> None:
    logging.basicConfig(level=logging.INFO)
    async with LabBot(load_config(path), EXERCISE_CAPABILITIES) as bot:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, bot.request_stop)
        print("ready", flush=True)
        await bot.wait_stopped()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
