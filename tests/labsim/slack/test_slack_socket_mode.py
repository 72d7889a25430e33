"""A real slack-bolt AsyncApp over a real Socket Mode WebSocket against the Slack emulator."""

from __future__ import annotations

import asyncio
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from labsim.slack import SlackEmulator

CHANNEL = "C0LAB"
ALICE = "U0ALICE"
BOB = "U0BOB"

APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy tp-node3?"}},
    {
        "type": "actions",
        "block_id": "approval",
        "elements": [
            {
                "type": "button",
                "action_id": "apply",
                "text": {"type": "plain_text", "text": "Apply"},
                "value": "job-1",
            },
            {
                "type": "button",
                "action_id": "cancel",
                "text": {"type": "plain_text", "text": "Cancel"},
                "value": "job-1",
            },
        ],
    },
]


def retry_num(request: AsyncBoltRequest) -> str | None:
    values = request.headers.get("x-slack-retry-num")
    return values[0] if values else None


async def test_slash_command_is_acked_and_message_posted(
    slack: SlackEmulator, bolt: AsyncApp
) -> None:
    seen: list[dict[str, Any]] = []

    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen.append(body)
        await client.chat_postMessage(
            channel=body["channel_id"],
            text=f"Deploy {body['text'].split()[1]} requested by <@{body['user_id']}>",
        )

    result = await slack.user(ALICE).slash("deploy tp-node3", channel=CHANNEL)
    ack = await result.acked()
    assert ack.payload is None and ack.envelope_id == result.envelope_id
    assert 0 <= ack.latency < 5
    msg = await slack.wait_for(lambda: next(iter(slack.messages(CHANNEL)), None))
    assert msg.text == f"Deploy tp-node3 requested by <@{ALICE}>"
    assert msg.user == slack.bot_user_id
    (body,) = seen
    assert body["command"] == "/lab" and body["text"] == "deploy tp-node3"
    assert (body["user_id"], body["user_name"], body["channel_name"]) == (ALICE, "alice", "lab")
    assert body["team_id"] == slack.team_id and body["api_app_id"] == slack.app_id
    assert body["response_url"] == result.response_url
    assert body["response_url"].startswith(slack.root_url + "/webhook/")
    assert body["trigger_id"] == result.trigger_id
    # Bolt calls auth.test on its first dispatch; everything went through the emulator.
    assert slack.calls("auth.test") and slack.calls("apps.connections.open")


async def test_ack_payload_is_shown_to_the_user(slack: SlackEmulator, bolt: AsyncApp) -> None:
    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, body: dict[str, Any]) -> None:
        if body["text"] == "loud":
            await ack(text="everyone sees this", response_type="in_channel")
        else:
            await ack(text="only you see this")

    ack = await (await slack.user(ALICE).slash("quiet", channel=CHANNEL)).acked()
    assert ack.payload == {"text": "only you see this"}
    (eph,) = slack.ephemerals(ALICE)
    assert (eph.text, eph.channel, eph.via) == ("only you see this", CHANNEL, "ack")
    assert slack.ephemerals(BOB) == []

    await (await slack.user(ALICE).slash("loud", channel=CHANNEL)).acked()
    (msg,) = slack.messages(CHANNEL)
    assert (msg.text, msg.via) == ("everyone sees this", "ack")


async def test_respond_posts_ephemeral_through_response_url(
    slack: SlackEmulator, bolt: AsyncApp
) -> None:
    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond("working on it")

    await slack.user(BOB).slash("status", channel=CHANNEL)
    eph = await slack.wait_for(lambda: next(iter(slack.ephemerals(BOB)), None))
    assert (eph.text, eph.via, eph.channel) == ("working on it", "response_url", CHANNEL)
    assert slack.messages(CHANNEL) == []
    assert [c.status for c in slack.calls("response_url")] == [200]


