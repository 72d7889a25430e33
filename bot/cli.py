"""The `labbot` command line: `run`, `check-config`, `doctor` and `demo`.

Prints problems and exits non-zero; never prints a secret value.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config_file import check_config_text, load_config, unreadable_secrets
from bot.errors import ConfigError

log = logging.getLogger("labbot")


def _check_config(path: Path, secrets: bool = True) -> int:
    try:
        text = path.read_text()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    config, problems = check_config_text(text)
    if config is not None and secrets:
        problems += unreadable_secrets(config)
        if problems:
            config = None
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if config is None:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    nodes = ", ".join(n.name for n in config.inventory.nodes) or "none"
    print(f"{path}: OK ({len(config.inventory.nodes)} node(s): {nodes})")
    return 0


def _doctor(path: Path, as_json: bool) -> int:
    from bot import doctor

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"labbot: {exc}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    # The checklist is the whole output: the clients' log lines (a refused login, a retry) would
    # say again, out of order, what a finding already says. A handler on the root logger keeps
    # Python's last-resort stderr handler from printing warnings.
    logging.getLogger().addHandler(logging.NullHandler())
    findings = asyncio.run(doctor.Doctor(config).run())
    print(doctor.as_json(findings) if as_json else doctor.render(findings))
    return 0 if all(f.ok for f in findings) else 1


async def _run(path: Path) -> int:
    from bot.app import LabBot

    config = load_config(path)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    bot = LabBot(config)

    async def serve() -> None:
        async with bot:
            await bot.wait_stopped()

    serving = asyncio.create_task(serve())

    def stop() -> None:
        # Still starting (waiting for Slack, say): give up at once. Running: stop cleanly.
        if bot.ready.is_set():
            bot.request_stop()
        else:
            serving.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await serving
    except asyncio.CancelledError:
        log.info("stopped while starting")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `labbot` console script."""
    parser = argparse.ArgumentParser(
        prog="labbot", description="Slack chat-ops for a Turing Pi lab."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="connect to Slack and serve /lab")
    run.add_argument("-c", "--config", type=Path, default=Path("/etc/labbot/config.yaml"))
    check = sub.add_parser("check-config", help="validate a config file and list every problem")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--no-secrets",
        action="store_true",
        help="do not read the secrets it names (for a template checked off the target machine)",
    )
    sub.add_parser(
        "ssh-to-age",
        help="read OpenSSH public keys (ssh-keyscan output) on stdin, print their age recipients",
    )
    doctor = sub.add_parser(
        "doctor", help="check a real setup end to end: Slack, BMCs, nodes, colmena, nix, sops"
    )
    doctor.add_argument("-c", "--config", type=Path, default=Path("/etc/labbot/config.yaml"))
    doctor.add_argument("--json", action="store_true", help="the findings as JSON, for scripts")
    demo = sub.add_parser("demo", help="run the bot against the simulated lab, in this terminal")
    demo.add_argument("--keep", action="store_true", help="keep the lab's files after exit")
    args = parser.parse_args(argv)

    if args.command == "check-config":
        return _check_config(args.file, secrets=not args.no_secrets)
    if args.command == "run":
        try:
            return asyncio.run(_run(args.config))
        except ConfigError as exc:
            print(f"labbot: {exc}", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    if args.command == "doctor":
        return _doctor(args.config, as_json=args.json)
    if args.command == "ssh-to-age":
        from bot.integrations.age_keys import ssh_to_age_main

        return ssh_to_age_main(sys.stdin, sys.stdout, sys.stderr)
    if args.command == "demo":
        from labsim.demo import run_demo

        code: int = run_demo(keep=args.keep)
        return code
    return 2


if __name__ == "__main__":
    sys.exit(main())
