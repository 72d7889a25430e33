"""What Slack says about labbot's setup: both tokens (checked before anything else starts, a
wrong one named in one sentence), the scopes granted, channel membership, user groups.

- The bot token with `auth.test`, which answers for any valid token and says whose it is.
- The app-level token (Socket Mode) with `apps.connections.open`, the one method such a token
  exists for (it needs the `connections:write` scope). That method is Tier 1 (about one call a
  minute), so at start its answer is also the URL the Socket Mode client connects to
  (`connection_url`): one call checks the token and opens the connection.

Slack's token errors (`invalid_auth`, `not_authed`, `token_revoked`, `token_expired`,
`account_inactive`) end the start with a `ConfigError` naming the setting; a Slack that cannot
be reached is tried again with a growing pause and one log line per attempt, until it answers
or the process is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config import SlackConfig, SlackMode
from bot.errors import ConfigError, LabError

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
REQUIRED_SCOPES = frozenset(
    {"commands", "chat:write", "files:write", "usergroups:read", "channels:read"}
)
"""The bot scopes labbot uses (slack-app-manifest.yaml lists the same; a test keeps them so)."""
_T = TypeVar("_T")
FIRST_RETRY = 1.0
LONGEST_RETRY = 60.0


class SlackUnavailable(LabError):
    """Slack did not answer about the tokens (down, unreachable, or rate limiting the call):
    nothing is known about them yet."""


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot token is: the bot's user and its workspace, and the scopes Slack says the
    token has (its `x-oauth-scopes` response header; empty when Slack did not send it)."""

    user_id: str
    team: str
    scopes: frozenset[str] = frozenset()


def _wrong_kind(setting: str, token: str, wanted: str) -> str | None:
    """The sentence for a token of the wrong kind (Slack's prefixes: xoxb- bot, xapp- app)."""
    if token.startswith(wanted):
        return None
    kind = {"xoxb-": "a bot token", "xapp-": "an app-level token", "xoxp-": "a user token"}.get(
        token[:5], "not a Slack token"
    )
    return f"slack.{setting} is {kind}; it must be the {wanted}… token"


async def verify_tokens(config: SlackConfig, bot_token: str, app_token: str | None) -> BotIdentity:
    """Check the tokens until Slack answers (see the module docstring); returns the bot's
    identity."""
    return await _until_slack_answers(
        lambda: check_tokens(config, bot_token, app_token, open_connection=False)
    )


async def check_tokens(
    config: SlackConfig, bot_token: str, app_token: str | None, *, open_connection: bool = True
) -> BotIdentity:
    """One try of the check (`labbot doctor`): raises `ConfigError` for a refused token and
    the network's or Slack's error when Slack cannot answer."""
    problems = [
        problem
        for problem in (
            _wrong_kind("bot_token", bot_token, "xoxb-"),
            _wrong_kind("app_token", app_token, "xapp-")
            if app_token is not None and config.mode is SlackMode.socket
            else None,
        )
        if problem is not None
    ]
    if problems:
        raise ConfigError("; ".join(problems))
    client = AsyncWebClient(token=bot_token, base_url=config.api_url, timeout=15)
    auth = await _ask("bot_token", client.auth_test())
    if open_connection and config.mode is SlackMode.socket and app_token is not None:
        await _ask("app_token", client.apps_connections_open(app_token=app_token))
    scopes = str(auth.headers.get("x-oauth-scopes", "") or auth.headers.get("X-OAuth-Scopes", ""))
    return BotIdentity(
        str(auth.get("user_id", "")),
        str(auth.get("team", "")),
        frozenset(s.strip() for s in scopes.split(",") if s.strip()),
    )


async def is_member(config: SlackConfig, bot_token: str, channel: str) -> bool | str:
    """Whether the bot is in `channel` (conversations.info's `is_member`), or Slack's error
    (`channel_not_found`: a private channel labbot was not invited to, or a wrong ID)."""
    client = AsyncWebClient(token=bot_token, base_url=config.api_url, timeout=15)
    try:
        answer = await client.conversations_info(channel=channel)
    except SlackApiError as error:
        return str(error.response.get("error", "")) if error.response is not None else str(error)
    info = answer.get("channel") or {}
    return bool(info.get("is_member"))


async def usergroup_problem(config: SlackConfig, bot_token: str, usergroup: str) -> str | None:
    """None when Slack lists the user group's members; otherwise Slack's error."""
    client = AsyncWebClient(token=bot_token, base_url=config.api_url, timeout=15)
    try:
        await client.usergroups_users_list(usergroup=usergroup)
    except SlackApiError as error:
        return str(error.response.get("error", "")) if error.response is not None else str(error)
    return None


async def connection_url(client: AsyncWebClient, app_token: str) -> str:
    """A Socket Mode URL from `apps.connections.open`, which is also the app token's check
    (`ConfigError` when refused); waits out a Slack that does not answer, one log line a try."""
    answer = await _until_slack_answers(
        lambda: _ask("app_token", client.apps_connections_open(app_token=app_token))
    )
    return str(answer["url"])


async def _until_slack_answers(call: Callable[[], Awaitable[_T]]) -> _T:
    """`call()` again and again while Slack does not answer, with a growing pause and one log
    line per try; a refused token (`ConfigError`) ends it at once."""
    delay = FIRST_RETRY
    while True:
        try:
            return await call()
        except SlackUnavailable as error:
            log.warning("Slack cannot be reached (%s); trying again in %.0f s", error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY)


async def _ask(setting: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
    """One Web API call about `setting`'s token: Slack's refusal of the token is a
    `ConfigError`; anything else (down, a 5xx, a rate limit) is `SlackUnavailable`."""
    try:
        return await call
    except SlackApiError as error:
        _refuse_token(setting, error)
        raise SlackUnavailable(f"Slack answered {_code(error) or error}") from None
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise SlackUnavailable(str(error) or type(error).__name__) from None


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error", "")) if error.response is not None else ""


def _refuse_token(setting: str, error: SlackApiError) -> None:
    """Raise the sentence for Slack's answer when it is about the token itself."""
    code = _code(error)
    if code in TOKEN_ERRORS:
        raise ConfigError(
            f"slack.{setting} was refused by Slack ({code}): check that it is this app's "
            "current token (the app's settings page shows it)"
        ) from None
    if code == "missing_scope":
        needed = error.response.get("needed", "") if error.response is not None else ""
        raise ConfigError(f"slack.{setting} lacks the scope {needed or 'Slack asks for'}") from None
