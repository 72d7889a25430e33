"""nix/inventory.json: what the flake evaluates (nix/lib/inventory.nix) equals what labbot reads.

Also runs broken inventories through both readers and expects the same verdict, so the Nix checks
and labbot's pydantic `Node` model cannot drift apart.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import InventoryConfig, Node, read_inventory_file
from labsim.colmena.hive import load_inventory

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "nix" / "inventory.json"
EVAL_INVENTORY = "import ./nix/lib/inventory.nix { }"

NixEval = Callable[[str], object]


def labbot_nodes(path: Path) -> list[Node]:
    """The nodes exactly as labbot loads them from an inventory file."""
    config = InventoryConfig.model_validate(
        {"boards": [{"name": "turingpi", "bmc": "turingpi"}], "file": str(path)}
    )
    return list(config.nodes)


def as_inventory_fields(node: Node) -> dict[str, Any]:
    """A labbot Node in the inventory file's vocabulary (`user`, `port`)."""
    return {
        "name": node.name,
        "board": node.board,
        "slot": node.slot,
        "module": node.module.value,
        "host": node.host,
        "user": node.ssh_user,
        "port": node.ssh_port,
        "tags": list(node.tags),
        "k3s_role": node.k3s_role.value,
        "deferred": node.deferred,
        "auto_rollback": node.auto_rollback,
    }


def test_nix_and_labbot_read_the_same_nodes(nix_eval: NixEval) -> None:
    evaluated = nix_eval(EVAL_INVENTORY)
    assert isinstance(evaluated, dict)
    expected = {n.name: as_inventory_fields(n) for n in labbot_nodes(INVENTORY)}
    assert evaluated["nodes"] == expected
    assert [n["name"] for n in read_inventory_file(INVENTORY)] == sorted(expected)


def test_only_non_deferred_nodes_are_deployed(nix_eval: NixEval) -> None:
    evaluated = nix_eval(EVAL_INVENTORY)
    assert isinstance(evaluated, dict)
    nodes = labbot_nodes(INVENTORY)
    active = [n for n in nodes if not n.deferred]
    assert evaluated["active"] == [n.name for n in active] == ["tp-node3"]
    assert evaluated["deployment"] == {
        n.name: {
            "targetHost": n.host,
            "targetUser": n.ssh_user,
            "targetPort": n.ssh_port,
            "tags": list(n.tags),
        }
        for n in active
    }


def test_labbot_field_names_validate_as_labbot_nodes(nix_eval: NixEval) -> None:
    evaluated = nix_eval(f"({EVAL_INVENTORY}).labbotNodes")
    assert isinstance(evaluated, list)
    assert [Node.model_validate(n) for n in evaluated] == labbot_nodes(INVENTORY)


def test_the_colmena_double_reads_the_same_targets() -> None:
    double = load_inventory(INVENTORY.parent)
    for node in labbot_nodes(INVENTORY):
        seen = double[node.name]
        assert (seen.host, seen.user, seen.port) == (node.host, node.ssh_user, node.ssh_port)
        assert (list(seen.tags), seen.slot, seen.k3s_role) == (
            list(node.tags),
            node.slot,
            node.k3s_role.value,
        )


def test_tp_node3_is_the_plans_cm4_server() -> None:
    nodes = {n.name: n for n in labbot_nodes(INVENTORY)}
    node3 = nodes["tp-node3"]
    assert (node3.slot, node3.module.value, node3.k3s_role.value) == (3, "cm4", "server")
    assert node3.ssh_user == "deploy" and not node3.deferred
    assert all(
        nodes[n].deferred and nodes[n].module.value == "rk1" for n in ("tp-node1", "tp-node2")
    )


def _base() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(INVENTORY.read_text())
    return data


def _mutate(path: tuple[str, ...], value: object) -> dict[str, Any]:
    data = _base()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _drop(node: str, key: str) -> dict[str, Any]:
    data = _base()
    del data["nodes"][node][key]
    return data


