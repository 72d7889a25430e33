"""colmena's `--on` node filter: comma-separated globs on names, `@glob` on tags (OR'd).

Mirrors `src/nix/node_filter.rs`: blank filter warns and matches nothing, an empty rule is an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from labsim.colmena.hive import InventoryNode


class FilterError(ValueError):
    """Raised for an invalid `--on` value (colmena: "Filter rule cannot be empty", exit 1)."""


@dataclass(frozen=True)
class NodeFilter:
    """Parsed `--on` rules: (is_tag, glob) pairs; no rules matches nothing."""

    rules: tuple[tuple[bool, str], ...]
    blank: bool = False

    @classmethod
    def parse(cls, text: str) -> NodeFilter:
        """Parse a `--on` value."""
        trimmed = text.strip()
        if not trimmed:
            return cls(rules=(), blank=True)
        rules = []
        for raw in trimmed.split(","):
            pattern = raw.strip()
            if not pattern:
                raise FilterError("Filter rule cannot be empty")
            if pattern.startswith("@"):
                rules.append((True, pattern[1:]))
            else:
                rules.append((False, pattern))
        return cls(rules=tuple(rules))

    def matches(self, node: InventoryNode) -> bool:
        """Whether any rule selects the node."""
        for is_tag, pattern in self.rules:
            if is_tag and any(fnmatchcase(tag, pattern) for tag in node.tags):
                return True
            if not is_tag and fnmatchcase(node.name, pattern):
                return True
        return False

    def select(self, nodes: Iterable[InventoryNode]) -> list[InventoryNode]:
        """The selected nodes, in the given order."""
        return [node for node in nodes if self.matches(node)]
