"""The action_ids of the engine's buttons. Every labbot button starts with `PREFIX`, so the Slack edge
routes it; a capability names its own buttons with it (`handlers/renovate/card_blocks.py`)."""

from __future__ import annotations

PREFIX = "labbot:"
APPROVE = PREFIX + "approve"
REJECT = PREFIX + "reject"
CANCEL = PREFIX + "cancel"
