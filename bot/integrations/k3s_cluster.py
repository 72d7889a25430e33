"""What the k3s cluster says about itself: the kubectl / k3s commands labbot runs on a server, and
parsers for their JSON.

Must not decide what to do about it (status and digest judge, the reboot refuses); never raises
on odd output: the cluster's answer is outside input, so what cannot be read becomes a problem
sentence or an empty value.

- Pods: `kubectl get pods -A -o custom-columns=…` (Kubernetes core/v1 Pod fields; the printer is
  kubernetes/kubectl pkg/cmd/get/customcolumn.go: lists joined by `,`, `<none>` for nothing).
  A pod is a problem when its phase is neither Running nor Succeeded, or a container waits with
  a reason (CrashLoopBackOff, ImagePullBackOff: the kubelet keeps such a pod's phase Running).
- Longhorn: `kubectl get volumes.longhorn.io` and `replicas.longhorn.io` in `longhorn-system`
  (longhorn/longhorn-manager k8s/pkg/apis/longhorn/v1beta2/volume.go, replica.go). A volume is a
  problem when its `status.robustness` is degraded or faulted; a replica is healthy while
  `spec.healthyAt` is set and `spec.failedAt` is empty (Longhorn's own test for it).
- Certificates: `k3s certificate check --output json` (k3s-io/k3s pkg/cli/cert/cert.go):
  `Certificates[]` with `Filename`, `Subject` and `ExpiryTime` (RFC 3339).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

LONGHORN_NAMESPACE = "longhorn-system"
# Only the columns labbot reads, one line per pod: a real cluster's `-o json` pod list runs to
# megabytes (managedFields and all) and would cross SSH every digest and `/lab status`.
POD_COLUMNS = (
    "NAMESPACE:.metadata.namespace",
    "NAME:.metadata.name",
    "PHASE:.status.phase",
    "NODE:.spec.nodeName",
    "WAITING:.status.containerStatuses[*].state.waiting.reason",
    "RESTARTS:.status.containerStatuses[*].restartCount",
)
PODS = [
    "kubectl",
    "get",
    "pods",
    "--all-namespaces",
    "--no-headers",
    "-o",
    "custom-columns=" + ",".join(POD_COLUMNS),
]
NONE = "<none>"  # what custom-columns prints where a path finds nothing
# Kubernetes object names (DNS-1123 subdomains) and pod phases (core/v1 PodPhase).
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_PHASES = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
# Each node's conditions as two parallel lists (types, statuses) and its cordon: a few bytes a
# node where `-o json` sends kilobytes.
NODE_COLUMNS = (
    "NAME:.metadata.name",
    "CONDITIONS:.status.conditions[*].type",
    "STATUSES:.status.conditions[*].status",
    "UNSCHEDULABLE:.spec.unschedulable",
)
NODES = [
    "kubectl",
    "get",
    "nodes",
    "--no-headers",
    "-o",
    "custom-columns=" + ",".join(NODE_COLUMNS),
]
VOLUMES = ["kubectl", "get", "volumes.longhorn.io", "-n", LONGHORN_NAMESPACE, "-o", "json"]
REPLICAS = ["kubectl", "get", "replicas.longhorn.io", "-n", LONGHORN_NAMESPACE, "-o", "json"]
CERTIFICATES = ["k3s", "certificate", "check", "--output", "json"]
WORST_PODS = 5
CERTIFICATE_WARNING = timedelta(days=30)


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PodProblem(_Fact):
    """A pod that is neither running nor completed, and why."""

    namespace: str
    name: str
    node: str = ""
    reason: str  # CrashLoopBackOff, Pending, Failed, ...
    restarts: int = 0


class VolumeProblem(_Fact):
    """A Longhorn volume that is degraded or faulted."""

    name: str
    robustness: str
    claim: str = ""  # namespace/pvc, when bound


class CertificateExpiry(_Fact):
    """A k3s certificate that expires soon (or has)."""

    filename: str
    subject: str = ""
    expires_at: datetime


class ClusterHealth(_Fact):
    """The cluster beyond node readiness: pods, Longhorn volumes, k3s certificates.

    Each part is None when it could not be read (the reason is in `problems`)."""

    pods_not_running: dict[str, int] | None = None  # namespace → count
    worst_pods: tuple[PodProblem, ...] = ()
    volumes: tuple[VolumeProblem, ...] | None = None
    certificates: tuple[CertificateExpiry, ...] | None = None
    problems: tuple[str, ...] = ()
    server: str = ""  # the k3s server that answered

    @property
    def healthy(self) -> bool:
        """Nothing wrong found (and everything read)."""
        return (
            not self.problems
            and not self.pods_not_running
            and not self.volumes
            and not self.certificates
        )


class Replica(_Fact):
    """One Longhorn replica: its volume, node and whether Longhorn counts it healthy."""

    volume: str
    node: str
    healthy: bool


def _items(document: str) -> list[dict[str, Any]] | None:
    try:
        parsed = json.loads(document)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("items"), list):
        return None
    return [i for i in parsed["items"] if isinstance(i, dict)]


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class K3sNode(_Fact):
    """A k3s node as the API server sees it: Ready, and cordoned (`spec.unschedulable`)."""

    ready: bool
    cordoned: bool = False


def parse_nodes(text: str) -> dict[str, K3sNode] | None:
    """k3s node name → its state, from the `NODE_COLUMNS` rows; None when no row could be read
    (a cluster has a node at least, so nothing means kubectl failed)."""
    nodes: dict[str, K3sNode] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) != len(NODE_COLUMNS):
            continue
        name, types, statuses, unschedulable = words
        kinds, values = types.split(","), statuses.split(",")
        if (
            not _NAME.fullmatch(name)
            or len(kinds) != len(values)
            or not set(values) <= {"True", "False", "Unknown"}
            or unschedulable not in ("true", "false", NONE)
        ):
            continue  # not a row of ours (an error message, another output format)
        conditions = dict(zip(kinds, values, strict=True))
        nodes[name] = K3sNode(
            ready=conditions.get("Ready") == "True", cordoned=unschedulable == "true"
        )
    return nodes or None


def parse_pods(text: str) -> tuple[dict[str, int], tuple[PodProblem, ...]] | None:
    """Pods not Running or Completed, from the `POD_COLUMNS` rows: count per namespace and the
    worst few (most restarts first). None when nothing could be read: a k3s cluster always runs
    pods (CoreDNS at least), so an empty answer means kubectl failed."""
    problems = []
    rows = 0
    for line in text.splitlines():
        words = line.split()
        if len(words) != len(POD_COLUMNS):
            continue
        rows += 1
        namespace, name, phase, node, waiting, restarts = words
        if not (_NAME.fullmatch(namespace) and _NAME.fullmatch(name)) or phase not in _PHASES:
            continue  # not a row of ours
        reasons = [r for r in waiting.split(",") if r not in (NONE, "ContainerCreating")]
        if phase in ("Running", "Succeeded") and not reasons:
            continue
        problems.append(
            PodProblem(
                namespace=namespace,
                name=name,
                node="" if node == NONE else node,
                reason=reasons[0] if reasons else phase,
                restarts=sum(int(r) for r in restarts.split(",") if r.isdigit()),
            )
        )
    if rows == 0:
        return None
    counts = Counter(p.namespace for p in problems)
    worst = sorted(problems, key=lambda p: (-p.restarts, p.namespace, p.name))[:WORST_PODS]
    return dict(sorted(counts.items())), tuple(worst)


def parse_volumes(document: str) -> tuple[VolumeProblem, ...] | None:
    """Longhorn volumes that are degraded or faulted; None if it is not a volume list."""
    items = _items(document)
    if items is None:
        return None
    found = []
    for volume in items:
        robustness = str(_get(volume, "status", "robustness") or "unknown")
        if robustness not in ("degraded", "faulted"):
            continue
        namespace = _get(volume, "status", "kubernetesStatus", "namespace") or ""
        claim = _get(volume, "status", "kubernetesStatus", "pvcName") or ""
        found.append(
            VolumeProblem(
                name=str(_get(volume, "metadata", "name") or "?"),
                robustness=robustness,
                claim=f"{namespace}/{claim}" if claim else "",
            )
        )
    return tuple(sorted(found, key=lambda v: (v.robustness != "faulted", v.name)))


def parse_replicas(document: str) -> tuple[Replica, ...] | None:
    """Every Longhorn replica with its node and health; None if it is not a replica list."""
    items = _items(document)
    if items is None:
        return None
    return tuple(
        Replica(
            volume=str(_get(r, "spec", "volumeName") or ""),
            node=str(_get(r, "spec", "nodeID") or ""),
            healthy=bool(_get(r, "spec", "healthyAt")) and not _get(r, "spec", "failedAt"),
        )
        for r in items
    )


def last_healthy_replicas(replicas: Sequence[Replica], node: str) -> list[str]:
    """Volumes whose healthy replicas are all on `node`: taking it down leaves them none."""
    by_volume: dict[str, list[Replica]] = {}
    for replica in replicas:
        if replica.healthy:
            by_volume.setdefault(replica.volume, []).append(replica)
    return sorted(
        volume
        for volume, healthy in by_volume.items()
        if volume and all(r.node == node for r in healthy)
    )


def parse_certificates(document: str, now: datetime) -> tuple[CertificateExpiry, ...] | None:
    """Certificates expiring within 30 days of `now` (or expired); None if unreadable."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return None
    certificates = parsed.get("Certificates") if isinstance(parsed, dict) else None
    if not isinstance(certificates, list):
        return None
    soon = []
    for cert in certificates:
        try:
            expires = datetime.fromisoformat(str(cert.get("ExpiryTime")).replace("Z", "+00:00"))
        except (AttributeError, ValueError):
            continue
        if expires - now <= CERTIFICATE_WARNING:
            soon.append(
                CertificateExpiry(
                    filename=str(cert.get("Filename") or "?"),
                    subject=str(cert.get("Subject") or ""),
                    expires_at=expires,
                )
            )
    return tuple(sorted(soon, key=lambda c: c.expires_at))
