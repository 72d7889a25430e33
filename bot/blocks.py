"""Block Kit builders: turn outcomes and texts into blocks within Slack's limits.

Pure functions; never call Slack. Limits from Slack's Block Kit reference (docs.slack.dev).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import actions, messages
from bot.command_spec import Approval, CommandSpec

if TYPE_CHECKING:
    from bot.job_records import ApprovalRecord

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
MAX_BLOCKS = 50
#: A view (modal or Home tab) holds up to 100 blocks, a message 50
#: (docs.slack.dev/reference/block-kit/blocks: "up to 50 blocks in each message, and 100
#: blocks in modals or Home tabs").
MAX_VIEW_BLOCKS = 100


def clip(text: str, limit: int) -> str:
    """Shorten `text` to at most `limit` characters, marking the cut with "…", on a safe
    boundary: never inside an entity (`&amp;`) or a `<…>` mention or link, and a code span or
    block the cut opens is closed again."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 5)]  # room for "…" and a closing "\n```"
    amp = cut.rfind("&")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    angle = cut.rfind("<")
    if angle > cut.rfind(">"):
        cut = cut[:angle]
    closing = ""
    if cut.count("```") % 2:
        closing = "\n```"
    elif cut.replace("```", "").count("`") % 2:
        closing = "`"
    return cut + "…" + closing


def fit_blocks(blocks: Sequence[Block], max_blocks: int = MAX_BLOCKS) -> list[Block]:
    """Blocks cut to Block Kit's limits again (after redaction may have lengthened them): at
    most `max_blocks` (a message's `MAX_BLOCKS`, a view's `MAX_VIEW_BLOCKS`), section text 3,000, fields and context text 2,000, header and button
    text 150 and 75 characters (api.slack.com/reference/block-kit/blocks)."""

    def text_object(obj: Any, limit: int) -> Any:
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            return {**obj, "text": clip(obj["text"], limit)}
        return obj

    out: list[Block] = []
    for block in list(blocks)[:max_blocks]:
        kind = block.get("type")
        fitted = dict(block)
        if kind == "section":
            if "text" in fitted:
                fitted["text"] = text_object(fitted["text"], SECTION_TEXT_LIMIT)
            if isinstance(fitted.get("fields"), list):
                fitted["fields"] = [text_object(f, 2000) for f in fitted["fields"]]
        elif kind == "header":
            fitted["text"] = text_object(fitted.get("text"), HEADER_TEXT_LIMIT)
        elif kind == "context" and isinstance(fitted.get("elements"), list):
            fitted["elements"] = [text_object(e, 2000) for e in fitted["elements"]]
        elif kind == "actions" and isinstance(fitted.get("elements"), list):
            fitted["elements"] = [
                {**e, "text": text_object(e.get("text"), BUTTON_TEXT_LIMIT)}
                if isinstance(e, dict) and "text" in e
                else e
                for e in fitted["elements"]
            ]
        out.append(fitted)
    return out


def section(text: str) -> Block:
    """A mrkdwn section, clipped to the section limit."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_LIMIT)}}


def context(text: str) -> Block:
    """A small grey context line."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 2000)}]}


