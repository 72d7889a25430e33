"""The Slack emulator's Web API, driven by the real slack_sdk AsyncWebClient over HTTP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from labsim.slack import SlackEmulator
from labsim.slack.rate_limits import POST_PER_CHANNEL, TIER_3

CHANNEL = "C0LAB"
OTHER_CHANNEL = "C0RANDOM"
ALICE = "U0ALICE"

BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *tp-node3*?"}},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "apply",
                "text": {"type": "plain_text", "text": "Apply"},
                "value": "job-1",
                "style": "primary",
            }
        ],
    },
]


async def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


async def test_auth_test_reports_bot_identity_and_scopes(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    response = await client.auth_test()
    assert response["user_id"] == slack.bot_user_id
    assert response["team_id"] == slack.team_id
    assert response["bot_id"]
    assert "chat:write" in response.headers["x-oauth-scopes"]


async def test_post_update_and_read_back(slack: SlackEmulator, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="hello", blocks=BUTTONS)
    reply = await client.chat_postMessage(channel=CHANNEL, text="in thread", thread_ts=first["ts"])
    assert re.fullmatch(r"\d{10}\.\d{6}", first["ts"])
    assert float(reply["ts"]) > float(first["ts"])
    assert first["message"]["bot_id"] and first["message"]["blocks"] == BUTTONS

    await client.chat_update(channel=CHANNEL, ts=first["ts"], text="v2")
    await client.chat_update(channel=CHANNEL, ts=first["ts"], text="v3", blocks=[])

    msg = slack.message(CHANNEL, first["ts"])
    assert (msg.text, msg.blocks, msg.edited, msg.updates) == ("v3", [], True, 2)
    assert [v.text for v in msg.history] == ["hello", "v2"]
    assert msg.history[0].blocks == BUTTONS
    assert [m.text for m in slack.messages(CHANNEL)] == ["v3", "in thread"]
    assert [m.text for m in slack.thread(CHANNEL, first["ts"])] == ["in thread"]
    assert slack.messages("#lab")[0].user == slack.bot_user_id
    assert [c.method for c in slack.calls()] == ["chat.postMessage"] * 2 + ["chat.update"] * 2


async def test_buttons_and_all_text_helpers(slack: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=BUTTONS)
    msg = slack.message(CHANNEL, posted["ts"])
    (apply,) = msg.buttons()
    assert (apply.action_id, apply.value, apply.text, apply.block_id) == (
        "apply",
        "job-1",
        "Apply",
        "approval",
    )
    assert "Deploy *tp-node3*?" in msg.all_text() and "fallback" in msg.all_text()


async def test_chat_errors(slack: SlackEmulator, client: AsyncWebClient) -> None:
    error = await api_error(client.chat_postMessage(channel="C0NOPE", text="x"))
    assert error.response["error"] == "channel_not_found"
    # api_call directly: chat_postMessage() itself warns about a missing text.
    error = await api_error(client.api_call("chat.postMessage", json={"channel": CHANNEL}))
    assert error.response["error"] == "no_text"
    error = await api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"
    error = await api_error(client.api_call("chat.nonsense"))
    assert error.response["error"] == "unknown_method"
    assert slack.messages(CHANNEL) == []
    assert [c.error for c in slack.calls()] == [
        "channel_not_found",
        "no_text",
        "message_not_found",
        "unknown_method",
    ]


async def test_tokens_are_checked(slack: SlackEmulator) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert (await api_error(wrong.auth_test())).response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack.api_url)
    assert (await api_error(anonymous.auth_test())).response["error"] == "not_authed"
    app_level = AsyncWebClient(token=slack.app_token, base_url=slack.api_url)
    error = await api_error(app_level.chat_postMessage(channel=CHANNEL, text="x"))
    assert error.response["error"] == "not_allowed_token_type"
    bot = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    error = await api_error(bot.apps_connections_open(app_token=slack.bot_token))
    assert error.response["error"] == "not_allowed_token_type"
    opened = await bot.apps_connections_open(app_token=slack.app_token)
    assert opened["url"].startswith(slack.root_url.replace("http", "ws") + "/link/?ticket=")


async def test_block_limit_violation_is_refused(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    too_many = [{"type": "divider"}] * 51
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=too_many))
    assert error.response["error"] == "invalid_blocks"
    assert "no more than 50 items" in error.response["response_metadata"]["messages"][0]
    long_button = [dict(BUTTONS[1], elements=[dict(BUTTONS[1]["elements"][0], value="v" * 2001)])]
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=long_button))
    assert error.response["error"] == "invalid_blocks"
    assert "/blocks/0/elements/0/value" in error.response["errors"][0]
    heavy = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3000}}] * 5
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x", blocks=heavy))
    assert error.response["error"] == "msg_blocks_too_long"
    assert slack.messages(CHANNEL) == []


async def test_long_text_is_truncated_with_warning(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    response = await client.chat_postMessage(channel=CHANNEL, text="z" * 40_010)
    assert response["response_metadata"]["warnings"] == ["message_truncated"]
    assert len(slack.message(CHANNEL, response["ts"]).text) == 40_000


async def test_ephemeral_permalink_users_and_groups(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    response = await client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="psst")
    (eph,) = slack.ephemerals(ALICE)
    assert (eph.text, eph.channel, eph.ts, eph.via) == (
        "psst",
        CHANNEL,
        response["message_ts"],
        "chat.postEphemeral",
    )
    posted = await client.chat_postMessage(channel=CHANNEL, text="x")
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(posted["ts"].replace(".", ""))
    assert (await client.users_info(user=ALICE))["user"]["name"] == "alice"
    assert (await client.conversations_info(channel=CHANNEL))["channel"]["name"] == "lab"

    slack.set_usergroup("S0OPS", [ALICE])
    assert (await client.usergroups_users_list(usergroup="S0OPS"))["users"] == [ALICE]
    error = await api_error(client.usergroups_users_list(usergroup="S0NONE"))
    assert error.response["error"] == "no_such_subteam"


async def test_files_upload_v2_round_trip(slack: SlackEmulator, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="job 7")
    content = bytes(range(256)) * 100
    response = await client.files_upload_v2(
        channel=CHANNEL,
        content=content,
        filename="job-7.log",
        title="Job 7 log",
        initial_comment="full log",
        thread_ts=parent["ts"],
    )
    (uploaded,) = slack.files()
    assert response["file"]["id"] == uploaded.id
    assert uploaded.content == content
    assert (uploaded.filename, uploaded.title, uploaded.channel, uploaded.thread_ts) == (
        "job-7.log",
        "Job 7 log",
        CHANNEL,
        parent["ts"],
    )
    (share,) = slack.thread(CHANNEL, parent["ts"])
    assert share.files == [uploaded.id] and share.text == "full log"
    assert [c.method for c in slack.calls()][1:] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]


async def test_injected_429_without_retry_handler(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    slack.inject_rate_limit("chat.postMessage", 1, retry_after=7)
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "7"
    await client.chat_postMessage(channel=CHANNEL, text="x")
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]


async def test_injected_429_recovers_with_retry_handler(
    slack: SlackEmulator, client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler sleeps Retry-After + random(); pin the jitter to keep the test fast.
    monkeypatch.setattr("slack_sdk.http_retry.builtin_async_handlers.random.random", lambda: 0.0)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    slack.inject_rate_limit("chat.update", 2, retry_after=0)
    posted = await client.chat_postMessage(channel=CHANNEL, text="v1")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="v2")
    assert [c.status for c in slack.calls("chat.update")] == [429, 429, 200]
    assert slack.message(CHANNEL, posted["ts"]).text == "v2"


async def test_chat_update_limit_is_per_app_not_per_message(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    # Tier 3 (docs.slack.dev/apis/web-api/rate-limits): one budget for every message the app
    # edits. The emulator's bucket holds TIER_3.burst calls.
    one = await client.chat_postMessage(channel=CHANNEL, text="a")
    two = await client.chat_postMessage(channel=CHANNEL, text="b")
    for i in range(TIER_3.burst):
        await client.chat_update(channel=CHANNEL, ts=(one, two)[i % 2]["ts"], text=f"v{i}")
    error = await api_error(client.chat_update(channel=CHANNEL, ts=two["ts"], text="late"))
    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert int(error.response.headers["Retry-After"]) >= 1
    assert slack.message(CHANNEL, two["ts"]).text != "late"


async def test_post_message_limit_is_per_channel(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    for i in range(POST_PER_CHANNEL.burst):
        await client.chat_postMessage(channel=CHANNEL, text=f"m{i}")
    error = await api_error(client.chat_postMessage(channel=CHANNEL, text="one too many"))
    assert error.response.status_code == 429
    assert "one too many" not in [m.text for m in slack.messages(CHANNEL)]
    await client.chat_postMessage(channel=OTHER_CHANNEL, text="elsewhere")  # its own bucket


async def test_limits_can_be_turned_off_for_a_test_about_something_else(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    slack.enforce_rate_limits(False)
    for i in range(POST_PER_CHANNEL.burst * 3):
        await client.chat_postMessage(channel=CHANNEL, text=f"m{i}")
    assert {c.status for c in slack.calls("chat.postMessage")} == {200}


async def test_response_url_usable_five_times(slack: SlackEmulator) -> None:
    # No app is connected: the envelope waits, but its response_url already works.
    result = await slack.user(ALICE).slash("status", channel=CHANNEL)
    hook = AsyncWebhookClient(result.response_url)
    statuses = []
    for i in range(6):
        response = await hook.send(text=f"reply {i}")
        statuses.append(response.status_code)
    assert statuses == [200] * 5 + [404]
    assert [e.text for e in slack.ephemerals(ALICE)] == [f"reply {i}" for i in range(5)]
    assert slack.calls("response_url")[-1].error == "used_url"


async def test_response_url_in_channel_and_bad_blocks(slack: SlackEmulator) -> None:
    result = await slack.user(ALICE).slash("status", channel=CHANNEL)
    hook = AsyncWebhookClient(result.response_url)
    assert (await hook.send(text="for all", response_type="in_channel")).status_code == 200
    (msg,) = slack.messages(CHANNEL)
    assert (msg.text, msg.user, msg.via) == ("for all", slack.bot_user_id, "response_url")
    bad = await hook.send(text="x", blocks=[{"type": "nope"}])
    assert bad.status_code == 400 and "invalid_blocks" in bad.body
    assert slack.ephemerals(ALICE) == []


async def test_wait_for_timeout_dumps_recent_state(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="something else")
    with pytest.raises(TimeoutError, match="something else"):
        await slack.wait_for(lambda: None, timeout=0.05)


async def test_a_channel_the_bot_was_not_invited_to_answers_not_in_channel(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    slack.add_channel("C0UNINVITE", "elsewhere", bot_member=False)
    posted = await api_error(client.chat_postMessage(channel="C0UNINVITE", text="x"))
    ephemeral = await api_error(
        client.chat_postEphemeral(channel="C0UNINVITE", user=ALICE, text="x")
    )

    assert posted.response["error"] == "not_in_channel"
    assert ephemeral.response["error"] == "not_in_channel"
    assert slack.messages("C0UNINVITE") == []
