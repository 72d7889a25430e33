"""The registry of job kinds: command handlers start jobs by these names.

A kind is registered here when its handler lands; buttons of stored jobs find their kind here.
"""

from __future__ import annotations

from bot.job_run import JobKind
from handlers.deploy import DEPLOY_KIND
from handlers.flash import FLASH_KIND
from handlers.power import POWER_KIND
from handlers.renovate_merge import RENOVATE_MERGE_KIND
from handlers.rollback import ROLLBACK_KIND
from handlers.sops_changes import SOPS_KINDS
from handlers.uart import UART_SEND_KIND

_ALL: tuple[JobKind, ...] = (
    DEPLOY_KIND,
    ROLLBACK_KIND,
    POWER_KIND,
    FLASH_KIND,
    UART_SEND_KIND,
    RENOVATE_MERGE_KIND,
    *SOPS_KINDS.values(),  # sops-rotate, sops-add-node, sops-remove-node, sops-rotate-k3s-token
)
JOB_KINDS: dict[str, JobKind] = {kind.name: kind for kind in _ALL}
