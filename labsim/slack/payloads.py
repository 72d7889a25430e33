"""JSON shapes Slack sends: message objects, slash command and block_actions payloads.

Pure builders following Slack's interaction payload docs (docs.slack.dev); no state, no I/O.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from labsim.slack.records import Button, Channel, Ephemeral, HomeView, Message, User
from labsim.slack.workspace import WorkspaceIdentity

# Deprecated verification token Slack still includes in payloads; Socket Mode does not check it.
VERIFICATION_TOKEN = "emulator-verification-token"


def new_trigger_id(identity: WorkspaceIdentity) -> str:
    """A trigger_id shaped like Slack's ``<digits>.<digits>.<hex>``."""
    stamp = f"{int(time.time())}{uuid.uuid4().int % 1000:03d}"
    return f"{stamp}.{identity.team_id}.{uuid.uuid4().hex}"


def message_json(msg: Message, identity: WorkspaceIdentity) -> dict[str, Any]:
    """The message object as chat.postMessage returns it and block_actions carries it."""
    body: dict[str, Any] = {
        "type": "message",
        "ts": msg.ts,
        "text": msg.text,
        "user": msg.user,
        "team": identity.team_id,
        "blocks": msg.blocks,
    }
    if msg.user == identity.bot_user_id:
        body["bot_id"] = identity.bot_id
        body["app_id"] = identity.app_id
    if msg.thread_ts is not None:
        body["thread_ts"] = msg.thread_ts
    if msg.edited:
        body["edited"] = {"user": msg.user, "ts": msg.ts}
    if msg.files:
        body["files"] = [{"id": file_id} for file_id in msg.files]
    return body


def home_view_json(view: HomeView, identity: WorkspaceIdentity) -> dict[str, Any]:
    """A `home` view object, as views.publish returns it and app_home_opened carries it
    (fields from docs.slack.dev/reference/events/app_home_opened)."""
    return {
        "id": view.id,
        "team_id": identity.team_id,
        "type": "home",
        "blocks": view.blocks,
        "private_metadata": "",
        "callback_id": "",
        "state": {"values": {}},
        "hash": view.hash,
        "clear_on_close": False,
        "notify_on_close": False,
        "root_view_id": view.id,
        "previous_view_id": None,
        "app_id": identity.app_id,
        "external_id": "",
        "app_installed_team_id": identity.team_id,
        "bot_id": identity.bot_id,
    }


def app_home_opened_event(
    *, user: User, channel: str, tab: str, event_ts: str, view: dict[str, Any] | None
) -> dict[str, Any]:
    """The app_home_opened event: `tab` is "home" or "messages", and `view` (the Home tab's
    current view) is there only once a view was published for the user
    (docs.slack.dev/reference/events/app_home_opened)."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": channel,
        "tab": tab,
        "event_ts": event_ts,
    }
    if view is not None:
        event["view"] = view
    return event


def slash_command_payload(
    *,
    identity: WorkspaceIdentity,
    user: User,
    channel: Channel,
    command: str,
    text: str,
    response_url: str,
) -> dict[str, Any]:
    """The slash_commands envelope payload (form fields as a JSON object, all strings)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": identity.team_id,
        "team_domain": identity.team_domain,
        "channel_id": channel.id,
        "channel_name": channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": identity.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": new_trigger_id(identity),
    }


def block_actions_payload(
    *,
    identity: WorkspaceIdentity,
    user: User,
    channel: Channel,
    target: Message | Ephemeral,
    button: Button,
    value: str | None,
    response_url: str,
) -> dict[str, Any]:
    """The interactive payload of one button click on a message or an ephemeral message."""
    is_ephemeral = isinstance(target, Ephemeral)
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": target.ts,
        "channel_id": channel.id,
        "is_ephemeral": is_ephemeral,
    }
    if target.thread_ts is not None:
        container["thread_ts"] = target.thread_ts
    action: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id,
        "block_id": button.block_id,
        "text": {"type": "plain_text", "text": button.text, "emoji": True},
        "action_ts": f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    if button.style is not None:
        action["style"] = button.style
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user.id,
            "username": user.name,
            "name": user.name,
            "team_id": identity.team_id,
        },
        "api_app_id": identity.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": new_trigger_id(identity),
        "team": {"id": identity.team_id, "domain": identity.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    if isinstance(target, Message):
        # The full original message; absent for ephemeral messages (reference §3).
        payload["message"] = message_json(target, identity)
    return payload


def view_block_actions_payload(
    *, identity: WorkspaceIdentity, user: User, view: HomeView, button: Button
) -> dict[str, Any]:
    """The block_actions payload of a click on a Home tab's button: the container is the view
    (`{"type": "view", "view_id": …}`) and the payload carries the whole view, with no channel,
    message or response_url (docs.slack.dev/reference/interaction-payloads/block_actions-payload;
    which fields a view click leaves out is inferred from the payload's field list)."""
    action: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id,
        "block_id": button.block_id,
        "text": {"type": "plain_text", "text": button.text, "emoji": True},
        "action_ts": f"{time.time():.6f}",
    }
    if button.value is not None:
        action["value"] = button.value
    return {
        "type": "block_actions",
        "user": {
            "id": user.id,
            "username": user.name,
            "name": user.name,
            "team_id": identity.team_id,
        },
        "api_app_id": identity.app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view.id},
        "trigger_id": new_trigger_id(identity),
        "team": {"id": identity.team_id, "domain": identity.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": home_view_json(view, identity),
        "state": {"values": {}},
        "actions": [action],
    }


def events_api_payload(
    *, identity: WorkspaceIdentity, event: dict[str, Any], event_id: str
) -> dict[str, Any]:
    """The Events API outer wrapper around one event."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": identity.team_id,
        "api_app_id": identity.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": identity.team_id,
                "user_id": identity.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
