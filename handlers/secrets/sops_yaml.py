"""Edits to a `.sops.yaml`: add or remove an age recipient, keeping every other byte as it was.

Must not write files or touch secrets; it maps text to text (recipients are public keys).

Long because: the small model of the file it reads (anchors, aliases and their line numbers)
and the three edits built on it belong in one place.

The layout is the one from the plan: each recipient is an anchored item of `keys`, and creation
rules name recipients by alias in `key_groups[].age`::

    keys:
      - &admin age1...          # comments stay
      - &node3 age1...
    creation_rules:
      - path_regex: secrets/secrets\\.yaml$
        key_groups:
          - age:
            - *admin
            - *node3

ruamel.yaml parses the text (its event stream keeps anchors, aliases and the position of each),
and the edit inserts or deletes whole lines at those positions instead of re-dumping the
document, so comments, anchors, quoting and any indentation style survive byte for byte, and
`remove_recipient(add_recipient(t, ...), name) == t`. The result is parsed again and checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from bot.errors import UserError
from bot.integrations.age_keys import Bech32Error, age_recipient_bytes
from bot.messages.core import _names as code_names
from bot.messages.core import outside

RuleSelection = Sequence[str] | Literal["all"]
"""Which creation rules get a new recipient: their `path_regex` values, or "all"."""

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

_ITEM_PREFIX = re.compile(r"^[ \t]*-[ \t]+$")  # what precedes an item alone on its line
_LINE_REST = re.compile(r"^[ \t]*(?:#.*)?$")  # what may follow it: nothing, or a comment


class SopsYamlError(UserError):
    """Raised when a `.sops.yaml` edit is refused: bad name or recipient, duplicate, odd layout."""


# --- a small composer over ruamel's events that keeps aliases and positions ---------------------


@dataclass
class _Node:
    line: int  # 0-based line of the node's first character (its anchor, if it has one)
    col: int
    end_line: int
    end_col: int
    anchor: str | None


@dataclass
class _Scalar(_Node):
    value: str


@dataclass
class _Alias(_Node):
    name: str


@dataclass
class _Seq(_Node):
    flow: bool
    items: list[_Node] = field(default_factory=list)


@dataclass
class _Map(_Node):
    entries: list[tuple[_Node, _Node]] = field(default_factory=list)

    def get(self, key: str) -> _Node | None:
        for entry_key, value in self.entries:
            if isinstance(entry_key, _Scalar) and entry_key.value == key:
                return value
        return None


def _node(first: Event, events: Iterator[Event]) -> _Node:
    start = first.start_mark
    anchor = getattr(first, "anchor", None)
    if isinstance(first, ScalarEvent):
        end = first.end_mark
        return _Scalar(start.line, start.column, end.line, end.column, anchor, first.value)
    if isinstance(first, AliasEvent):
        end = first.end_mark
        return _Alias(start.line, start.column, end.line, end.column, None, str(first.anchor))
    if isinstance(first, SequenceStartEvent):
        seq = _Seq(start.line, start.column, 0, 0, anchor, flow=bool(first.flow_style))
        for event in events:
            if isinstance(event, SequenceEndEvent):
                seq.end_line, seq.end_col = event.end_mark.line, event.end_mark.column
                return seq
            seq.items.append(_node(event, events))
    if isinstance(first, MappingStartEvent):
        mapping = _Map(start.line, start.column, 0, 0, anchor)
        for event in events:
            if isinstance(event, MappingEndEvent):
                mapping.end_line, mapping.end_col = event.end_mark.line, event.end_mark.column
                return mapping
            key = _node(event, events)
            mapping.entries.append((key, _node(next(events), events)))
    raise SopsYamlError(f"Unexpected YAML event {type(first).__name__} in .sops.yaml.")


def _compose(text: str) -> _Node:
    try:
        events = iter(list(YAML(typ="rt").parse(text)))
    except YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # A UserError is shown as it is (bot.errors): the parser quotes the file, so escaped.
        raise SopsYamlError(f".sops.yaml is not valid YAML: {outside(first_line)}.") from None
    kinds = [next(events) for _ in range(2)]
    if not isinstance(kinds[0], StreamStartEvent) or not isinstance(kinds[1], DocumentStartEvent):
        raise SopsYamlError(".sops.yaml holds no YAML document.")
    root = _node(next(events), events)
    if not isinstance(next(events), DocumentEndEvent) or not isinstance(
        next(events), StreamEndEvent
    ):
        raise SopsYamlError(".sops.yaml must hold exactly one YAML document.")
    return root


@dataclass(frozen=True)
class _Layout:
    root: _Map
    keys: _Seq
    rules: list[_Map]


def _layout(text: str) -> _Layout:
    root = _compose(text)
    if not isinstance(root, _Map):
        raise SopsYamlError(".sops.yaml must be a mapping with `keys` and `creation_rules`.")
    keys = root.get("keys")
    if not isinstance(keys, _Seq):
        raise SopsYamlError(".sops.yaml has no `keys` list of anchored age recipients.")
    rules = root.get("creation_rules")
    if not isinstance(rules, _Seq) or not all(isinstance(rule, _Map) for rule in rules.items):
        raise SopsYamlError(".sops.yaml has no `creation_rules` list of mappings.")
    return _Layout(
        root=root, keys=keys, rules=[rule for rule in rules.items if isinstance(rule, _Map)]
    )


def _path_regex(rule: _Map) -> str | None:
    value = rule.get("path_regex")
    return value.value if isinstance(value, _Scalar) else None


def _anchors(node: _Node) -> Iterator[str]:
    if node.anchor is not None:
        yield node.anchor
    if isinstance(node, _Seq):
        for item in node.items:
            yield from _anchors(item)
    elif isinstance(node, _Map):
        for key, value in node.entries:
            yield from _anchors(key)
            yield from _anchors(value)


def _alias_sites(node: _Node, name: str) -> Iterator[tuple[_Node, _Alias]]:
    """Every alias of `name` with its parent collection."""
    children: list[_Node] = []
    if isinstance(node, _Seq):
        children = node.items
    elif isinstance(node, _Map):
        children = [part for entry in node.entries for part in entry]
    for child in children:
        if isinstance(child, _Alias) and child.name == name:
            yield node, child
        else:
            yield from _alias_sites(child, name)


# --- queries ------------------------------------------------------------------------------------


def recipients(text: str) -> dict[str, str]:
    """The anchored recipients under `keys`, by anchor name, in file order."""
    return {
        item.anchor: item.value
        for item in _layout(text).keys.items
        if isinstance(item, _Scalar) and item.anchor is not None
    }


def rule_files(text: str) -> list[str]:
    """The `path_regex` of each creation rule, in file order (rules without one are left out)."""
    return [regex for rule in _layout(text).rules if (regex := _path_regex(rule)) is not None]


# --- edits --------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :]


def _lone_item_prefix(lines: list[str], item: _Node, what: str) -> str:
    """The text before `item` on its line, when the item stands alone on that line."""
    line = lines[item.line]
    prefix = line[: item.col]
    rest = line[item.end_col :] if item.end_line == item.line else None
    if not _ITEM_PREFIX.match(prefix) or rest is None or not _LINE_REST.match(rest.rstrip("\r\n")):
        raise SopsYamlError(
            f"Cannot edit {what} on line {item.line + 1}: only block lists with one item per line "
            "are supported."
        )
    return prefix


@dataclass(frozen=True)
class _Insert:
    after: int  # 0-based line index the new line follows
    text: str  # without line ending


def _apply_inserts(lines: list[str], inserts: list[_Insert]) -> str:
    out = list(lines)
    for insert in sorted(inserts, key=lambda i: i.after, reverse=True):
        previous = out[insert.after]
        ending = _ending(previous)
        if not ending:  # the last line had no terminator: the new line becomes the last one
            out[insert.after] = previous + "\n"
        out.insert(insert.after + 1, insert.text + ending)
    return "".join(out)


def _append_after_last(lines: list[str], seq: _Seq, text: str, what: str) -> _Insert:
    if seq.flow or not seq.items:
        raise SopsYamlError(f"Cannot add to {what}: it must be a non-empty block list.")
    last = seq.items[-1]
    return _Insert(after=last.line, text=_lone_item_prefix(lines, last, what) + text)


def _selected_rules(layout: _Layout, rules: RuleSelection) -> list[_Map]:
    if rules == "all":
        return list(layout.rules)
    if isinstance(rules, str):
        raise SopsYamlError('Rules must be a list of path_regex values or "all".')
    known = {_path_regex(rule): rule for rule in layout.rules}
    missing = [regex for regex in rules if regex not in known]
    if missing:
        listed = code_names([regex for regex in known if regex is not None]) or "(none)"
        raise SopsYamlError(
            f"No creation rule has path_regex {code_names(missing)}. Known: {listed}."
        )
    return [known[regex] for regex in dict.fromkeys(rules)]


def _age_lists(rule: _Map) -> list[_Seq]:
    regex = _path_regex(rule)
    groups = rule.get("key_groups")
    if not isinstance(groups, _Seq) or not groups.items:
        raise SopsYamlError(f"Creation rule `{outside(str(regex))}` has no key_groups list.")
    lists: list[_Seq] = []
    for group in groups.items:
        age = group.get("age") if isinstance(group, _Map) else None
        if not isinstance(age, _Seq):
            raise SopsYamlError(
                f"A key group of creation rule `{outside(str(regex))}` has no `age` list."
            )
        lists.append(age)
    return lists


def validate_name(name: str) -> None:
    """Raise `SopsYamlError` unless `name` is usable as a recipient's anchor."""
    if not NAME_PATTERN.match(name):
        raise SopsYamlError(
            f"`{name}` is not a valid key name: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit."
        )


