"""kubectl's workload verbs and `k3s certificate check` on a simulated k3s server.

- `kubectl get pods -A -o json` (or `-o custom-columns=…`, as labbot asks): Kubernetes core/v1 Pod objects in a List; a container waiting in
  `CrashLoopBackOff` keeps the pod's phase `Running` with the reason in
  `status.containerStatuses[].state.waiting` (kubernetes/kubernetes pkg/kubelet/kuberuntime).
- `kubectl get volumes.longhorn.io|replicas.longhorn.io -n longhorn-system -o json`: Longhorn's
  v1beta2 objects (longhorn/longhorn-manager k8s/pkg/apis/longhorn/v1beta2/volume.go,
  replica.go): a volume's `status.robustness` is healthy with all its replicas healthy, degraded
  with some, faulted with none, and `unknown` while detached; a replica is healthy while
  `spec.healthyAt` is set and `spec.failedAt` is empty.
- `kubectl cordon|uncordon NODE` and `kubectl drain NODE [--ignore-daemonsets]
  [--delete-emptydir-data] [--timeout=D]`, with the messages of kubernetes/kubectl
  pkg/cmd/drain/drain.go and pkg/drain/drain.go: cordon first, refuse DaemonSet-managed pods
  unless told to ignore them, evict the rest. Longhorn's default node drain policy
  (`block-if-contains-last-replica`, longhorn-manager types/setting.go) makes the PodDisruptionBudget
  of a node's instance manager refuse eviction while the node holds a volume's last healthy
  replica; kubectl then retries until `--timeout` (for ever without one). labsim answers with the
  timeout error at once instead of waiting it out.
- `k3s certificate check --output json` (k3s-io/k3s pkg/cli/cert/cert.go): `Certificates` with
  `Filename`, `Subject`, `Issuer`, `Usages`, `ExpiryTime` (RFC 3339), `ResidualTime` (a Go
  duration: nanoseconds) and `Status` (`OK`, or `WARNING` within k3s's renewal window).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from labsim.nodes import kubectl_output
from labsim.nodes.invocation import Invocation
from labsim.nodes.k3s_workloads import Pod, Replica, Volume, Workloads, WorkloadsFile
from labsim.nodes.nodestate import NodeFiles

if TYPE_CHECKING:
    from labsim.nodes.k3s_commands import K3sMember

LONGHORN_NAMESPACE = "longhorn-system"
# k3s renews certificates within this many days of expiry, and `check` warns from then on
# (k3s-io/k3s pkg/daemons/config/types.go CertificateRenewDays; 90 before May 2025).
RENEW_DAYS = 120
_POD_WORDS = ("pods", "pod", "po")
_VOLUME_WORDS = ("volumes.longhorn.io", "volumes", "volume", "lhv")
_REPLICA_WORDS = ("replicas.longhorn.io", "replicas", "replica", "lhr")


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _alive(member: K3sMember) -> bool:
    return NodeFiles(Path(member.state_dir)).load_state().kubelet_up


def kubectl_workloads(
    inv: Invocation, args: list[str], words: list[str], members: list[K3sMember]
) -> int:
    """kubectl's verbs other than `get nodes`."""
    members_file = inv.identity.k3s_members_file
    if not members_file:
        inv.warn("labsim: this node has no k3s cluster")
        return 1
    store = WorkloadsFile.beside(members_file)
    verb = words[0] if words else ""
    if verb == "get" and len(words) > 1:
        return _get(inv, args, words[1], store.load(), members)
    if verb in ("cordon", "uncordon") and len(words) == 2:
        return _cordon(inv, store, members, words[1], verb == "cordon")
    if verb == "drain" and len(words) == 2:
        return _drain(inv, args, store, members, words[1])
    inv.warn(f"labsim: kubectl {' '.join(args)} is not simulated")
    return 1


def _get(
    inv: Invocation, args: list[str], kind: str, workloads: Workloads, members: list[K3sMember]
) -> int:
    output = kubectl_output.output_format(args)
    if output != "json" and not output.startswith("custom-columns="):
        inv.warn(f"labsim: kubectl get {kind} is simulated only with -o json or custom-columns")
        return 1
    alive = {m.name: _alive(m) for m in members}
    if kind in _POD_WORDS:
        namespace = _namespace(args)
        items = [
            _pod_object(p, alive.get(p.node, False))
            for p in workloads.pods
            if namespace is None or p.namespace == namespace
        ]
    elif kind in _VOLUME_WORDS:
        items = [_volume_object(v, workloads.replicas, alive) for v in workloads.volumes]
    elif kind in _REPLICA_WORDS:
        items = [_replica_object(r, alive, inv.now) for r in workloads.replicas]
    else:
        inv.warn(f'error: the server doesn\'t have a resource type "{kind}"')
        return 1
    if output.startswith("custom-columns="):
        return kubectl_output.custom_columns(
            inv, output.split("=", 1)[1], items, "--no-headers" in args
        )
    document = {
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }
    inv.say(json.dumps(document, indent=4))
    return 0


