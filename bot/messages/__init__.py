"""Every sentence the engine says to a Slack user, one function per message, so wording is reviewed
in one place. Each capability keeps its own sentences in `handlers/<capability>/messages.py`.

Callers use `from bot import messages` and `messages.<function>`.
Returns plain mrkdwn strings; must never be handed a secret value.
"""

# Re-exporting each part keeps one namespace for the engine's messages.
from bot.messages.core import *  # noqa: F403
from bot.messages.integrations import *  # noqa: F403
