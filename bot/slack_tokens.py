"""Both Slack tokens checked before anything else starts: a wrong one is named in one sentence.

- The bot token with `auth.test`, which answers for any valid token and says whose it is.
- The app-level token (Socket Mode) with `apps.connections.open`, the one method such a token
  exists for (it needs the `connections:write` scope); the URL it returns is not used.

Slack's token errors (`invalid_auth`, `not_authed`, `token_revoked`, `token_expired`,
`account_inactive`) end the start with a `ConfigError` naming the setting; a Slack that cannot
be reached is tried again with a growing pause and one log line per attempt, until it answers
or the process is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackConfig, SlackMode
from bot.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
FIRST_RETRY = 1.0
LONGEST_RETRY = 60.0


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot token is: the bot's user and its workspace."""

    user_id: str
    team: str


def _wrong_kind(setting: str, token: str, wanted: str) -> str | None:
    """The sentence for a token of the wrong kind (Slack's prefixes: xoxb- bot, xapp- app)."""
    if token.startswith(wanted):
        return None
    kind = {"xoxb-": "a bot token", "xapp-": "an app-level token", "xoxp-": "a user token"}.get(
        token[:5], "not a Slack token"
    )
    return f"slack.{setting} is {kind}; it must be the {wanted}… token"


async def verify_tokens(config: SlackConfig, bot_token: str, app_token: str | None) -> BotIdentity:
    """Check the tokens (see the module docstring); returns the bot's identity."""
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
    delay = FIRST_RETRY
    while True:
        try:
            return await _ask_slack(config, bot_token, app_token)
        except (aiohttp.ClientError, OSError, TimeoutError, SlackApiError) as error:
            reason = str(error) or type(error).__name__
            log.warning("Slack cannot be reached (%s); trying again in %.0f s", reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY)


async def _ask_slack(config: SlackConfig, bot_token: str, app_token: str | None) -> BotIdentity:
    client = AsyncWebClient(token=bot_token, base_url=config.api_url, timeout=15)
    try:
        auth = await client.auth_test()
    except SlackApiError as error:
        _refuse_token("bot_token", error)
        raise  # not the token's fault (a 5xx, a rate limit): tried again
    if config.mode is SlackMode.socket and app_token is not None:
        try:
            await client.apps_connections_open(app_token=app_token)
        except SlackApiError as error:
            _refuse_token("app_token", error)
            raise
    return BotIdentity(str(auth.get("user_id", "")), str(auth.get("team", "")))


def _refuse_token(setting: str, error: SlackApiError) -> None:
    """Raise the sentence for Slack's answer when it is about the token itself."""
    code = str(error.response.get("error", "")) if error.response is not None else ""
    if code in TOKEN_ERRORS:
        raise ConfigError(
            f"slack.{setting} was refused by Slack ({code}): check that it is this app's "
            "current token (the app's settings page shows it)"
        ) from None
    if code == "missing_scope":
        needed = error.response.get("needed", "") if error.response is not None else ""
        raise ConfigError(f"slack.{setting} lacks the scope {needed or 'Slack asks for'}") from None
