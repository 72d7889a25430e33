"""Long-lived clients of the outside systems, opened once and shared by handlers and jobs.

Each client is created on first use from the config and closed when labbot stops; a handler
asks `ctx.services.bmc("turingpi")` instead of building its own (so tokens and pools are reused).

`ssh_readers()` keeps one SSH connection per node open between reads of the lab (the digest,
`/lab status`): a login costs a key exchange on both ends, and 24 of them were most of what a
24-node digest took beyond a one-node one. Jobs that change a node log in on their own pools.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from bot.config import Config
from bot.errors import ConfigError
from bot.metrics import Metrics

if TYPE_CHECKING:
    from bot.integrations.bmc import BmcClient
    from bot.integrations.github import GitHubClient
    from bot.integrations.ssh import SshPool


class Services:
    """Lazily opened integration clients; `close()` closes whatever was opened, in reverse."""

    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        self.config = config
        self._metrics = metrics
        self._stack = AsyncExitStack()
        self._bmcs: dict[str, BmcClient] = {}
        self._github: GitHubClient | None = None
        self._ssh_readers: SshPool | None = None

    async def bmc(self, board: str) -> BmcClient:
        """The client of the BMC that drives `board` (a board name from the inventory)."""
        from bot.integrations.bmc import BmcClient

        found = self.config.inventory.board(board)
        bmc_name = found.bmc if found is not None else None
        if bmc_name is None or bmc_name not in self.config.bmc:
            raise ConfigError(f"board {board} has no BMC in the config")
        if bmc_name not in self._bmcs:
            client = BmcClient(self.config.bmc[bmc_name], name=bmc_name)
            self._bmcs[bmc_name] = await self._stack.enter_async_context(client)
        return self._bmcs[bmc_name]

    async def github(self) -> GitHubClient:
        """The GitHub client of the infra repo."""
        from bot.integrations.github import GitHubClient

        if self.config.github is None:
            raise ConfigError("the config has no 'github' section")
        if self._github is None:
            metrics = self._metrics
            client = GitHubClient(
                self.config.github,
                on_error=(lambda e: metrics.github_error(e.status)) if metrics else None,
            )
            self._github = await self._stack.enter_async_context(client)
        return self._github

    def ssh_readers(self) -> SshPool:
        """SSH connections to every inventory node, kept open between reads of the lab.

        Idle connections are kept alive (asyncssh keepalives) and one found closed is replaced
        before its command starts (`SshPool`), so a rebooted node costs one new login."""
        from bot.integrations.ssh import SshPool, SshTarget

        if self.config.ssh is None:
            raise ConfigError("the config has no 'ssh' section")
        if self._ssh_readers is None:
            targets = [SshTarget.of(node) for node in self.config.inventory.nodes]
            self._ssh_readers = SshPool(self.config.ssh, targets)
            self._stack.push_async_callback(self._ssh_readers.close)
        return self._ssh_readers

    async def close(self) -> None:
        """Close every client that was opened."""
        await self._stack.aclose()
