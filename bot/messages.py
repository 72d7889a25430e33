"""Every sentence a Slack user sees, one function per message, so wording is reviewed in one place.

Returns plain mrkdwn strings; must never be handed a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def _names(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


# --- parsing --------------------------------------------------------------------------------


def text_too_long(length: int, limit: int) -> str:
    """The command text is over the limit."""
    return f"That command is {length} characters long; the limit is {limit}. Nothing was run."


def control_characters() -> str:
    """The command text holds control characters."""
    return "That command contains control characters. Nothing was run."


def unbalanced_quotes() -> str:
    """shlex could not split the text."""
    return "That command has an unclosed quote. Nothing was run."


def unknown_command(word: str, suggestion: str | None, prefix: str) -> str:
    """No command has this name."""
    hint = f" Did you mean `{suggestion}`?" if suggestion else ""
    return f"Unknown command `{word}`.{hint} Type `{prefix} help` for the list."


def usage_error(problem: str, usage: str) -> str:
    """The arguments do not fit the command."""
    return f"{problem}\nUsage: `{usage}`"


def flag_needs_value(flag: str) -> str:
    """A flag was given without its value."""
    return f"`--{flag}` needs a value."


def flag_takes_no_value(flag: str) -> str:
    """A switch was given a value."""
    return f"`--{flag}` takes no value."


def unknown_flag(flag: str, known: str) -> str:
    """The command has no such flag."""
    return f"Unknown option `--{flag}` (options: {known})."


def not_an_integer(name: str, value: str) -> str:
    """An integer argument is not one."""
    return f"`{name}` must be a whole number, not `{value}`."


def not_a_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """A choice argument holds something else."""
    return f"`{name}` must be one of {_names(choices)}, not `{value}`."


def missing_argument(name: str) -> str:
    """A required argument is missing."""
    return f"`{name.upper()}` is missing."


def extra_arguments(words: Sequence[str]) -> str:
    """More words than the command takes."""
    return f"Unexpected extra argument(s): {_names(words)}."


def shell_metacharacters(name: str, word: str) -> str:
    """An argument holds characters a shell would act on."""
    return f"`{name.upper()}` may not contain shell metacharacters (`;&|$<>` and the like). Nothing was run."


def malformed_argument(name: str, word: str) -> str:
    """An argument does not match its pattern."""
    shown = word if len(word) <= 64 else word[:61] + "..."
    return f"`{shown}` is not a valid {name.upper()}."


def unknown_node(name: str, known: Sequence[str]) -> str:
    """A node name is not in the inventory."""
    return f"`{name}` is not a node I know. Known nodes: {_names(known) or '(none configured)'}."


# --- policy ---------------------------------------------------------------------------------


def channel_not_allowed(channel: str, allowed: Sequence[str]) -> str:
    """Commands are not accepted in this channel."""
    where = ", ".join(f"<#{c}>" for c in allowed)
    return f"labbot does not take commands in this channel. Use {where}."


def no_role(user: str) -> str:
    """The user holds no role at all."""
    return (
        f"<@{user}>, you have no labbot role, so I can't run anything for you. "
        "Ask an admin to add your Slack user ID (or a user group you are in) to `roles` in the config."
    )


def role_too_low(command: str, needed: str, have: str) -> str:
    """The user's role is below what the command needs."""
    return f"`{command}` needs the {needed} role; you are {have}. Nothing was run."


# --- help and whoami ------------------------------------------------------------------------


def help_header(prefix: str) -> str:
    """First line of `/lab help`."""
    return f"*labbot* drives the lab from Slack. Commands you can run (`{prefix} help COMMAND` for details):"


def help_needs_higher_role(names: Sequence[str]) -> str:
    """Commands hidden from the list because they need a higher role."""
    return f"Needing a higher role: {_names(names)}."


def unknown_help_topic(name: str, suggestion: str | None, prefix: str) -> str:
    """`/lab help X` for an unknown X."""
    return unknown_command(name, suggestion, prefix)


def whoami(user: str, role: str | None, commands: Sequence[str]) -> str:
    """`/lab whoami`."""
    if role is None:
        return no_role(user)
    return f"You are <@{user}>, role *{role}*. You may run: {_names(commands)}."


# --- failures -------------------------------------------------------------------------------


def internal_error(reference: str) -> str:
    """An unexpected exception; details are in the log only."""
    return (
        f"Something went wrong inside labbot (reference `{reference}`); the details are in its log."
    )


def button_not_valid() -> str:
    """A click on a button labbot does not know (stale, forged or from an old release)."""
    return "That button is no longer valid. Nothing was done."


def shutting_down() -> str:
    """A command arrived while labbot is stopping."""
    return "labbot is restarting; nothing was run. Try again in a minute."