async def test_button_click_reaches_action_listener(
    slack: SlackEmulator, bolt: AsyncApp, client: AsyncWebClient
) -> None:
    clicks: list[dict[str, Any]] = []

    @bolt.action("apply")
    async def on_apply(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        clicks.append(body)
        await respond(text=f"Applied by <@{body['user']['id']}>", replace_original=True)

    posted = await client.chat_postMessage(channel=CHANNEL, text="approve?", blocks=APPROVAL_BLOCKS)
    msg = slack.message(CHANNEL, posted["ts"])
    result = await slack.user(BOB).click(msg, "apply")
    await result.acked()
    await slack.wait_for(lambda: slack.message(CHANNEL, posted["ts"]).updates == 1)
    updated = slack.message(CHANNEL, posted["ts"])
    assert updated.text == f"Applied by <@{BOB}>"
    assert updated.history[0].blocks == APPROVAL_BLOCKS
    (body,) = clicks
    assert body["type"] == "block_actions" and body["user"]["id"] == BOB
    assert body["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert body["channel"] == {"id": CHANNEL, "name": "lab"}
    assert body["message"]["blocks"] == APPROVAL_BLOCKS
    (action,) = body["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == (
        "apply",
        "approval",
        "job-1",
    )
    assert action["text"]["text"] == "Apply"


async def test_forged_click_value_and_vanished_button(
    slack: SlackEmulator, bolt: AsyncApp, client: AsyncWebClient
) -> None:
    values: list[str] = []

    @bolt.action("cancel")
    async def on_cancel(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        values.append(body["actions"][0]["value"])

    posted = await client.chat_postMessage(channel=CHANNEL, text="approve?", blocks=APPROVAL_BLOCKS)
    msg = slack.message(CHANNEL, posted["ts"])
    await (await slack.user(ALICE).click(msg, "cancel", value="job-666")).acked()
    assert values == ["job-666"]

    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="done", blocks=[])
    try:
        await slack.user(ALICE).click(msg, "cancel")  # the old snapshot still has the button
    except KeyError as error:
        assert "no button with action_id 'cancel'" in str(error)
    else:
        raise AssertionError("clicking a button that is no longer shown must fail")


async def test_socket_drop_redelivers_unacked_envelope(
    slack: SlackEmulator, bolt: AsyncApp
) -> None:
    attempts: list[str | None] = []

    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, request: AsyncBoltRequest) -> None:
        await ack()
        attempts.append(retry_num(request))

    slack.lose_acks(1)
    result = await slack.user(ALICE).slash("status", channel=CHANNEL)
    await slack.wait_for(lambda: slack.socket.lost_acks == 1)
    assert slack.ack(result.envelope_id) is None

    await slack.drop_socket("warning")
    ack = await result.acked()
    assert attempts == [None, "1"]
    assert result.deliveries == 2
    assert slack.socket.connection_count == 2
    assert ack.at > result.sent_at
    frame = slack.socket.envelope(result.envelope_id).frame()
    assert (frame["retry_attempt"], frame["retry_reason"]) == (1, "timeout")


async def test_close_without_disconnect_frame_reconnects(
    slack: SlackEmulator, bolt: AsyncApp
) -> None:
    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck) -> None:
        await ack(text="pong")

    await slack.drop_socket(None)
    await slack.wait_for(lambda: slack.socket.connection_count == 2 and slack.connected)
    ack = await (await slack.user(ALICE).slash("ping", channel=CHANNEL)).acked()
    assert ack.payload == {"text": "pong"}


async def test_redeliver_acked_envelope_carries_retry_fields(
    slack: SlackEmulator, bolt: AsyncApp
) -> None:
    triggers: list[tuple[str, str | None]] = []

    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        await ack()
        triggers.append((body["trigger_id"], retry_num(request)))

    result = await slack.user(ALICE).slash("whoami", channel=CHANNEL)
    await result.acked()
    second = await slack.redeliver(result.envelope_id)
    assert len(slack.acks(result.envelope_id)) == 2
    assert second.at > (await result.acked()).at
    assert [retry for _, retry in triggers] == [None, "1"]
    assert triggers[0][0] == triggers[1][0]  # same payload, same trigger_id