def _minimal() -> dict[str, Any]:
    return {
        "nodes": {"tp-node3": {"board": "turingpi", "slot": 3, "module": "cm4", "host": "n3.lan"}}
    }


def _boardless_clash() -> dict[str, Any]:
    data = _mutate(("nodes", "tp-node2", "slot"), 3)
    del data["nodes"]["tp-node3"]["board"]
    return data


def _rename(old: str, new: str) -> dict[str, Any]:
    data = _base()
    data["nodes"][new] = data["nodes"].pop(old)
    return data


CASES: dict[str, dict[str, Any]] = {
    "as shipped": _base(),
    "defaults only": _minimal(),
    "slot 5": _mutate(("nodes", "tp-node3", "slot"), 5),
    "slot 0": _mutate(("nodes", "tp-node3", "slot"), 0),
    "unknown module": _mutate(("nodes", "tp-node3", "module"), "rk2"),
    "unknown field": _mutate(("nodes", "tp-node3", "ip"), "10.0.0.3"),
    "space in host": _mutate(("nodes", "tp-node3", "host"), "tp node3"),
    "upper-case tag": _mutate(("nodes", "tp-node3", "tags"), ["K3S"]),
    "slot used twice": _mutate(("nodes", "tp-node2", "slot"), 3),
    "missing host": _drop("tp-node3", "host"),
    "missing board": _drop("tp-node3", "board"),
    "upper-case name": _rename("tp-node3", "TP-node3"),
    "unknown k3s role": _mutate(("nodes", "tp-node3", "k3s_role"), "master"),
    "port 0": _mutate(("nodes", "tp-node3", "port"), 0),
    "port 65536": _mutate(("nodes", "tp-node3", "port"), 65536),
    "upper-case user": _mutate(("nodes", "tp-node3", "user"), "Deploy"),
    "no nodes": {"nodes": {}},
    "missing board, slot used twice": _boardless_clash(),
}


def labbot_accepts(data: dict[str, Any], path: Path) -> bool:
    path.write_text(json.dumps(data))
    try:
        labbot_nodes(path)
    except (ValidationError, ValueError):
        return False
    return True


def test_nix_and_labbot_reject_the_same_inventories(nix_eval: NixEval, tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(list(CASES.values())))
    verdicts = nix_eval(
        f"map (raw: (builtins.tryEval (builtins.deepSeq (import ./nix/lib/inventory.nix "
        f"{{ inherit raw; }}) true)).success) (builtins.fromJSON (builtins.readFile {cases}))"
    )
    assert isinstance(verdicts, list)
    nix = dict(zip(CASES, verdicts, strict=True))
    labbot = {name: labbot_accepts(data, tmp_path / "inv.json") for name, data in CASES.items()}
    assert nix == labbot
    assert [name for name, ok in nix.items() if ok] == [
        "as shipped",
        "defaults only",
        "missing board",  # labbot fills in its only board
        "no nodes",
    ]


def test_defaults_agree(nix_eval: NixEval, tmp_path: Path) -> None:
    path = tmp_path / "minimal.json"
    path.write_text(json.dumps(_minimal()))
    evaluated = nix_eval(f"(import ./nix/lib/inventory.nix {{ file = {path}; }}).nodes")
    assert evaluated == {n.name: as_inventory_fields(n) for n in labbot_nodes(path)}


@pytest.mark.parametrize("name", ["slot 5", "unknown field", "slot used twice"])
def test_nix_names_the_problem(nix_bin: str, name: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(CASES[name]))
    expr = f"import {ROOT}/nix/lib/inventory.nix {{ file = {path}; }}"
    result = subprocess.run(
        [nix_bin, "--store", "dummy://", "--eval", "--strict", "-E", expr],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode != 0
    expected = {"slot 5": "slot must be 1-4", "unknown field": "unknown field(s) ip"}
    assert expected.get(name, "a board slot is used twice") in result.stderr
