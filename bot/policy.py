"""Who may do what, and where: roles from user IDs and user-group membership, and the channel allowlist.

Deny by default. Must not talk to Slack itself: group membership comes through `UsergroupDirectory`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot import messages
from bot.command_spec import Approval, Command
from bot.config import Role, RolesConfig

log = logging.getLogger(__name__)


class UsergroupDirectory(Protocol):
    """Looks up the members of a Slack user group (usergroups.users.list)."""

    async def members(self, group_id: str) -> set[str]:
        """User IDs in the group; raises on failure."""
        ...


@dataclass(frozen=True)
class Actor:
    """A Slack user and the highest role they hold (None: no role at all)."""

    user_id: str
    role: Role | None
    name: str = ""  # the Slack username a click carried: for people to read, never for a decision

    def may(self, needed: Role) -> bool:
        """Whether this actor's role reaches `needed`."""
        return self.role is not None and self.role >= needed


@dataclass(frozen=True)
class Verdict:
    """Whether a command may run, and if not, the sentence that says why."""

    allowed: bool
    reason: str = ""
    approval: Approval = Approval.none


class Policy:
    """Resolves roles (with a cache of group membership) and authorizes commands."""

    def __init__(
        self,
        roles: RolesConfig,
        allowed_channels: list[str],
        directory: UsergroupDirectory,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._roles = roles
        self._channels = list(allowed_channels)
        self._directory = directory
        self._clock = clock
        self._groups: dict[str, tuple[float, set[str]]] = {}
        self._lock = asyncio.Lock()

    def channel_allowed(self, channel_id: str) -> bool:
        """Whether commands are accepted in this channel."""
        return channel_id in self._channels

    def channel_refusal(self, channel_id: str) -> str:
        """The sentence for a command in a channel that is not allowed."""
        return messages.channel_not_allowed(channel_id, self._channels)

    async def actor(self, user_id: str) -> Actor:
        """The user with their highest role."""
        for role in sorted(Role, reverse=True):
            grant = self._roles.grant(role)
            if user_id in grant.users:
                return Actor(user_id, role)
            for group in grant.usergroups:
                if user_id in await self._group_members(group):
                    return Actor(user_id, role)
        return Actor(user_id, None)

    async def _group_members(self, group_id: str) -> set[str]:
        async with self._lock:
            cached = self._groups.get(group_id)
            now = self._clock()
            if cached and now - cached[0] < self._roles.usergroup_cache_seconds:
                return cached[1]
            try:
                members = await self._directory.members(group_id)
            except Exception as exc:  # a lookup failure must deny, not crash the command
                log.warning("cannot list members of user group %s: %s", group_id, exc)
                return cached[1] if cached else set()
            self._groups[group_id] = (now, members)
            return members

    def authorize(self, actor: Actor, command: Command) -> Verdict:
        """Whether `actor` may run `command` (role only; channel is checked before parsing)."""
        needed, approval = command.spec.rule_for(command.args)
        if actor.role is None:
            return Verdict(False, messages.no_role(actor.user_id))
        if not actor.may(needed):
            return Verdict(False, messages.role_too_low(command.name, needed.name, actor.role.name))
        return Verdict(True, approval=approval)