async def test_envelope_sent_while_disconnected_waits_for_next_connection(
    slack: SlackEmulator,
) -> None:
    result = await slack.user(ALICE).slash("early", channel=CHANNEL)
    assert result.deliveries == 0
    app = AsyncApp(
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
        request_verification_enabled=False,
    )
    texts: list[str] = []

    @app.command("/lab")
    async def on_lab(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        texts.append(body["text"])

    handler = AsyncSocketModeHandler(app, slack.app_token)
    try:
        await handler.connect_async()
        await asyncio.wait_for(result.acked(), timeout=5)
    finally:
        await handler.close_async()
    assert texts == ["early"]
    assert slack.socket.envelope(result.envelope_id).retry_attempt == 0


async def test_click_on_ephemeral_and_delete_original(
    slack: SlackEmulator, bolt: AsyncApp, client: AsyncWebClient
) -> None:
    bodies: list[dict[str, Any]] = []

    @bolt.action("apply")
    async def on_apply(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        bodies.append(body)
        await respond(delete_original=True)

    await client.chat_postEphemeral(
        channel=CHANNEL, user=ALICE, text="sure?", blocks=APPROVAL_BLOCKS
    )
    (eph,) = slack.ephemerals(ALICE)
    try:
        await slack.user(BOB).click(eph, "apply")
    except LookupError:
        pass
    else:
        raise AssertionError("another user cannot click an ephemeral message")
    await (await slack.user(ALICE).click(eph, "apply")).acked()
    await slack.wait_for(lambda: slack.ephemerals(ALICE)[0].deleted)
    (body,) = bodies
    assert body["container"]["is_ephemeral"] is True and "message" not in body


async def test_aborted_socket_is_noticed_by_ping_and_reconnected(slack: SlackEmulator) -> None:
    app = AsyncApp(
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
        request_verification_enabled=False,
    )

    @app.command("/lab")
    async def on_lab(ack: AsyncAck) -> None:
        await ack()

    # A short ping interval: after a TCP abort only the client's ping monitor notices.
    handler = AsyncSocketModeHandler(app, slack.app_token, ping_interval=0.1)
    try:
        await handler.connect_async()
        await slack.wait_connected()
        await slack.drop_socket(abort=True)
        assert not slack.connected
        await slack.wait_for(lambda: slack.socket.connection_count == 2 and slack.connected)
        await (await slack.user(ALICE).slash("ping", channel=CHANNEL)).acked()
    finally:
        await handler.close_async()


def recorder(texts: list[str]) -> Any:
    """A /lab listener that acks and records the command text (Bolt injects args by name)."""

    async def on_lab(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        texts.append(body["text"])

    return on_lab


async def test_envelopes_go_to_the_most_recent_connection(slack: SlackEmulator) -> None:
    received: dict[str, list[str]] = {"first": [], "second": []}
    handlers = []
    try:
        for name in ("first", "second"):
            app = AsyncApp(
                client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
                request_verification_enabled=False,
            )

            app.command("/lab")(recorder(received[name]))
            handler = AsyncSocketModeHandler(app, slack.app_token)
            handlers.append(handler)
            await handler.connect_async()
            await slack.wait_for(lambda: slack.socket.connection_count == len(handlers))
        await (await slack.user(ALICE).slash("one", channel=CHANNEL)).acked()
        await handlers[1].close_async()
        await slack.wait_for(lambda: slack.socket.live_connections == 1)
        await (await slack.user(ALICE).slash("two", channel=CHANNEL)).acked()
    finally:
        for handler in handlers:
            await handler.close_async()
    assert received == {"first": ["two"], "second": ["one"]}


async def test_events_api_envelope(slack: SlackEmulator, bolt: AsyncApp) -> None:
    mentions: list[tuple[str, str | None]] = []

    @bolt.event("app_mention")
    async def on_mention(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        mentions.append((event["text"], retry_num(request)))

    event = {
        "type": "app_mention",
        "user": ALICE,
        "text": f"<@{slack.bot_user_id}> status",
        "channel": CHANNEL,
        "ts": "1700000000.000100",
    }
    await (await slack.send_event(event)).acked()
    await slack.wait_for(lambda: mentions)
    assert mentions == [(f"<@{slack.bot_user_id}> status", "0")]


async def test_redeliver_unacked_without_drop(slack: SlackEmulator, bolt: AsyncApp) -> None:
    attempts: list[str | None] = []

    @bolt.command("/lab")
    async def on_lab(ack: AsyncAck, request: AsyncBoltRequest) -> None:
        await ack()
        attempts.append(retry_num(request))

    slack.lose_acks(1)
    result = await slack.user(ALICE).slash("status", channel=CHANNEL)
    await slack.wait_for(lambda: slack.socket.lost_acks == 1)
    assert await slack.redeliver_unacked(reason="http_timeout") == 1
    await result.acked()
    assert attempts == [None, "1"]
    assert slack.socket.envelope(result.envelope_id).retry_reason == "http_timeout"
    assert await slack.redeliver_unacked() == 0
    assert slack.socket.connection_count == 1
