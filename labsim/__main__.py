"""`python -m labsim`: start the whole simulated lab, write a labbot config for it, wait for Ctrl-C.

Then, in another terminal: `labbot run -c <the printed config path>` (with the printed env).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from labsim.lab import APP_TOKEN_ENV, BMC_PASSWORD_ENV, BOT_TOKEN_ENV, GITHUB_TOKEN_ENV, Lab


async def serve(directory: Path | None) -> None:
    """Run the lab until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Lab(directory=directory, full=True) as lab:
        print(f"labsim is running; config: {lab.config_path}")
        for name in (BOT_TOKEN_ENV, APP_TOKEN_ENV, BMC_PASSWORD_ENV, GITHUB_TOKEN_ENV):
            print(f"export {name}={os.environ[name]}")
        print("Ctrl-C stops it.", flush=True)
        await stop.wait()
    print("labsim stopped; nothing is left running.")


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m labsim", description=__doc__)
    parser.add_argument("--dir", type=Path, help="keep the lab's files here (default: a temp dir)")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
