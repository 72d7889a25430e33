"""Simulated NixOS nodes: real OpenSSH sshd processes in front of simulated NixOS state.

Public names are loaded lazily so the shell server (`python -m labsim.nodes.shell_server`,
which forks a node shell for every SSH command) does not import cryptography or the colmena double.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labsim.nodes.cluster import SimCluster, ToolPaths
    from labsim.nodes.node import NodeSpec, SimNode
    from labsim.nodes.rootfs import Generation
    from labsim.nodes.storepaths import SystemClosure

__all__ = ["Generation", "NodeSpec", "SimCluster", "SimNode", "SystemClosure", "ToolPaths"]

_HOMES = {
    "SimCluster": "labsim.nodes.cluster",
    "ToolPaths": "labsim.nodes.cluster",
    "NodeSpec": "labsim.nodes.node",
    "SimNode": "labsim.nodes.node",
    "Generation": "labsim.nodes.rootfs",
    "SystemClosure": "labsim.nodes.storepaths",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'labsim.nodes' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
