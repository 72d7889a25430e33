"""Every sentence a Slack user sees, one function per message, so wording is reviewed in one place.

Split by capability; callers use `from bot import messages` and `messages.<function>`.
Returns plain mrkdwn strings; must never be handed a secret value.
"""

# Re-exporting each part keeps one namespace for every message, as callers and tests expect.
from bot.messages.bmc import *  # noqa: F403
from bot.messages.core import *  # noqa: F403
from bot.messages.deploy import *  # noqa: F403
from bot.messages.digest import *  # noqa: F403
from bot.messages.renovate import *  # noqa: F403
from bot.messages.sops import *  # noqa: F403
