"""`kubectl get nodes [-o json]` (and `k3s kubectl ...`) on a simulated k3s server.

The cluster's members are the lab's nodes with a k3s role; a member is Ready while it is powered
on, its k3s.service has not failed and its readiness knob is set. Pods, Longhorn, cordon/drain
and `k3s certificate check` are in `labsim/nodes/k3s_workload_commands.py`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from labsim.nodes import k3s_workload_commands, kubectl_output
from labsim.nodes.invocation import Invocation
from labsim.nodes.k3s_workloads import Workloads, WorkloadsFile
from labsim.nodes.nodestate import NodeFiles, NodeState
from labsim.nodes.rootfs import NodeRoot
from labsim.nodes.storepaths import code_name

KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
_DEFAULT_K3S = "1.30.6+k3s1"


@dataclass(frozen=True)
class K3sMember:
    """One node of the simulated k3s cluster as the members file lists it."""

    name: str
    state_dir: str
    role: str
    slot: int


def read_members(path: str) -> list[K3sMember]:
    """Parse the cluster's members file (written by the lab)."""
    raw = json.loads(Path(path).read_text())
    return [K3sMember(m["name"], m["state_dir"], m["role"], int(m["slot"])) for m in raw]


def kubectl(inv: Invocation) -> int:
    """`kubectl get nodes [-o json|wide]` as k3s's embedded kubectl answers it."""
    args = inv.argv[1:]
    if inv.argv[0].endswith("k3s"):
        if args[:2] == ["certificate", "check"]:
            return k3s_workload_commands.certificate_check(inv, args[2:])
        if args[:1] != ["kubectl"]:
            inv.warn(f"labsim: k3s {' '.join(args)} is not simulated")
            return 1
        args = args[1:]
    if not inv.privileged:
        inv.warn(
            f'error: error loading config file "{KUBECONFIG}": open {KUBECONFIG}: permission denied'
        )
        return 1
    state = inv.files.load_state()
    identity = inv.identity
    if identity.k3s_role != "server" or "k3s.service" in state.failed_units:
        inv.warn(
            "The connection to the server 127.0.0.1:6443 was refused - "
            "did you specify the right host or port?"
        )
        return 1
    words = [a for a in args if not a.startswith("-")]
    members = read_members(identity.k3s_members_file) if identity.k3s_members_file else []
    if words[:2] not in (["get", "nodes"], ["get", "node"], ["get", "no"]):
        return k3s_workload_commands.kubectl_workloads(inv, args, words, members)
    output = kubectl_output.output_format(args)
    cordoned = set(_workloads(identity.k3s_members_file).cordoned)
    if output.startswith("custom-columns="):
        objects = [_node_object(m, inv.now, m.name in cordoned) for m in members]
        spec = output.split("=", 1)[1]
        return kubectl_output.custom_columns(inv, spec, objects, "--no-headers" in args)
    if output == "json":
        nodes = [_node_object(m, inv.now, m.name in cordoned) for m in members]
        document = {
            "apiVersion": "v1",
            "items": nodes,
            "kind": "List",
            "metadata": {"resourceVersion": ""},
        }
        inv.say(json.dumps(document, indent=4))
        return 0
    _print_table(inv, members)
    return 0


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


@dataclass(frozen=True)
class _MemberView:
    state: NodeState
    alive: bool
    ready: bool
    created: float
    k3s_version: str
    kernel: str
    nixos_version: str


def _view(member: K3sMember, now: float) -> _MemberView:
    root = NodeRoot(Path(member.state_dir))
    state = NodeFiles(root.root).load_state()
    info = root.system_info("/run/current-system")
    k3s_version = _DEFAULT_K3S
    if info:
        k3s_version = next((p.version for p in info.packages if p.pname == "k3s"), _DEFAULT_K3S)
    gens = root.generations()
    return _MemberView(
        state=state,
        alive=state.kubelet_up,
        ready=state.k3s_ready,
        created=gens[0].created if gens else now,
        k3s_version=k3s_version,
        kernel=info.kernel_version if info else "6.6.63",
        nixos_version=info.nixos_version if info else "24.11",
    )


def _workloads(members_file: str | None) -> Workloads:
    return WorkloadsFile.beside(members_file).load() if members_file else Workloads()


