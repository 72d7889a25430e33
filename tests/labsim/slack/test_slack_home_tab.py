"""The Slack emulator's App Home: views.publish with Slack's validation and Tier 4 limit, and
app_home_opened delivered over Socket Mode to a real slack-bolt app."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from labsim.slack import SlackEmulator
from labsim.slack.rate_limits import TIER_4

ALICE = "U0ALICE"
BIG_SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}


def sections(count: int) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"line {i}"}} for i in range(count)
    ]


def home(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}


async def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_a_home_view_is_published_per_user_and_replaced(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    first = await client.views_publish(user_id=ALICE, view=home(sections(100)))  # the limit
    assert first["view"]["type"] == "home" and len(first["view"]["blocks"]) == 100
    second = await client.views_publish(user_id=ALICE, view=home(sections(1)))
    view = slack.home_view(ALICE)
    assert view is not None and view.all_text().strip() == "line 0" and view.publishes == 2
    assert second["view"]["id"] == first["view"]["id"]
    assert second["view"]["hash"] != first["view"]["hash"]
    assert slack.home_view("U0BOB") is None


@pytest.mark.parametrize(
    ("arguments", "error", "said"),
    [
        ({"view": home(sections(1))}, "invalid_arguments", "missing required field: user_id"),
        ({"user_id": ALICE}, "invalid_arguments", "missing required field: view"),
        (
            {"user_id": ALICE, "view": home(sections(101))},
            "invalid_arguments",
            "no more than 100 items allowed [json-pointer:/view/blocks]",
        ),
        (
            {"user_id": ALICE, "view": {"type": "modal", "blocks": sections(1)}},
            "invalid_arguments",
            "[json-pointer:/view/type]",
        ),
        (
            {"user_id": ALICE, "view": home([{"type": "section"}])},
            "invalid_arguments",
            "section must have text or fields [json-pointer:/view/blocks/0]",
        ),
        ({"user_id": "U0NOBODY", "view": home(sections(1))}, "user_not_found", None),
        (
            {"user_id": ALICE, "view": home([BIG_SECTION] * 100)},  # ~290 kB in 100 blocks
            "view_too_large",
            None,
        ),
    ],
)
async def test_views_publish_refuses_what_slack_refuses_and_changes_nothing(
    slack: SlackEmulator,
    client: AsyncWebClient,
    arguments: dict[str, Any],
    error: str,
    said: str | None,
) -> None:
    failure = await refused(client.api_call("views.publish", json=arguments))
    assert failure.response["error"] == error
    if said is not None:
        assert any(said in m for m in failure.response["response_metadata"]["messages"])
    assert slack.home_view(ALICE) is None


async def test_a_disabled_home_tab_and_a_stale_hash(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    published = await client.views_publish(user_id=ALICE, view=home(sections(1)))
    stale = await refused(
        client.views_publish(user_id=ALICE, view=home(sections(2)), hash="1.stale")
    )
    assert stale.response["error"] == "hash_conflict"
    await client.views_publish(
        user_id=ALICE, view=home(sections(3)), hash=published["view"]["hash"]
    )
    slack.workspace.home_tab_enabled = False
    disabled = await refused(client.views_publish(user_id=ALICE, view=home(sections(4))))
    assert disabled.response["error"] == "not_enabled"
    view = slack.home_view(ALICE)
    assert view is not None and len(view.blocks) == 3


async def test_views_publish_is_tier_4(slack: SlackEmulator, client: AsyncWebClient) -> None:
    for _ in range(TIER_4.burst):
        await client.views_publish(user_id=ALICE, view=home(sections(1)))
    limited = await refused(client.views_publish(user_id=ALICE, view=home(sections(2))))
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert int(limited.response.headers["Retry-After"]) >= 1
    view = slack.home_view(ALICE)
    assert view is not None and len(view.blocks) == 1


async def test_app_home_opened_reaches_bolt_and_is_acked(
    slack: SlackEmulator, bolt: AsyncApp, client: AsyncWebClient
) -> None:
    events: list[dict[str, Any]] = []

    @bolt.event("app_home_opened")
    async def opened(event: dict[str, Any]) -> None:
        events.append(event)

    alice = slack.user(ALICE)
    await (await alice.open_home()).acked()
    await client.views_publish(user_id=ALICE, view=home(sections(2)))
    await (await alice.open_home("messages")).acked()
    await (await alice.open_home()).acked()
    await slack.wait_for(lambda: len(events) == 3)
    first, messages, again = events
    assert first["tab"] == "home" and first["user"] == ALICE and "view" not in first
    assert first["channel"].startswith("D")
    assert messages["tab"] == "messages" and "view" not in messages
    assert again["view"]["type"] == "home" and len(again["view"]["blocks"]) == 2
    with pytest.raises(ValueError, match="'home' or 'messages'"):
        await alice.open_home("settings")


async def test_a_click_on_a_home_tab_button_comes_from_the_view(
    slack: SlackEmulator, bolt: AsyncApp, client: AsyncWebClient
) -> None:
    bodies: list[dict[str, Any]] = []

    @bolt.action("open")
    async def clicked(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        bodies.append(body)

    link = {"type": "button", "action_id": "open", "text": {"type": "plain_text", "text": "Open"}}
    published = await client.views_publish(
        user_id=ALICE,
        view=home([{**sections(1)[0], "accessory": {**link, "url": "https://example.com/x"}}]),
    )
    alice = slack.user(ALICE)
    await (await alice.click_home("open")).acked()
    [body] = bodies
    assert body["container"] == {"type": "view", "view_id": published["view"]["id"]}
    assert body["view"]["type"] == "home" and "response_url" not in body
    with pytest.raises(KeyError):
        await alice.click_home("missing")
    with pytest.raises(LookupError):
        await slack.user("U0BOB").click_home("open")
