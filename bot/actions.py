"""The action_ids of the engine's buttons. Every labbot button starts with `PREFIX`, so the Slack edge
routes it; a capability names its own buttons with it (`handlers/renovate/card_blocks.py`)."""

from __future__ import annotations

PREFIX = "labbot:"
APPROVE = PREFIX + "approve"
REJECT = PREFIX + "reject"
CANCEL = PREFIX + "cancel"

LINK_PREFIX = "labbot-link:"
"""A link button's action_id starts with this: Slack opens its URL, and still sends the click,
which must be acked ("your app will still receive an interaction payload and will need to send
an acknowledgement response": docs.slack.dev/reference/block-kit/block-elements/button-element,
`url`). The edge acks it and does nothing else."""
