"""The capabilities labbot runs with: the one module of the engine that imports `handlers/`.

Adding a capability is a folder under `handlers/` and one line here. The order is the order of
`/lab help` (after the engine's own commands) and of start-up.
"""

from __future__ import annotations

from bot.capability import Capability
from handlers import bmc, deploy, renovate, secrets, status

CAPABILITIES: tuple[Capability, ...] = (
    status.CAPABILITY,
    deploy.CAPABILITY,
    bmc.CAPABILITY,
    secrets.CAPABILITY,
    renovate.CAPABILITY,
)
