"""The action_ids of labbot's buttons; every one starts with `labbot:` so the Slack edge routes it."""

from __future__ import annotations

PREFIX = "labbot:"
APPROVE = PREFIX + "approve"
REJECT = PREFIX + "reject"
CANCEL = PREFIX + "cancel"
RENOVATE_MERGE = PREFIX + "renovate-merge"
RENOVATE_DEPLOY = PREFIX + "renovate-deploy"
RENOVATE_SKIP = PREFIX + "renovate-skip"
DEPLOY_OFFER = PREFIX + "deploy-offer"
