"""The shape of a `/lab` command: its arguments, flags, role and approval rule, and a parsed command.

Holds types only; the engine's commands are in `bot/commands.py`, each capability's in its package
(`handlers/<capability>/__init__.py`), joined by `bot.capability.command_table`; the parser is
`bot/parser.py`.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.config import ApprovalsConfig, Role

if TYPE_CHECKING:
    from bot.context import HandlerContext
    from bot.outcome import Outcome


class ArgKind(StrEnum):
    """What an argument may hold; each kind has a strict pattern in the parser."""

    node = "node"  # one inventory node name
    targets = "targets"  # names, globs, @tags, comma lists, `all`
    choice = "choice"  # one of `choices`
    integer = "integer"  # a non-negative integer
    word = "word"  # a path-like token without shell metacharacters
    command = "command"  # the name of a /lab command
    text = "text"  # the rest of the line, verbatim (never reaches a shell)


class Approval(StrEnum):
    """Whether a command needs an approval click before it changes the lab."""

    none = "none"
    approval = "approval"  # anyone with the role may approve, the requester included
    four_eyes = "four_eyes"  # a second person with the role must approve


def configured_approval(
    approvals: ApprovalsConfig, command: str, node_tags: Iterable[str], declared: Approval
) -> Approval:
    """`declared` (a command's or a plan's own rule) under the approvals config, for nodes
    with `node_tags` (`sops-rotate` counts as `sops`). What never asks (`power NODE on`)
    stays `none`; a command the section does not cover keeps its own rule."""
    if declared is Approval.none:
        return declared
    approver = approvals.approver(command.split()[0].split("-", 1)[0], node_tags)
    if approver is None:
        return declared
    return {"self": Approval.approval, "other": Approval.four_eyes}.get(approver, Approval.none)


@dataclass(frozen=True)
class Arg:
    """A positional argument."""

    name: str
    kind: ArgKind
    help: str
    optional: bool = False
    choices: tuple[str, ...] = ()

    def usage(self) -> str:
        """`NODE`, `[GENERATION]`, `on|off|reset|status`."""
        label = "|".join(self.choices) if self.choices else self.name.upper()
        return f"[{label}]" if self.optional else label


@dataclass(frozen=True)
class Flag:
    """An option like `--goal switch` (with a value) or `--here` (a switch)."""

    name: str
    help: str
    choices: tuple[str, ...] = ()
    integer: bool = False
    default: str | int | bool | None = None
    # A value checked by this regular expression (whole value); `value_hint` says what it wants.
    value_pattern: str = ""
    value_hint: str = ""

    @property
    def takes_value(self) -> bool:
        """Whether the flag is followed by a value."""
        return bool(self.choices) or self.integer or bool(self.value_pattern)

    def usage(self) -> str:
        """`[--goal switch|boot]`."""
        if self.choices:
            return f"[--{self.name} {'|'.join(self.choices)}]"
        if self.integer:
            return f"[--{self.name} N]"
        if self.value_pattern:
            return f"[--{self.name} {self.name.upper()}]"
        return f"[--{self.name}]"


ArgValue = str | int | bool | None
Handler = Callable[["HandlerContext", "Command"], Awaitable["Outcome"]]


@dataclass(frozen=True)
class CommandForm:
    """One form of a command as help shows it: `power status`, with its usage and role."""

    name: str
    usage: str
    role: Role
    approval: Approval


@dataclass(frozen=True)
class RoleRule:
    """A stricter or looser role when an argument has a given value (`power … status` is viewer)."""

    arg: str
    value: str
    role: Role
    approval: Approval


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table: everything parsing, help and authorization need."""

    name: str
    summary: str
    role: Role
    handler: Handler
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    approval: Approval = Approval.none
    example: str = ""
    role_rules: tuple[RoleRule, ...] = ()

    def usage(self, prefix: str = "/lab") -> str:
        """`/lab deploy TARGETS [--goal switch|boot|test|dry-activate]`."""
        parts = [
            prefix,
            self.name,
            *(a.usage() for a in self.args),
            *(f.usage() for f in self.flags),
        ]
        return " ".join(parts)

    def forms(self, prefix: str = "/lab") -> list[CommandForm]:
        """The command's forms, one per value of the argument its role rules depend on
        (`power NODE status` for viewers, `power NODE off` for operators), else one."""
        if not self.role_rules:
            return [CommandForm(self.name, self.usage(prefix), self.role, self.approval)]
        arg = self.role_rules[0].arg
        spec_arg = next(a for a in self.args if a.name == arg)
        flags = [f.usage() for f in self.flags]
        out = []
        if spec_arg.optional:  # left out: the command's own role (`renovate` lists)
            words = [a.usage() for a in self.args if a is not spec_arg]
            usage = " ".join([prefix, self.name, *words, *flags])
            out.append(CommandForm(self.name, usage, self.role, self.approval))
        for value in spec_arg.choices:
            role, approval = self.rule_for({arg: value})
            words = [a.usage() if a is not spec_arg else value for a in self.args]
            usage = " ".join([prefix, self.name, *words, *flags])
            out.append(CommandForm(f"{self.name} {value}", usage, role, approval))
        return out

    def rule_for(self, args: Mapping[str, ArgValue]) -> tuple[Role, Approval]:
        """The role and approval this invocation needs, after argument-specific rules."""
        for rule in self.role_rules:
            if args.get(rule.arg) == rule.value:
                return rule.role, rule.approval
        return self.role, self.approval


@dataclass(frozen=True)
class Command:
    """A parsed, validated invocation of a command."""

    spec: CommandSpec
    args: Mapping[str, ArgValue]
    text: str

    @property
    def name(self) -> str:
        """The command's name."""
        return self.spec.name

    def arg(self, name: str) -> ArgValue:
        """One argument's or flag's value (None when an optional one was not given)."""
        return self.args.get(name)


@dataclass
class CommandTable:
    """The ordered set of commands, looked up by (possibly multi-word) name."""

    specs: list[CommandSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [s.name for s in self.specs]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"commands defined twice: {sorted(duplicates)}")

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self.specs)

    def get(self, name: str) -> CommandSpec | None:
        """The command with exactly this name."""
        return next((s for s in self.specs if s.name == name), None)

    def match(self, words: list[str]) -> tuple[CommandSpec | None, int]:
        """The command whose name is the longest prefix of `words`, and how many words it used."""
        for length in (2, 1):
            if len(words) >= length:
                spec = self.get(" ".join(words[:length]))
                if spec is not None:
                    return spec, length
        return None, 0

    def suggest(self, word: str) -> str | None:
        """The closest command name to a mistyped one, if any is close."""
        names = sorted({s.name.split()[0] for s in self.specs})
        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        return close[0] if close else None

    def extended(self, *specs: CommandSpec) -> CommandTable:
        """A new table with more commands (tests add slow or failing commands this way)."""
        return CommandTable([*self.specs, *specs])
