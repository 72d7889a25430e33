"""kubectl's output options on the simulated k3s server: `-o` and `custom-columns`.

Standard library only: the shell server imports it.
"""

from __future__ import annotations

from typing import Any

from labsim.nodes.invocation import Invocation


def output_format(args: list[str]) -> str:
    """kubectl's `-o` / `--output` value (`table` when none)."""
    for i, arg in enumerate(args):
        if arg in ("-o", "--output") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
        if arg.startswith("-o") and len(arg) > 2:
            return arg[2:].lstrip("=")
    return "table"


def custom_columns(inv: Invocation, spec: str, items: list[Any], no_headers: bool) -> int:
    """`-o custom-columns=HEADER:.json.path,...` as kubectl prints it
    (kubernetes/kubectl pkg/cmd/get/customcolumn.go): one row per object, a value list joined
    with `,`, `<none>` where the path finds nothing, columns aligned by a tabwriter (at least
    three spaces apart). Paths: `.a.b`, `.a[*].b`, `.a[0].b` (a subset of kubectl's JSONPath)."""
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not path:
            inv.warn(
                f"error: unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>"
            )
            return 1
        columns.append((header, path))
    rows = [] if no_headers else [[header for header, _ in columns]]
    for item in items:
        row = []
        for _, path in columns:
            values = _json_path(item, path)
            row.append(",".join(_text(v) for v in values) if values else "<none>")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))] if rows else []
    for row in rows:
        inv.say("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_path(item: Any, path: str) -> list[Any]:
    """The values `path` finds in `item` (missing keys find nothing)."""
    found = [item]
    for step in path.lstrip("{").rstrip("}").lstrip(".").split("."):
        key, _, index = step.partition("[")
        found = [f.get(key) for f in found if isinstance(f, dict) and key in f]
        if index:
            index = index.rstrip("]")
            lists = [f for f in found if isinstance(f, list)]
            if index == "*":
                found = [v for f in lists for v in f]
            else:
                found = [f[int(index)] for f in lists if int(index) < len(f)]
    return [f for f in found if f is not None and not isinstance(f, dict | list)]
