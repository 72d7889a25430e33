"""The action_ids of labbot's buttons; every one starts with `labbot:` so the Slack edge routes it."""

from __future__ import annotations

PREFIX = "labbot:"
APPROVE = PREFIX + "approve"
REJECT = PREFIX + "reject"
CANCEL = PREFIX + "cancel"
