"""`/lab logs NODE [UNIT] [--lines N] [--since 1h] [--grep TEXT]`: a node's journal, read-only.

1. Check the arguments: the unit name by systemd's unit-name characters, `--lines` at most
   `MAX_LINES`, `--since` a relative time, `--grep` any text (it reaches journalctl as one argv
   element, never a shell string).
2. Run `journalctl` over SSH as the deploy user (members of `systemd-journal` or `wheel` may read
   the whole journal; the deploy user is in `wheel`).
3. Redact (the chat does) and answer: inline when short, else the last lines inline and the whole
   output as a file in a thread of its own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bot.command_spec import Command
from bot.config import is_unit_name
from bot.context import HandlerContext
from bot.errors import IntegrationError
from bot.integrations.ssh import SshPool, SshTarget
from bot.outcome import Outcome, Reply
from bot.targets import named_node
from handlers.status import messages

DEFAULT_LINES = 50
MAX_LINES = 2000
INLINE_LINES = 40
INLINE_CHARS = 2500
SINCE_PATTERN = r"[0-9]{1,5}(s|min|m|h|d)"
"""`--since` as `30min`, `2h`, `3d`: passed on as journalctl's relative `-2h` (systemd.time(7))."""


def journal_argv(unit: str | None, lines: int, since: str | None, grep: str | None) -> list[str]:
    """journalctl's argv: every value one element, never through a shell."""
    argv = ["journalctl", "--no-pager", "-o", "short-iso", f"--lines={lines}"]
    if unit is not None:
        argv.append(f"--unit={unit}")
    if since is not None:
        argv.append(f"--since=-{since}")
    if grep is not None:
        argv.append(f"--grep={grep}")
    return argv


async def logs_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Read the node's journal and show it (see the module docstring)."""
    config = ctx.config
    node = named_node(str(command.arg("node")), config.inventory.nodes)
    unit = command.arg("unit")
    lines = command.arg("lines")
    since = command.arg("since")
    grep = command.arg("grep")
    if isinstance(unit, str) and not is_unit_name(unit):
        return Reply(messages.logs_bad_unit(unit))
    count = lines if isinstance(lines, int) else DEFAULT_LINES
    if not 1 <= count <= MAX_LINES:
        return Reply(messages.logs_too_many_lines(count, MAX_LINES))
    if config.ssh is None:
        return Reply(messages.digest_ssh_not_configured())
    argv = journal_argv(
        unit if isinstance(unit, str) else None,
        count,
        since if isinstance(since, str) else None,
        grep if isinstance(grep, str) else None,
    )
    try:
        async with SshPool(config.ssh, [SshTarget.of(node)]) as pool:
            result = await pool.run(node.name, argv)
    except IntegrationError as exc:
        return Reply(messages.logs_unreachable(node.name, str(exc)))
    if result.exit_status != 0:
        return Reply(messages.logs_failed(node.name, result.stderr.strip()[:300]))
    output = result.stdout.rstrip("\n")
    what = f"{node.name}" + (f" {unit}" if isinstance(unit, str) else "")
    if output.strip() == "-- No entries --" or not output.strip():
        return Reply(messages.logs_empty(what))
    shown = output.splitlines()
    if len(shown) <= INLINE_LINES and len(output) <= INLINE_CHARS:
        return Reply(messages.logs_inline(what, len(shown), output))
    # Long: the tail inline, the whole as a file in a thread of its own.
    chat = ctx.jobs.chat
    ts = await chat.post(ctx.channel_id, messages.logs_file_heading(what, len(shown)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{node.name}-journal.log"
        path.write_text(output + "\n")
        await chat.upload(ctx.channel_id, ts, path, f"journal of {what}")
    tail = "\n".join(shown[-INLINE_LINES:])[-INLINE_CHARS:]
    return Reply(messages.logs_tail(what, len(shown), INLINE_LINES, tail))
