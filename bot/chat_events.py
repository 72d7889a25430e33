"""What people do in the chat besides `/lab` and buttons, for capabilities to hear of: opening
the app's Home tab.

The Slack edge (`bot/slack_app.py`) turns Slack's `app_home_opened` event into `home_opened`;
a capability listens with `context.chat_events.on_home_opened(listener)` in its `start`, and
answers through `Chat.publish_home`. The engine never knows what a Home tab shows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

HomeListener = Callable[[str], Awaitable[None]]
"""Told that a user (by id) opened the app's Home tab."""


class ChatEvents:
    """The listeners of chat events, registered by capabilities at start.

    Example::

        events = ChatEvents()
        events.on_home_opened(home.opened)
        await events.home_opened("U0ALICE")
    """

    def __init__(self) -> None:
        self._home: list[HomeListener] = []

    def on_home_opened(self, listener: HomeListener) -> None:
        """Call `listener(user_id)` whenever someone opens the app's Home tab."""
        self._home.append(listener)

    async def home_opened(self, user_id: str) -> None:
        """Tell every listener; one listener's failure is logged and does not stop the next."""
        for listener in self._home:
            try:
                await listener(user_id)
            except Exception:  # a listener's trouble must not end the edge's task
                log.exception("a listener of the Home tab failed for %s", user_id)
