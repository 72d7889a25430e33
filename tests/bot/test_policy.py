"""Roles from user IDs and user groups, with a cache; deny by default."""

from __future__ import annotations

from bot.capabilities import CAPABILITIES
from bot.capability import command_table
from bot.command_spec import CommandTable
from bot.commands import ENGINE_COMMANDS
from bot.config import Role, RoleGrant, RolesConfig
from bot.parser import parse
from bot.policy import Policy


class Directory:
    def __init__(self, groups: dict[str, set[str]]) -> None:
        self.groups = groups
        self.calls: list[str] = []
        self.fail = False

    async def members(self, group_id: str) -> set[str]:
        self.calls.append(group_id)
        if self.fail:
            raise RuntimeError("slack down")
        return self.groups.get(group_id, set())


ROLES = RolesConfig(
    viewer=RoleGrant(usergroups=["S0VIEWERS"]),
    operator=RoleGrant(users=["U0OPER"]),
    admin=RoleGrant(users=["U0ADMIN"], usergroups=["S0ADMINS"]),
    usergroup_cache_seconds=60,
)

# The table the running bot has: the engine's commands and every capability's.
COMMANDS = command_table(ENGINE_COMMANDS, CAPABILITIES)


def make(directory: Directory, now: list[float]) -> Policy:
    return Policy(ROLES, ["C0LAB"], directory, clock=lambda: now[0])


async def test_highest_role_wins_and_unknown_user_has_none() -> None:
    directory = Directory({"S0VIEWERS": {"U0OPER", "U0VIEW"}, "S0ADMINS": {"U0GROUPADMIN"}})
    policy = make(directory, [0.0])
    assert (await policy.actor("U0ADMIN")).role is Role.admin
    assert (await policy.actor("U0GROUPADMIN")).role is Role.admin
    assert (await policy.actor("U0OPER")).role is Role.operator
    assert (await policy.actor("U0VIEW")).role is Role.viewer
    assert (await policy.actor("U0STRANGER")).role is None


async def test_group_membership_is_cached_until_expiry() -> None:
    directory = Directory({"S0VIEWERS": {"U0VIEW"}})
    now = [0.0]
    policy = make(directory, now)
    await policy.actor("U0VIEW")
    await policy.actor("U0VIEW")
    assert directory.calls.count("S0VIEWERS") == 1
    directory.groups["S0VIEWERS"] = set()
    now[0] = 61.0
    assert (await policy.actor("U0VIEW")).role is None
    assert directory.calls.count("S0VIEWERS") == 2


async def test_directory_failure_denies_instead_of_crashing() -> None:
    directory = Directory({})
    directory.fail = True
    policy = make(directory, [0.0])
    assert (await policy.actor("U0SOMEONE")).role is None


async def test_authorize_by_role() -> None:
    policy = make(Directory({"S0VIEWERS": {"U0VIEW"}}), [0.0])
    command = parse("whoami", COMMANDS, [])
    assert not isinstance(command, type(None))
    viewer = await policy.actor("U0VIEW")
    assert policy.authorize(viewer, command).allowed  # type: ignore[arg-type]
    stranger = await policy.actor("U0NOBODY")
    verdict = policy.authorize(stranger, command)  # type: ignore[arg-type]
    assert not verdict.allowed and "no labbot role" in verdict.reason


def test_channel_allowlist() -> None:
    policy = make(Directory({}), [0.0])
    assert policy.channel_allowed("C0LAB")
    assert not policy.channel_allowed("C0RANDOM")
    assert "<#C0LAB>" in policy.channel_refusal("C0RANDOM")


def test_table_has_no_duplicates() -> None:
    import pytest

    with pytest.raises(ValueError, match="defined twice"):
        CommandTable([*COMMANDS.specs, COMMANDS.specs[0]])