def _namespace(args: list[str]) -> str | None:
    """The `-n` namespace; None for `-A` (all namespaces). kubectl's default is `default`."""
    if "-A" in args or "--all-namespaces" in args:
        return None
    for i, arg in enumerate(args):
        if arg in ("-n", "--namespace") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--namespace="):
            return arg.split("=", 1)[1]
    return "default"


def _pod_object(pod: Pod, node_alive: bool) -> dict[str, object]:
    container = pod.name.rsplit("-", 1)[0]
    state: dict[str, object]
    if pod.waiting:
        message = f"back-off 5m0s restarting failed container={container} pod={pod.name}"
        state = {"waiting": {"message": message, "reason": pod.waiting}}
    elif pod.phase == "Succeeded":
        state = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    elif pod.phase == "Pending":
        state = {"waiting": {"reason": "ContainerCreating"}}
    else:
        state = {"running": {"startedAt": _stamp(pod.created)}}
    ready = node_alive and pod.phase == "Running" and not pod.waiting
    spec: dict[str, object] = {"containers": [{"name": container}]}
    if pod.node:
        spec["nodeName"] = pod.node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": _stamp(pod.created),
            "name": pod.name,
            "namespace": pod.namespace,
            "ownerReferences": [{"controller": True, "kind": pod.owner, "name": container}],
        },
        "spec": spec,
        "status": {
            "containerStatuses": [
                {
                    "name": container,
                    "ready": ready,
                    "restartCount": pod.restarts,
                    "started": ready,
                    "state": state,
                }
            ],
            "phase": pod.phase,
        },
    }


def _replica_healthy(replica: Replica, alive: dict[str, bool]) -> bool:
    return not replica.failed and alive.get(replica.node, False)


def _volume_object(
    volume: Volume, replicas: list[Replica], alive: dict[str, bool]
) -> dict[str, object]:
    healthy = sum(1 for r in replicas if r.volume == volume.name and _replica_healthy(r, alive))
    if not volume.attached_to:
        robustness = "unknown"
    elif healthy >= volume.replicas:
        robustness = "healthy"
    elif healthy > 0:
        robustness = "degraded"
    else:
        robustness = "faulted"
    namespace, _, claim = volume.pvc.partition("/")
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Volume",
        "metadata": {"name": volume.name, "namespace": LONGHORN_NAMESPACE},
        "spec": {"frontend": "blockdev", "numberOfReplicas": volume.replicas},
        "status": {
            "currentNodeID": volume.attached_to,
            "kubernetesStatus": {"namespace": namespace, "pvName": volume.name, "pvcName": claim},
            "robustness": robustness,
            "state": "attached" if volume.attached_to else "detached",
        },
    }


def _replica_object(replica: Replica, alive: dict[str, bool], now: float) -> dict[str, object]:
    healthy = _replica_healthy(replica, alive)
    return {
        "apiVersion": "longhorn.io/v1beta2",
        "kind": "Replica",
        "metadata": {
            "labels": {"longhornvolume": replica.volume},
            "name": replica.name,
            "namespace": LONGHORN_NAMESPACE,
        },
        "spec": {
            "failedAt": "" if healthy else _stamp(now),
            "healthyAt": _stamp(now - 3600) if healthy else "",
            "nodeID": replica.node,
            "volumeName": replica.volume,
        },
        "status": {"currentState": "running" if healthy else "stopped"},
    }


def _cordon(
    inv: Invocation, store: WorkloadsFile, members: list[K3sMember], node: str, cordon: bool
) -> int:
    if node not in {m.name for m in members}:
        inv.warn(f'Error from server (NotFound): nodes "{node}" not found')
        return 1
    with store.editing() as workloads:
        already = (node in workloads.cordoned) == cordon
        if cordon and not already:
            workloads.cordoned.append(node)
        elif not cordon and not already:
            workloads.cordoned.remove(node)
    word = "cordoned" if cordon else "uncordoned"
    inv.say(f"node/{node} already {word}" if already else f"node/{node} {word}")
    return 0


def _last_replicas(workloads: Workloads, node: str, alive: dict[str, bool]) -> list[str]:
    """Attached volumes whose only healthy replicas are on `node`."""
    names = []
    for volume in workloads.volumes:
        healthy = [
            r for r in workloads.replicas if r.volume == volume.name and _replica_healthy(r, alive)
        ]
        if volume.attached_to and healthy and all(r.node == node for r in healthy):
            names.append(volume.name)
    return names


