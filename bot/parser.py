"""Turns the text after `/lab` into a validated `Command`, or a `Reply` to send back now.

User input never raises out of `parse`; nothing here touches the lab.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection

from bot import messages
from bot.command_spec import (
    Arg,
    ArgKind,
    ArgValue,
    Command,
    CommandSpec,
    CommandTable,
    Flag,
)
from bot.config import NAME_PATTERN
from bot.outcome import Reply

MAX_TEXT = 1000
# Characters a shell would act on; no argument other than free text may contain them.
SHELL_META = re.compile(r"[;&|$`<>(){}\\\"'!\n\r\t]")
PATTERNS: dict[ArgKind, re.Pattern[str]] = {
    ArgKind.node: re.compile(NAME_PATTERN),
    ArgKind.targets: re.compile(r"^(all|@?[a-z0-9*?\[\]_-]{1,63})(,(@?[a-z0-9*?\[\]_-]{1,63}))*$"),
    ArgKind.integer: re.compile(r"^[0-9]{1,9}$"),
    ArgKind.word: re.compile(r"^[A-Za-z0-9._:/+@=-]{1,512}$"),
    ArgKind.command: re.compile(r"^[a-z-]{1,32}$"),
}


class _Invalid(Exception):
    """Internal: carries the reply for an argument that does not validate."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def parse(
    text: str, table: CommandTable, nodes: Collection[str], prefix: str = "/lab"
) -> Command | Reply:
    """Parse `text` against the table; unknown nodes are refused against `nodes`."""
    if len(text) > MAX_TEXT:
        return Reply(messages.text_too_long(len(text), MAX_TEXT))
    if any(ord(c) < 32 and c not in "\t" for c in text):
        return Reply(messages.control_characters())
    try:
        words = shlex.split(text)
    except ValueError:
        return Reply(messages.unbalanced_quotes())
    if not words:
        words = ["help"]
    spec, used = table.match(words)
    if spec is None:
        group = [s for s in table if s.name.split()[0] == words[0] and " " in s.name]
        if group:  # `/lab sops` alone, or with a subcommand that does not exist
            lines = [f"`{s.usage(prefix)}`: {s.summary}" for s in group]
            return Reply(messages.command_group(words[0], lines, prefix))
        return Reply(messages.unknown_command(words[0], table.suggest(words[0]), prefix))
    try:
        args = _bind(spec, words[used:], text, nodes)
    except _Invalid as invalid:
        return Reply(messages.usage_error(invalid.text, spec.usage(prefix)))
    return Command(spec=spec, args=args, text=text)


def _bind(
    spec: CommandSpec, words: list[str], text: str, nodes: Collection[str]
) -> dict[str, ArgValue]:
    values: dict[str, ArgValue] = {f.name: f.default for f in spec.flags}
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and not _rest_is_text(spec, positional):
            flag, inline = _flag(spec, word)
            if flag.takes_value:
                if inline is None:
                    i += 1
                    if i >= len(words):
                        raise _Invalid(messages.flag_needs_value(flag.name))
                    inline = words[i]
                values[flag.name] = _flag_value(flag, inline)
            else:
                if inline is not None:
                    raise _Invalid(messages.flag_takes_no_value(flag.name))
                values[flag.name] = True
        else:
            positional.append(word)
        i += 1
    _bind_positional(spec, positional, text, nodes, values)
    return values


def _rest_is_text(spec: CommandSpec, positional: list[str]) -> bool:
    # Once a free-text argument has started, `--x` belongs to the text (e.g. a UART command).
    index = min(len(positional), len(spec.args)) - 1
    return index >= 0 and spec.args[index].kind is ArgKind.text


def _flag(spec: CommandSpec, word: str) -> tuple[Flag, str | None]:
    name, _, inline = word[2:].partition("=")
    flag = next((f for f in spec.flags if f.name == name), None)
    if flag is None:
        known = ", ".join(f"--{f.name}" for f in spec.flags) or "none"
        raise _Invalid(messages.unknown_flag(name, known))
    return flag, (inline if "=" in word else None)


def _flag_value(flag: Flag, value: str) -> ArgValue:
    if flag.value_pattern:
        if not re.fullmatch(flag.value_pattern, value):
            raise _Invalid(messages.flag_value_invalid(flag.name, value, flag.value_hint))
        return value
    if flag.integer:
        if not PATTERNS[ArgKind.integer].match(value):
            raise _Invalid(messages.not_an_integer(f"--{flag.name}", value))
        return int(value)
    if value not in flag.choices:
        raise _Invalid(messages.not_a_choice(f"--{flag.name}", value, flag.choices))
    return value


def _bind_positional(
    spec: CommandSpec,
    words: list[str],
    text: str,
    nodes: Collection[str],
    values: dict[str, ArgValue],
) -> None:
    for index, arg in enumerate(spec.args):
        if arg.kind is ArgKind.text:
            if index >= len(words):
                if not arg.optional:
                    raise _Invalid(messages.missing_argument(arg.name))
                values[arg.name] = None
            else:
                values[arg.name] = _free_text(text, words, index)
            return
        if index >= len(words):
            if not arg.optional:
                raise _Invalid(messages.missing_argument(arg.name))
            values[arg.name] = None
            continue
        values[arg.name] = _validate(arg, words[index], nodes)
    if len(words) > len(spec.args):
        raise _Invalid(messages.extra_arguments(words[len(spec.args) :]))


def _free_text(text: str, words: list[str], index: int) -> str:
    # The verbatim remainder after the words before it, so quoting and spacing survive.
    rest = text.strip()
    for word in words[:index]:
        position = rest.find(word)
        rest = rest[position + len(word) :] if position >= 0 else rest
    rest = rest.strip()
    if rest.startswith(("'", '"')) and len(words) == index + 1:
        return words[index]
    return rest


def _validate(arg: Arg, word: str, nodes: Collection[str]) -> ArgValue:
    if SHELL_META.search(word):
        raise _Invalid(messages.shell_metacharacters(arg.name, word))
    if arg.kind is ArgKind.choice:
        if word not in arg.choices:
            raise _Invalid(messages.not_a_choice(arg.name.upper(), word, arg.choices))
        return word
    pattern = PATTERNS[arg.kind]
    if not pattern.match(word):
        raise _Invalid(messages.malformed_argument(arg.name, word))
    if arg.kind is ArgKind.integer:
        return int(word)
    if arg.kind is ArgKind.node and word not in nodes:
        raise _Invalid(messages.unknown_node(word, sorted(nodes)))
    return word