def _node_object(member: K3sMember, now: float, cordoned: bool = False) -> dict[str, object]:
    view = _view(member, now)
    state, k3s_version, created = view.state, view.k3s_version, view.created
    address = f"10.0.0.{10 + member.slot}"
    labels = {
        "beta.kubernetes.io/arch": "arm64",
        "beta.kubernetes.io/instance-type": "k3s",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64",
        "kubernetes.io/hostname": member.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "k3s",
    }
    if member.role == "server":
        labels["node-role.kubernetes.io/control-plane"] = "true"
        labels["node-role.kubernetes.io/master"] = "true"
    alive = view.alive
    conditions = _conditions(alive, view.ready, state.boot_time, now)
    seed = uuid.uuid5(uuid.NAMESPACE_DNS, f"{member.name}.labsim")
    spec: dict[str, object] = {
        "podCIDR": f"10.42.{member.slot}.0/24",
        "podCIDRs": [f"10.42.{member.slot}.0/24"],
        "providerID": f"k3s://{member.name}",
    }
    taints: list[dict[str, object]] = []
    if cordoned:
        # `kubectl cordon` sets spec.unschedulable; the node controller adds this taint
        # (kubernetes/kubernetes pkg/controller/nodelifecycle, TaintNodeUnschedulable).
        spec["unschedulable"] = True
        taints.append({"effect": "NoSchedule", "key": "node.kubernetes.io/unschedulable"})
    if not alive:
        taints += [
            {"effect": "NoSchedule", "key": "node.kubernetes.io/unreachable"},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable"},
        ]
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "k3s.io/hostname": member.name,
                "k3s.io/internal-ip": address,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": _stamp(created),
            "finalizers": ["wrangler.cattle.io/node"],
            "labels": labels,
            "name": member.name,
            "resourceVersion": str(int(now) % 100000),
            "uid": str(seed),
        },
        "spec": spec,
        "status": {
            "addresses": [
                {"address": address, "type": "InternalIP"},
                {"address": member.name, "type": "Hostname"},
            ],
            "allocatable": {"cpu": "4", "memory": "3884420Ki", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "3986820Ki", "pods": "110"},
            "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "arm64",
                "bootID": state.boot_id,
                "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                "kernelVersion": view.kernel,
                "kubeProxyVersion": f"v{k3s_version}",
                "kubeletVersion": f"v{k3s_version}",
                "machineID": seed.hex,
                "operatingSystem": "linux",
                "osImage": _os_image(view.nixos_version),
                "systemUUID": str(seed),
            },
        },
    }


def _os_image(version: str) -> str:
    release = ".".join(version.split(".")[:2])
    return f"NixOS {release} ({code_name(version)})"


def _conditions(alive: bool, ready: bool, boot: float, now: float) -> list[dict[str, str]]:
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    beat, since = _stamp(now - 5), _stamp(boot + 20)
    rows = []
    for kind, reason, message in pressure:
        if alive:
            rows.append(_condition(kind, "False", reason, message, beat, since))
        else:
            unknown = "Kubelet stopped posting node status."
            rows.append(_condition(kind, "Unknown", "NodeStatusUnknown", unknown, beat, since))
    if not alive:
        unknown = "Kubelet stopped posting node status."
        rows.append(_condition("Ready", "Unknown", "NodeStatusUnknown", unknown, beat, since))
    elif ready:
        message = "kubelet is posting ready status"
        rows.append(_condition("Ready", "True", "KubeletReady", message, beat, since))
    else:
        message = (
            "container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized"
        )
        rows.append(_condition("Ready", "False", "KubeletNotReady", message, beat, since))
    return rows


def _condition(
    kind: str, status: str, reason: str, message: str, beat: str, since: str
) -> dict[str, str]:
    return {
        "lastHeartbeatTime": beat,
        "lastTransitionTime": since,
        "message": message,
        "reason": reason,
        "status": status,
        "type": kind,
    }


def _print_table(inv: Invocation, members: list[K3sMember]) -> None:
    rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION")]
    cordoned = set(_workloads(inv.identity.k3s_members_file).cordoned)
    for member in members:
        view = _view(member, inv.now)
        roles = "control-plane,master" if member.role == "server" else "<none>"
        status = "Ready" if view.alive and view.ready else "NotReady"
        if member.name in cordoned:
            status += ",SchedulingDisabled"
        age_days = max(int((inv.now - view.created) // 86400), 0)
        rows.append((member.name, status, roles, f"{age_days}d", f"v{view.k3s_version}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        inv.say("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