def _drain(
    inv: Invocation, args: list[str], store: WorkloadsFile, members: list[K3sMember], node: str
) -> int:
    if node not in {m.name for m in members}:
        inv.warn(f'Error from server (NotFound): nodes "{node}" not found')
        return 1
    alive = {m.name: _alive(m) for m in members}
    timeout = next((a.split("=", 1)[1] for a in args if a.startswith("--timeout=")), "")
    with store.editing() as workloads:
        if node not in workloads.cordoned:
            workloads.cordoned.append(node)
            inv.say(f"node/{node} cordoned")
        else:
            inv.say(f"node/{node} already cordoned")
        on_node = workloads.pods_on(node)
        daemons = [p for p in on_node if p.owner == "DaemonSet"]
        listed = ", ".join(f"{p.namespace}/{p.name}" for p in daemons)
        if daemons and "--ignore-daemonsets" not in args:
            inv.warn(
                "error: unable to drain node "
                f'"{node}" due to error: cannot delete DaemonSet-managed Pods (use '
                f"--ignore-daemonsets to ignore): {listed}, continuing command..."
            )
            return 1
        if daemons:
            inv.warn(f"Warning: ignoring DaemonSet-managed Pods: {listed}")
        blocked = _last_replicas(workloads, node, alive)
        if blocked:
            manager = f"instance-manager-{node.rsplit('-', 1)[-1]}"
            inv.warn(
                f'error when evicting pods/"{manager}" -n "{LONGHORN_NAMESPACE}" (will retry '
                "after 5s): Cannot evict pod as it would violate the pod's disruption budget."
            )
            inv.warn(
                f'error: unable to drain node "{node}" due to error: [error when evicting '
                f'pods/"{manager}" -n "{LONGHORN_NAMESPACE}": global timeout reached: '
                f"{timeout or '0s'}], continuing command..."
            )
            inv.warn(f"There are pending nodes to be drained:\n {node}")
            return 1
        targets = [
            m.name
            for m in members
            if m.name != node and alive[m.name] and m.name not in workloads.cordoned
        ]
        for pod in on_node:
            if pod.owner == "DaemonSet":
                continue
            inv.say(f"evicting pod {pod.namespace}/{pod.name}")
            # Its controller recreates it on a schedulable node, or it waits as Pending.
            pod.node = targets[0] if targets else ""
            pod.phase = "Running" if targets else "Pending"
            pod.created = inv.now
            for volume in workloads.volumes:
                if volume.attached_to == node and targets:
                    volume.attached_to = targets[0]
        for pod in on_node:
            if pod.owner != "DaemonSet":
                inv.say(f"pod/{pod.name} evicted")
    inv.say(f"node/{node} drained")
    return 0


def certificate_check(inv: Invocation, args: list[str]) -> int:
    """`k3s certificate check [--output text|table|json|yaml]` (JSON only here)."""
    output = "text"
    for i, arg in enumerate(args):
        if arg in ("--output", "-o") and i + 1 < len(args):
            output = args[i + 1]
        elif arg.startswith("--output="):
            output = arg.split("=", 1)[1]
    if output != "json":
        inv.warn(f"labsim: k3s certificate check --output {output} is not simulated")
        return 1
    if not inv.privileged:
        when = _stamp(inv.now)
        inv.warn(
            f'time="{when}" level=fatal msg="open /var/lib/rancher/k3s/server/token: '
            'permission denied"'
        )
        return 1
    identity = inv.identity
    server = identity.k3s_role == "server"
    detected = (
        "Server detected, checking agent and server certificates"
        if server
        else "Agent detected, checking agent certificates"
    )
    inv.warn(f'time="{_stamp(inv.now)}" level=info msg="{detected}"')
    members_file = identity.k3s_members_file
    workloads = WorkloadsFile.beside(members_file).load() if members_file else Workloads()
    certificates = []
    for cert in workloads.certificates:
        if not server and "kubelet" not in cert.filename:
            continue
        residual = cert.expires - inv.now
        if residual <= 0:
            status = "EXPIRED"
        elif residual <= RENEW_DAYS * 86400:
            status = "WARNING"
        else:
            status = "OK"
        issuer = "k3s-client-ca" if cert.usage == "ClientAuth" else "k3s-server-ca"
        certificates.append(
            {
                "Filename": cert.filename,
                "Subject": cert.subject,
                "Issuer": issuer,
                "Usages": [cert.usage],
                "ExpiryTime": _stamp(cert.expires),
                "ResidualTime": int(residual * 1e9),
                "Status": status,
            }
        )
    inv.say(json.dumps({"Certificates": certificates}))
    return 0
