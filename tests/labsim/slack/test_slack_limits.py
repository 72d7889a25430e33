"""Block Kit limits of the Slack emulator (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from labsim.slack import find_block_problem, truncate_text, validate_blocks


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str = "a", text: str = "Go", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def test_typical_message_is_valid() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy tp-node3"}},
        section("*requested by* <@U1>", fields=[{"type": "mrkdwn", "text": "a"}]),
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "job 7"}]},
        actions(button("apply"), button("cancel")),
    ]
    assert validate_blocks(blocks) is None
    assert validate_blocks([]) is None


def test_at_limits_is_valid() -> None:
    blocks = [section("x" * 3000)] + [{"type": "divider"}] * 49
    assert validate_blocks(blocks) is None
    assert validate_blocks([actions(*(button(f"b{i}") for i in range(25)))]) is None
    assert validate_blocks([actions(button("a" * 255, text="t" * 75, value="v" * 2000))]) is None


@pytest.mark.parametrize(
    ("blocks", "needle"),
    [
        ([{"type": "divider"}] * 51, "no more than 50 items"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text"),
        ([section("s", fields=[{"type": "mrkdwn", "text": "f"}] * 11)], "/blocks/0/fields"),
        ([section("s", fields=[{"type": "mrkdwn", "text": "f" * 2001}])], "/blocks/0/fields/0"),
        ([actions(*(button(f"b{i}") for i in range(26)))], "/blocks/0/elements"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "elements"),
        ([actions(button(text="t" * 76))], "/blocks/0/elements/0/text/text"),
        ([actions(button(value="v" * 2001))], "/blocks/0/elements/0/value"),
        ([actions(button(action_id="a" * 256))], "/blocks/0/elements/0/action_id"),
        ([section("s", block_id="b" * 256)], "/blocks/0/block_id"),
        ([{"type": "fancy"}], "unsupported type"),
        ([section("s", block_id="x"), section("t", block_id="x")], "duplicate block_id"),
        ([section("s", accessory=button(text="t" * 76))], "/blocks/0/accessory/text/text"),
        ([{"type": "section"}], "section must have text or fields"),
    ],
)
def test_violations_are_invalid_blocks(blocks: list[dict[str, Any]], needle: str) -> None:
    error = validate_blocks(blocks)
    assert error is not None
    assert error.startswith("invalid_blocks: ")
    assert needle in error


def test_total_text_over_12k_is_msg_blocks_too_long() -> None:
    blocks = [section("x" * 2500) for _ in range(5)]
    problem = find_block_problem(blocks)
    assert problem is not None
    assert problem.error == "msg_blocks_too_long"
    assert find_block_problem(blocks[:4]) is None


def test_text_truncation_at_40000() -> None:
    assert truncate_text("a" * 40_000) == ("a" * 40_000, False)
    cut, truncated = truncate_text("a" * 40_001)
    assert truncated and len(cut) == 40_000


def test_every_accepted_payload_also_validates_with_slack_sdks_models() -> None:
    # A rule the emulator's own checks do not know, only slack_sdk.models.blocks does: the
    # emulator refuses it too, so every payload any test gets accepted has passed both.
    too_long_alt = [
        {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a" * 2001}
    ]
    unknown = [{"type": "no-such-block"}]

    assert validate_blocks(too_long_alt) == (
        "invalid_blocks: alt_text attribute cannot exceed 2000 characters [json-pointer:/blocks/0]"
    )
    assert validate_blocks(unknown) is not None
    assert validate_blocks([{"type": "divider"}]) is None
