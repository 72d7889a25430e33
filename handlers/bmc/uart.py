"""`/lab uart NODE [--lines N]` and `/lab uart send NODE TEXT`: a node's serial console via its BMC.

Must not talk to Slack or build Block Kit, and never hands TEXT to a shell (the BMC types it).

Reading (admin, no job):
1. Read the slot's console buffer from the BMC (bmcd 2.1 returns its whole 16 KiB ring).
2. Keep only what is new since the last read: the previous copy is persisted per node in
   `<state_dir>/uart/<node>.console`, so the cursor survives restarts and is shared by admins.
3. Reply ephemerally with the last N new lines (ANSI codes stripped, secrets redacted).

Sending (admin, approval):
1. TEXT is checked: one line, no control characters, at most `MAX_LINE` characters; shell
   metacharacters are fine, since nothing here is a shell.
2. A `uart_send` job locks the node and shows the exact line; the approval is bound to it.
3. Apply: the BMC types the line and appends CR LF.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot import messages as engine_messages
from bot.command_spec import Approval, Command
from bot.config import Config, Node, Role
from bot.context import HandlerContext
from bot.errors import UserError
from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import BmcError
from bot.integrations.bmc_uart import UartCursor
from bot.job_run import Finished, JobRun, NeedsApproval, PlanResult
from bot.job_state import Job, JobState
from bot.locks import node_target
from bot.outcome import Outcome, Reply
from bot.output_tail import strip_ansi
from bot.redact import Redactor
from bot.targets import named_node
from handlers.bmc import messages

MAX_LINE = 512
"""Longest line `uart send` types (a Linux tty's line buffer holds 4096 bytes)."""
DEFAULT_LINES = 40
MAX_SHOWN_CHARS = 2800


class UartSendPlan(BaseModel):
    """A `uart_send` job's payload: the exact line and where it goes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    board: str
    bmc: str
    slot: int
    line: str


async def uart_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Show the console lines that are new since the last read."""
    name = command.arg("node")
    assert isinstance(name, str)
    node = named_node(name, ctx.config.inventory.nodes)
    wanted = command.arg("lines")
    limit = wanted if isinstance(wanted, int) and wanted > 0 else DEFAULT_LINES
    try:
        client = await ctx.services.bmc(node.board)
        client.refuse_while_uploading()
        new = await read_new_console(client, node, console_file(ctx.config, node.name))
    except BmcError as error:
        return Reply(engine_messages.integration_failed(str(error)))
    text = Redactor().redact(strip_ansi(new))
    lines = text.splitlines()
    if not lines:
        return Reply(messages.uart_nothing_new(node.name, node.slot))
    shown = lines[-limit:]
    while len("\n".join(shown)) > MAX_SHOWN_CHARS and len(shown) > 1:
        shown = shown[1:]
    return Reply(messages.uart_output(node.name, node.slot, shown, len(lines) - len(shown)))


async def uart_send_command(ctx: HandlerContext, command: Command) -> Outcome:
    """Check the line, then start a job that types it after approval."""
    name = command.arg("node")
    assert isinstance(name, str)
    node = named_node(name, ctx.config.inventory.nodes)
    line = command.arg("text")
    assert isinstance(line, str)
    problem = line_problem(line)
    if problem is not None:
        raise UserError(problem)
    job = await ctx.jobs.submit(
        "uart-send",
        text=f"uart send {node.name} {line}",
        requester=ctx.actor.user_id,
        channel_id=ctx.channel_id,
        targets=[node_target(node.name)],
    )
    return Reply(engine_messages.job_started(job.id))


def line_problem(line: str) -> str | None:
    """Why `line` may not be typed on a console, or None if it may."""
    if not line.strip():
        return messages.uart_line_empty()
    if len(line) > MAX_LINE:
        return messages.uart_line_too_long(len(line), MAX_LINE)
    if any(unicodedata.category(char) == "Cc" for char in line):
        return messages.uart_line_control_characters()
    return None


def console_file(config: Config, node: str) -> Path:
    """Where the last console copy of `node` is kept."""
    return config.storage.state_dir / "uart" / f"{node}.console"


async def read_new_console(client: BmcClient, node: Node, saved: Path) -> str:
    """The console text of `node` not returned before, advancing the persisted cursor."""
    cursor = _load(saved)
    drains = (await client.info()).generation.uart_read_drains
    buffer = await client.uart_read(node.slot)
    new = cursor.advance(buffer, drained=drains)
    _save(saved, "" if drains else buffer)
    return new


def _load(path: Path) -> UartCursor:
    """A cursor that has seen the saved copy (a fresh one if there is none)."""
    cursor = UartCursor()
    try:
        with path.open(encoding="utf-8", newline="") as saved:  # keep CR LF as the BMC sent it
            cursor.advance(saved.read())
    except FileNotFoundError:
        pass
    return cursor


def _save(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UartSendKind:
    """The `uart_send` job kind: show the exact line, type it after approval."""

    name = "uart-send"

    def title(self, job: Job) -> str:
        """`Type on tp-node3's console`."""
        return messages.uart_send_title(job.text.split(" ", 3)[2])

    async def plan(self, run: JobRun) -> PlanResult:
        """Show node, slot and the line; an admin approves exactly that line."""
        _, _, name, line = run.job.text.split(" ", 3)
        node = run.config.inventory.node(name)
        if node is None:
            return Finished(JobState.failed, messages.node_left_inventory(name))
        problem = line_problem(line)
        if problem is not None:
            return Finished(JobState.failed, problem)
        board = run.config.inventory.board_of(node)
        plan = UartSendPlan(node=name, board=board.name, bmc=board.bmc, slot=node.slot, line=line)
        return NeedsApproval(
            summary=messages.uart_send_plan(name, node.slot, board.bmc, line),
            payload=plan.model_dump(mode="json"),
            role=Role.admin,
            rule=Approval.approval,
            button=messages.uart_send_button(),
        )

    async def still_valid(self, run: JobRun, payload: Mapping[str, Any]) -> str | None:
        """The line is in the payload, so the approval's digest already binds it."""
        return None

    async def apply(self, run: JobRun, payload: Mapping[str, Any]) -> Finished:
        """Type the approved line on the node's console."""
        plan = UartSendPlan.model_validate(payload)
        try:
            client = await run.services.bmc(plan.board)
            await client.uart_send(plan.slot, plan.line)
        except BmcError as error:
            return Finished(JobState.failed, engine_messages.integration_failed(str(error)))
        return Finished(JobState.succeeded, messages.uart_sent(plan.node, plan.slot, plan.line))


UART_SEND_KIND = UartSendKind()
