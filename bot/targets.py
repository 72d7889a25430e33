"""Resolves deploy TARGETS (names, globs, `@tag` globs, comma lists, `all`) to inventory nodes.

Pure: no I/O, no colmena; must not accept anything that matches no node (colmena would exit 0).

Usage::

    names = resolve_targets("tp-node*,@k3s-server", config.inventory.nodes)  # ("tp-node1", ...)

Rules follow colmena's `--on` (zhaofengli/colmena 0.4.0): comma-separated, whitespace-trimmed,
OR'd; a rule is a glob (`*`, `?`, `[...]`) on the node name, or `@glob` on its tags. `all` is
every node that is not `deferred`. The result keeps inventory order, without duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Protocol, TypeVar

from bot import messages
from bot.errors import UnknownTarget, UsageError, UserError

ALL = "all"
N = TypeVar("N", bound="TargetNode")


class TargetNode(Protocol):
    """What the resolver needs of an inventory node (`bot.config.Node` has it)."""

    @property
    def name(self) -> str:
        """The node's name."""
        ...

    @property
    def tags(self) -> Sequence[str]:
        """Its colmena tags."""
        ...

    @property
    def deferred(self) -> bool:
        """Whether `all` leaves it out."""
        ...


class UnknownTag(UnknownTarget):
    """Raised when an `@tag` rule matches no node's tags; the message lists the known tags."""

    def __init__(self, target: str, known_tags: Sequence[str]) -> None:
        UserError.__init__(self, messages.unknown_tag(target, known_tags))
        self.target = target
        self.known = list(known_tags)


class EmptySelection(UserError):
    """Raised when the targets select no node at all (e.g. `all` when every node is deferred)."""

    def __init__(self, targets: str, deferred: Sequence[str]) -> None:
        super().__init__(messages.empty_selection(targets, deferred))
        self.targets = targets


class EmptyTargetRule(UsageError):
    """Raised for an empty rule in a comma list (`a,,b`), as colmena refuses it."""

    def __init__(self, targets: str) -> None:
        super().__init__(messages.empty_target_rule(targets))
        self.targets = targets


def named_node(name: str, nodes: Sequence[N]) -> N:
    """The node called `name`; a `UserError` listing the known names if there is none (the
    parser checks names, so only an inventory changed since gets here)."""
    node = next((n for n in nodes if n.name == name), None)
    if node is None:
        raise UserError(messages.unknown_node(name, [n.name for n in nodes]))
    return node


def resolve_targets(targets: str, nodes: Sequence[TargetNode]) -> tuple[str, ...]:
    """The names `targets` selects, in inventory order; raises a `UserError` naming the problem.

    Every rule must match at least one node; a rule that matches nothing is `UnknownTarget`
    (or `UnknownTag`) listing what is known, so a typo never narrows a deploy silently.
    """
    rules = [rule.strip() for rule in targets.split(",")]
    if not targets.strip() or any(not rule for rule in rules):
        raise EmptyTargetRule(targets)
    chosen: set[str] = set()
    for rule in rules:
        matched = _match(rule, nodes)
        if not matched and rule != ALL:
            if rule.startswith("@"):
                raise UnknownTag(rule, known_tags(nodes))
            raise UnknownTarget(rule, sorted(node.name for node in nodes))
        chosen.update(matched)
    selected = tuple(node.name for node in nodes if node.name in chosen)
    if not selected:
        raise EmptySelection(targets, [node.name for node in nodes if node.deferred])
    return selected


def _match(rule: str, nodes: Sequence[TargetNode]) -> set[str]:
    if rule == ALL:
        return {node.name for node in nodes if not node.deferred}
    if rule.startswith("@"):
        pattern = rule[1:]
        return {node.name for node in nodes if any(fnmatchcase(tag, pattern) for tag in node.tags)}
    return {node.name for node in nodes if fnmatchcase(node.name, rule)}


def known_tags(nodes: Sequence[TargetNode]) -> list[str]:
    """Every tag in the inventory, sorted."""
    return sorted({tag for node in nodes for tag in node.tags})
