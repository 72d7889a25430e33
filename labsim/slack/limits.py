"""Block Kit and message-text limits the emulator enforces, as pure functions.

Limits follow Slack's Block Kit reference (docs.slack.dev); nothing here does I/O or keeps state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
# "up to 50 blocks in each message, and 100 blocks in modals or Home tabs"
# (docs.slack.dev/reference/block-kit/blocks).
MAX_VIEW_BLOCKS = 100
# views.publish: `view_too_large` "if the provided view is greater than 250kb"
# (docs.slack.dev/reference/methods/views.publish, Errors).
MAX_VIEW_BYTES = 250 * 1024
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ID_LENGTH = 255
MAX_MARKDOWN_TEXT = 12_000
# Server-side total of text inside blocks. Undocumented: a bolt-js issue (#2867) saw
# msg_blocks_too_long at ~11k characters; the reference suggests enforcing 12k (inferred).
MAX_TOTAL_BLOCK_TEXT = 12_000
MAX_MESSAGE_TEXT = 40_000

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
TEXT_OBJECT_TYPES = frozenset({"plain_text", "mrkdwn"})


@dataclass(frozen=True)
class BlockProblem:
    """Why Slack would refuse a blocks array: the API error code and a pointer-style detail."""

    error: str
    """``invalid_blocks`` or ``msg_blocks_too_long``."""
    detail: str
    """Slack-style text, e.g. ``must be less than 3001 characters [json-pointer:/blocks/0]``."""

    def __str__(self) -> str:
        return f"{self.error}: {self.detail}"


class _Invalid(Exception):
    """Raised inside the checker to stop at the first problem found."""


def _fail(detail: str, pointer: str) -> _Invalid:
    return _Invalid(f"{detail} [json-pointer:{pointer}]")


def _check_length(value: Any, limit: int, pointer: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise _fail(f"must be less than {limit + 1} characters (got {len(value)})", pointer)


def _text_of(obj: Any, pointer: str, *, plain_only: bool = False) -> str:
    """Validate a text object and return its text."""
    if not isinstance(obj, dict):
        raise _fail("must be a text object", pointer)
    kind = obj.get("type")
    allowed = {"plain_text"} if plain_only else TEXT_OBJECT_TYPES
    if kind not in allowed:
        raise _fail(f"text type must be one of {sorted(allowed)} (got {kind!r})", f"{pointer}/type")
    text = obj.get("text")
    if not isinstance(text, str):
        raise _fail("text must be a string", f"{pointer}/text")
    return text


def _check_element(element: Any, pointer: str) -> None:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        raise _fail("element must be an object with a type", pointer)
    _check_length(element.get("action_id"), MAX_ID_LENGTH, f"{pointer}/action_id")
    if element["type"] == "button":
        text = _text_of(element.get("text"), f"{pointer}/text", plain_only=True)
        _check_length(text, MAX_BUTTON_TEXT, f"{pointer}/text/text")
        _check_length(element.get("value"), MAX_BUTTON_VALUE, f"{pointer}/value")
        _check_length(element.get("url"), MAX_BUTTON_URL, f"{pointer}/url")


def _check_block(block: Any, pointer: str, markdown_total: list[int]) -> None:
    if not isinstance(block, dict):
        raise _fail("block must be an object", pointer)
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        raise _fail(f"unsupported type: {kind!r}", f"{pointer}/type")
    _check_length(block.get("block_id"), MAX_ID_LENGTH, f"{pointer}/block_id")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            raise _fail("section must have text or fields", pointer)
        if "text" in block:
            text = _text_of(block["text"], f"{pointer}/text")
            _check_length(text, MAX_SECTION_TEXT, f"{pointer}/text/text")
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
            raise _fail(f"no more than {MAX_SECTION_FIELDS} items allowed", f"{pointer}/fields")
        for i, item in enumerate(fields):
            text = _text_of(item, f"{pointer}/fields/{i}")
            _check_length(text, MAX_FIELD_TEXT, f"{pointer}/fields/{i}/text")
        if "accessory" in block:
            _check_element(block["accessory"], f"{pointer}/accessory")
    elif kind == "header":
        text = _text_of(block.get("text"), f"{pointer}/text", plain_only=True)
        _check_length(text, MAX_HEADER_TEXT, f"{pointer}/text/text")
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            raise _fail("actions block must have elements", f"{pointer}/elements")
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            raise _fail(f"no more than {MAX_ACTIONS_ELEMENTS} items allowed", f"{pointer}/elements")
        seen: set[str] = set()
        for i, element in enumerate(elements):
            _check_element(element, f"{pointer}/elements/{i}")
            action_id = element.get("action_id")
            # Believed from Slack docs ("unique among the containing block"); not re-verified.
            if isinstance(action_id, str):
                if action_id in seen:
                    raise _fail(f"duplicate action_id {action_id!r}", f"{pointer}/elements/{i}")
                seen.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            raise _fail("context block must have elements", f"{pointer}/elements")
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            raise _fail(f"no more than {MAX_CONTEXT_ELEMENTS} items allowed", f"{pointer}/elements")
    elif kind == "markdown":
        markdown = block.get("text")
        if not isinstance(markdown, str):
            raise _fail("markdown block must have text", f"{pointer}/text")
        markdown_total[0] += len(markdown)
        if markdown_total[0] > MAX_MARKDOWN_TEXT:
            raise _fail(
                f"markdown text must be less than {MAX_MARKDOWN_TEXT + 1} characters in total",
                f"{pointer}/text",
            )


def _block_text_total(node: Any) -> int:
    """Characters of all strings under ``text`` keys in the blocks."""
    if isinstance(node, dict):
        total = 0
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                total += len(value)
            else:
                total += _block_text_total(value)
        return total
    if isinstance(node, list):
        return sum(_block_text_total(item) for item in node)
    return 0


def find_block_problem(
    blocks: Any,
    *,
    max_blocks: int = MAX_BLOCKS,
    root: str = "/blocks",
    text_limit: int | None = MAX_TOTAL_BLOCK_TEXT,
) -> BlockProblem | None:
    """The first reason Slack would refuse ``blocks``, or None when they are acceptable.

    A message's blocks by default; a view's with ``max_blocks=MAX_VIEW_BLOCKS``,
    ``root="/view/blocks"`` and no ``text_limit`` (a view is limited by its size instead).
    """
    if not isinstance(blocks, list):
        return BlockProblem("invalid_blocks", f"must be an array [json-pointer:{root}]")
    if len(blocks) > max_blocks:
        return BlockProblem(
            "invalid_blocks", f"no more than {max_blocks} items allowed [json-pointer:{root}]"
        )
    markdown_total = [0]
    block_ids: set[str] = set()
    try:
        for i, block in enumerate(blocks):
            _check_block(block, f"{root}/{i}", markdown_total)
            block_id = block.get("block_id")
            # Slack asks for unique block_ids per message; rejection believed, not re-verified.
            if isinstance(block_id, str):
                if block_id in block_ids:
                    raise _fail(f"duplicate block_id {block_id!r}", f"{root}/{i}/block_id")
                block_ids.add(block_id)
    except _Invalid as problem:
        return BlockProblem("invalid_blocks", str(problem))
    for i, block in enumerate(blocks):
        # A second opinion from Slack's own SDK models: every payload the emulator accepts also
        # parses and validates with slack_sdk.models.blocks (Block.parse, validate_json).
        parsed = Block.parse(block)
        if parsed is None:
            return BlockProblem("invalid_blocks", f"unknown block [json-pointer:{root}/{i}]")
        try:
            parsed.validate_json()
        except SlackObjectFormationError as error:
            return BlockProblem("invalid_blocks", f"{error} [json-pointer:{root}/{i}]")
    total = _block_text_total(blocks)
    if text_limit is not None and total > text_limit:
        return BlockProblem(
            "msg_blocks_too_long",
            f"blocks hold {total} characters of text (emulator limit {text_limit})",
        )
    return None


def validate_blocks(blocks: Any) -> str | None:
    """None if Slack would accept ``blocks``; else ``"<error_code>: <detail>"``.

    The error code is ``invalid_blocks`` or ``msg_blocks_too_long``; the detail names the problem
    and its JSON pointer, e.g.
    ``invalid_blocks: no more than 50 items allowed [json-pointer:/blocks]``.
    """
    problem = find_block_problem(blocks)
    return None if problem is None else str(problem)


def truncate_text(text: str) -> tuple[str, bool]:
    """Cut ``text`` to Slack's 40,000-character limit; the flag says whether it was cut."""
    if len(text) > MAX_MESSAGE_TEXT:
        return text[:MAX_MESSAGE_TEXT], True
    return text, False


@dataclass(frozen=True)
class Content:
    """Message content that passed the limits: text (maybe truncated) and blocks."""

    text: str
    blocks: list[dict[str, Any]]
    truncated: bool


def check_content(text: str, blocks: list[dict[str, Any]]) -> Content | BlockProblem:
    """Apply the block limits and the text truncation rule to one message's content."""
    problem = find_block_problem(blocks)
    if problem is not None:
        return problem
    cut, truncated = truncate_text(text)
    return Content(cut, blocks, truncated)