def validate_recipient(recipient: str) -> None:
    """Raise `SopsYamlError` unless `recipient` is an age X25519 recipient (`age1...`)."""
    try:
        age_recipient_bytes(recipient)
    except Bech32Error as exc:
        raise SopsYamlError(f"`{recipient[:80]}` is not an age recipient: {exc}.") from None


def add_recipient(text: str, name: str, recipient: str, rules: RuleSelection) -> str:
    """Add `- &name recipient` to `keys` and `- *name` to the age lists of the chosen rules."""
    validate_name(name)
    validate_recipient(recipient)
    layout = _layout(text)
    if name in set(_anchors(layout.root)):
        raise SopsYamlError(f"The key name `{name}` is already used in .sops.yaml.")
    for existing, value in recipients(text).items():
        if value == recipient:
            raise SopsYamlError(f"That recipient is already in .sops.yaml as `{existing}`.")
    lines = _lines(text)
    inserts = [_append_after_last(lines, layout.keys, f"&{name} {recipient}", "`keys`")]
    targets = _selected_rules(layout, rules)
    for rule in targets:
        for age in _age_lists(rule):
            what = f"the age list of rule `{_path_regex(rule)}`"
            inserts.append(_append_after_last(lines, age, f"*{name}", what))
    result = _apply_inserts(lines, inserts)
    _check_added(result, name, recipient, [_path_regex(rule) for rule in targets])
    return result