def header(text: str) -> Block:
    """A header block."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT_LIMIT)}}


def command_list(
    allowed: Sequence[tuple[str, str]], hidden: Sequence[str], prefix: str
) -> list[Block]:
    """`/lab help`: usage and summary of each command the user may run, then the names of
    what needs a higher role."""
    lines = [f"`{usage}`\n{summary}" for usage, summary in allowed]
    out = [section(messages.help_header(prefix)), *packed_sections(lines)]
    if hidden:
        out.append(context(messages.help_needs_higher_role(hidden)))
    return out[:MAX_BLOCKS]


def command_help(
    specs: Sequence[CommandSpec],
    prefix: str,
    approval_of: Callable[[str, Approval], Approval],
    second_person_tags: Sequence[str] = (),
) -> list[Block]:
    """`/lab help CMD`: usage, arguments, flags, role, who approves (as configured) and an
    example for each form."""
    out: list[Block] = []
    tagged = ", ".join(f"`{t}`" for t in second_person_tags)
    words = {
        "none": "no approval",
        "approval": "approval by someone with that role, the requester included"
        + (f" (a second person on nodes tagged {tagged})" if tagged else ""),
        "four_eyes": "approval by a second person with that role",
    }
    for spec in specs:
        lines = [f"*`{spec.usage(prefix)}`*", spec.summary]
        lines += [f"• `{a.usage()}`: {a.help}" for a in spec.args]
        lines += [f"• `{f.usage().strip('[]')}`: {f.help}" for f in spec.flags]
        approval = approval_of(spec.name, spec.approval)
        lines.append(f"Role: {spec.role.name}; {words[approval.value]}.")
        for rule in spec.role_rules:
            rule_approval = approval_of(spec.name, rule.approval)
            lines.append(
                f"With `{rule.value}`: role {rule.role.name}; {words[rule_approval.value]}."
            )
        if spec.example:
            lines.append(f"Example: `{prefix} {spec.example}`")
        out.append(section("\n".join(lines)))
    return out[:MAX_BLOCKS]


def offer(text: str, block_id: str, label: str, action_id: str, value: str) -> list[Block]:
    """A sentence with one primary button under it (a deploy after a flash, a power on)."""
    return [
        section(text),
        {
            "type": "actions",
            "block_id": block_id,
            "elements": [button(label, action_id, value, "primary")],
        },
    ]


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    """A button carrying only an opaque value."""
    out: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, 75)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        out["style"] = style
    return out


def job_root(
    title: str, requester: str, job_id: int, state: str, cancel_token: str, result: str = ""
) -> list[Block]:
    """The root message of a job's thread: title, state, and Cancel while it can be cancelled."""
    out = [section(messages.job_root_text(title, requester, job_id, state))]
    if result and state in (
        "succeeded",
        "failed",
        "rolled_back",
        "cancelled",
        "interrupted",
        "expired",
    ):
        out.append(context(result))
    if state in ("queued", "awaiting_approval", "running"):
        out.append(
            {
                "type": "actions",
                "block_id": f"job-{job_id}",
                "elements": [button("Cancel", actions.CANCEL, cancel_token, "danger")],
            }
        )
    return out


def approval_request(approval: ApprovalRecord, label: str) -> list[Block]:
    """The plan, who may approve and until when, and the Apply / Reject buttons."""
    who = (
        f"a second person with the {approval.role} role (not the requester)"
        if approval.rule == "four_eyes"
        else f"someone with the {approval.role} role (the requester too)"
    )
    return [
        section(approval.summary or messages.approval_prompt(approval.job_id)),
        context(f"Needs approval by {who} before {approval.expires_at:%H:%M} UTC."),
        {
            "type": "actions",
            "block_id": f"approval-{approval.job_id}",
            "elements": [
                button(label, actions.APPROVE, approval.id, "primary"),
                button("Reject", actions.REJECT, approval.id, "danger"),
            ],
        },
    ]


def approval_decided(approval: ApprovalRecord, decision: str) -> list[Block]:
    """The approval message once decided: the plan stays, the buttons go."""
    return [
        section(approval.summary or messages.approval_prompt(approval.job_id)),
        context(decision),
    ]


def line_sections(
    heading: str,
    lines: Sequence[str],
    *,
    limit: int,
    budget: int,
    line_chars: int,
    more: Callable[[int], str],
) -> list[Block]:
    """`heading` then at most `limit` lines (each clipped to `line_chars`, `budget` characters in
    all), in as many sections as the text limit needs; `more(n)` says how many were left out."""
    shown: list[str] = []
    used = len(heading)
    for line in lines[:limit]:
        line = clip(line, line_chars)
        if used + len(line) + 1 > budget:
            break
        shown.append(line)
        used += len(line) + 1
    if len(shown) < len(lines):
        shown.append(more(len(lines) - len(shown)))
    return packed_sections(shown, first=heading)


def packed_sections(lines: Sequence[str], first: str = "") -> list[Block]:
    """`first` and the lines, one per line, in as few sections as the text limit allows."""
    out: list[Block] = []
    chunk = first
    for line in lines:
        if chunk and len(chunk) + len(line) + 1 > SECTION_TEXT_LIMIT:
            out.append(section(chunk))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        out.append(section(chunk))
    return out
