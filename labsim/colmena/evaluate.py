"""`colmena eval -E EXPR` of the double: answers the introspection lambdas a wrapper asks.

The double has no Nix evaluator; it recognises these shapes (whitespace-insensitive) over the
inventory and prints compact, key-sorted JSON like `builtins.toJSON`:

- `{ nodes, ... }: builtins.attrNames nodes` → sorted node names
- `{ nodes, lib, ... }: lib.mapAttrs
  (_: n: { inherit (n.config.deployment) tags targetHost; }) nodes`
  (plus bindings `key = n.config.<path>;` in the same attrset)
- `... mapAttrs (name: n: n.config.<path>) nodes` → one value per node

where `<path>` is `deployment.<attr>` (tags, targetHost, targetPort, targetUser, buildOnTarget,
allowLocalDeployment, replaceUnknownProfiles, privilegeEscalationCommand, sshOptions) or
`networking.hostName`. Anything else is an evaluation error (exit 1).
"""

from __future__ import annotations

import json
import re

from labsim.colmena.hive import InventoryNode


class UnsupportedExpression(ValueError):
    """Raised for an expression the double cannot evaluate."""


def _deployment(node: InventoryNode, attr: str) -> object:
    values: dict[str, object] = {
        "tags": list(node.tags),
        "targetHost": node.host,
        "targetPort": node.port,
        "targetUser": node.user,
        "buildOnTarget": False,
        "allowLocalDeployment": False,
        "replaceUnknownProfiles": True,
        "privilegeEscalationCommand": ["sudo", "-H", "--"],
        "sshOptions": [],
    }
    if attr not in values:
        raise UnsupportedExpression(f"attribute 'deployment.{attr}' is not simulated")
    return values[attr]


def _config_value(node: InventoryNode, path: str) -> object:
    if path.startswith("deployment."):
        return _deployment(node, path.removeprefix("deployment."))
    if path == "networking.hostName":
        return node.name
    raise UnsupportedExpression(f"attribute '{path}' is not simulated")


def evaluate(expression: str, nodes: dict[str, InventoryNode]) -> object:
    """Evaluate a supported introspection lambda against the inventory."""
    text = " ".join(expression.split())
    if re.search(r"\battrNames nodes\b", text):
        return sorted(nodes)
    mapped = re.search(r"mapAttrs \( ?(\w+) ?: ?(\w+) ?: ?(.*)\) ?nodes\b", text)
    if not mapped:
        raise UnsupportedExpression("only attrNames/mapAttrs over `nodes` are simulated")
    var, body = mapped.group(2), mapped.group(3).strip()
    single = re.fullmatch(rf"{var}\.config\.([\w.]+)", body)
    if single:
        return {name: _config_value(node, single.group(1)) for name, node in nodes.items()}
    if not (body.startswith("{") and body.endswith("}")):
        raise UnsupportedExpression(f"cannot evaluate {body!r}")
    inherited = re.findall(rf"inherit \( ?{var}\.config\.([\w.]+) ?\) ?([\w ]+);", body)
    bound = re.findall(rf"([\w-]+) ?= ?{var}\.config\.([\w.]+) ?;", body)
    if not inherited and not bound:
        raise UnsupportedExpression(f"cannot evaluate {body!r}")
    result: dict[str, object] = {}
    for name, node in nodes.items():
        entry: dict[str, object] = {}
        for prefix, attrs in inherited:
            for attr in attrs.split():
                entry[attr] = _config_value(node, f"{prefix}.{attr}")
        for key, path in bound:
            entry[key] = _config_value(node, path)
        result[name] = entry
    return result


def to_nix_json(value: object) -> str:
    """JSON as `builtins.toJSON` prints it: compact, attribute names sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