def _key_item(layout: _Layout, text: str, name: str) -> _Scalar:
    """The `&name` item of `keys`; refuses, naming the known keys, when there is none."""
    for item in layout.keys.items:
        if isinstance(item, _Scalar) and item.anchor == name:
            return item
    known = ", ".join(f"`{n}`" for n in recipients(text)) or "(none)"
    raise SopsYamlError(f"No key named `{name}` in .sops.yaml. Known: {known}.")


def replace_recipient(text: str, name: str, recipient: str) -> str:
    """Give the key `&name` a new recipient in `keys`; every `*name` in the rules follows it.

    The one line is edited in place, comments and layout kept.
    """
    validate_recipient(recipient)
    layout = _layout(text)
    key = _key_item(layout, text, name)
    for existing, value in recipients(text).items():
        if value == recipient and existing != name:
            raise SopsYamlError(f"That recipient is already in .sops.yaml as `{existing}`.")
    old = key.value
    lines = _lines(text)
    line = lines[key.line]
    if line.count(old) != 1:
        raise SopsYamlError(f"The key `{name}` must be on one line of its own; edit it by hand.")
    lines[key.line] = line.replace(old, recipient)
    result = "".join(lines)
    if recipients(result).get(name) != recipient:
        raise SopsYamlError(f"Internal error: `{name}` did not get its new recipient.")
    return result


def remove_recipient(text: str, name: str) -> str:
    """Remove the `&name` item from `keys` and every `*name` alias; refuse to empty an age list."""
    layout = _layout(text)
    lines = _lines(text)
    key = _key_item(layout, text, name)
    if layout.keys.flow:
        raise SopsYamlError("Cannot edit `keys`: it must be a block list.")
    _lone_item_prefix(lines, key, f"key `{name}`")
    doomed = {key.line}
    for parent, alias in _alias_sites(layout.root, name):
        if not isinstance(parent, _Seq) or parent.flow:
            raise SopsYamlError(
                f"`*{name}` on line {alias.line + 1} is not an item of a block list; edit it by hand."
            )
        _lone_item_prefix(lines, alias, f"`*{name}`")
        others = [item for item in parent.items if not _names(item, name)]
        if not others:
            raise SopsYamlError(
                f"Removing `{name}` would leave the list on line {parent.line + 1} with no "
                "recipient; add another key there first."
            )
        doomed.add(alias.line)
    kept = [line for index, line in enumerate(lines) if index not in doomed]
    if kept and (len(lines) - 1) in doomed and not _ending(lines[-1]):
        kept[-1] = kept[-1].rstrip("\r\n")  # undo the terminator add_recipient gave that line
    result = "".join(kept)
    if name in recipients(result) or any(True for _ in _alias_sites(_layout(result).root, name)):
        raise SopsYamlError(f"Internal error: `{name}` is still in .sops.yaml after removal.")
    return result


def _names(node: _Node, name: str) -> bool:
    return isinstance(node, _Alias) and node.name == name


def _check_added(text: str, name: str, recipient: str, regexes: list[str | None]) -> None:
    """Parse the edited text again and confirm the rules resolve `name` to `recipient`."""
    layout = _layout(text)
    if recipients(text).get(name) != recipient:
        raise SopsYamlError(f"Internal error: `{name}` did not land in `keys`.")
    for rule in layout.rules:
        if _path_regex(rule) in regexes:
            for age in _age_lists(rule):
                if not any(_names(item, name) for item in age.items):
                    raise SopsYamlError(f"Internal error: `*{name}` missing from a rule.")
