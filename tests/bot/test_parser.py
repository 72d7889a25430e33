"""The /lab parser: commands, usage errors, suggestions and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.capabilities import CAPABILITIES
from bot.capability import command_table
from bot.command_spec import (
    Approval,
    Arg,
    ArgKind,
    Command,
    CommandSpec,
    CommandTable,
    Flag,
    RoleRule,
)
from bot.commands import ENGINE_COMMANDS
from bot.config import Role
from bot.outcome import Outcome, Reply
from bot.parser import parse

# The table the running bot has: the engine's commands and every capability's.
COMMANDS = command_table(ENGINE_COMMANDS, CAPABILITIES)
NODES = ["tp-node1", "tp-node2", "tp-node3"]


async def nothing(ctx: object, command: Command) -> Outcome:
    return None


# The real table without the commands this file redefines in a simplified form.
DEMO = CommandTable(
    [s for s in COMMANDS if s.name not in {"power", "deploy", "uart send", "rollback"}]
).extended(
    CommandSpec(
        name="power",
        summary="power",
        role=Role.operator,
        handler=nothing,
        args=(
            Arg("node", ArgKind.node, "a node"),
            Arg("action", ArgKind.choice, "what", choices=("on", "off", "reset", "status")),
        ),
        approval=Approval.approval,
        role_rules=(RoleRule("action", "status", Role.viewer, Approval.none),),
    ),
    CommandSpec(
        name="deploy",
        summary="deploy",
        role=Role.operator,
        handler=nothing,
        args=(Arg("targets", ArgKind.targets, "targets"),),
        flags=(Flag("goal", "goal", choices=("switch", "boot")), Flag("here", "in channel")),
    ),
    CommandSpec(
        name="uart send",
        summary="send",
        role=Role.admin,
        handler=nothing,
        args=(Arg("node", ArgKind.node, "a node"), Arg("line", ArgKind.text, "text")),
    ),
    CommandSpec(
        name="rollback",
        summary="rollback",
        role=Role.operator,
        handler=nothing,
        args=(
            Arg("node", ArgKind.node, "n"),
            Arg("generation", ArgKind.integer, "g", optional=True),
        ),
    ),
)


def parsed(text: str) -> Command:
    result = parse(text, DEMO, NODES)
    assert isinstance(result, Command), result
    return result


def refused(text: str) -> str:
    result = parse(text, DEMO, NODES)
    assert isinstance(result, Reply), result
    return result.text


def test_empty_text_is_help() -> None:
    assert parsed("").name == "help"
    assert parsed("   ").name == "help"


def test_help_with_topic() -> None:
    assert parsed("help deploy").arg("command") == "deploy"


def test_unknown_command_suggests_the_closest() -> None:
    assert "Did you mean `deploy`?" in refused("deplyo tp-node3")
    text = refused("frobnicate")
    assert "Unknown command `frobnicate`" in text and "Did you mean" not in text


def test_flags_with_values_and_switches() -> None:
    command = parsed("deploy tp-node3,@k3s --goal boot --here")
    assert command.args == {"targets": "tp-node3,@k3s", "goal": "boot", "here": True}
    assert parsed("deploy all --goal=switch").arg("goal") == "switch"
    assert parsed("deploy all").arg("goal") is None


def test_bad_flag_values() -> None:
    assert "must be one of `switch`, `boot`" in refused("deploy all --goal reboot")
    assert "Unknown option `--force`" in refused("deploy all --force")
    assert "needs a value" in refused("deploy all --goal")


def test_unknown_node_lists_known_ones() -> None:
    text = refused("power tp-node9 on")
    assert "`tp-node9` is not a node I know" in text
    assert "`tp-node1`, `tp-node2`, `tp-node3`" in text


def test_choice_and_missing_and_extra_arguments() -> None:
    assert "must be one of" in refused("power tp-node3 explode")
    assert "`ACTION` is missing" in refused("power tp-node3")
    assert "Unexpected extra argument" in refused("power tp-node3 on now")


def test_integer_argument() -> None:
    assert parsed("rollback tp-node3 41").arg("generation") == 41
    assert parsed("rollback tp-node3").arg("generation") is None
    assert "not a valid GENERATION" in refused("rollback tp-node3 -1x")


@pytest.mark.parametrize(
    "text",
    [
        "power tp-node3;reboot on",
        "power tp-node3 on;reboot",
        "deploy tp-node3|cat",
        "deploy $(id)",
        "deploy `id`",
        "deploy tp-node3&&true",
        "power tp-node3 'on; rm -rf /'",
    ],
)
def test_shell_metacharacters_are_refused(text: str) -> None:
    assert "shell metacharacters" in refused(text) or "must be one of" in refused(text)


def test_oversized_and_control_characters() -> None:
    assert "limit is 1000" in refused("deploy " + "a" * 2000)
    assert "control characters" in refused("deploy tp-node3\x00")
    assert "unclosed quote" in refused('deploy "tp-node3')


def test_free_text_keeps_its_spacing_and_options() -> None:
    command = parsed("uart send tp-node3 systemctl status  --no-pager k3s")
    assert command.arg("line") == "systemctl status  --no-pager k3s"
    assert parsed("uart send tp-node3 'echo a;b'").arg("line") == "echo a;b"


def test_role_rules_pick_the_form() -> None:
    status = parsed("power tp-node3 status")
    assert status.spec.rule_for(status.args) == (Role.viewer, Approval.none)
    off = parsed("power tp-node3 off")
    assert off.spec.rule_for(off.args) == (Role.operator, Approval.approval)


def test_two_word_commands_match_first() -> None:
    assert parsed("uart send tp-node3 ls").name == "uart send"


@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    result = parse(text, DEMO, NODES)
    assert isinstance(result, Command | Reply)


@given(st.text(alphabet=";&|$`<>(){}\\\"'!", min_size=1, max_size=5))
def test_metacharacters_never_reach_a_node_argument(meta: str) -> None:
    result = parse(f"power tp-node3{meta} on", DEMO, NODES)
    if isinstance(result, Command):  # quotes may be consumed by shlex into an exact node name
        assert result.arg("node") in NODES


def test_every_command_has_a_handler_and_help_text() -> None:
    for spec in COMMANDS:
        assert callable(spec.handler), spec.name
        assert spec.summary and spec.example, spec.name


@pytest.mark.parametrize("text", ["sops", "sops rotat", "sops  "])
def test_a_command_group_alone_lists_its_commands(text: str) -> None:
    reply = parse(text, COMMANDS, NODES)

    assert isinstance(reply, Reply)
    assert reply.text.startswith("`/lab sops` needs one of these:")
    assert "• `/lab sops rotate`: New data keys" in reply.text
    assert "`/lab sops remove-node NODE`" in reply.text
    assert "Did you mean" not in reply.text
