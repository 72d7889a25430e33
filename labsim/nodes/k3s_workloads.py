"""What runs on the simulated k3s cluster: pods, Longhorn volumes and replicas, cordons, certificates.

One JSON file beside the cluster's members file (`k3s-workloads.json`), shared by the lab process
(knobs: a pod in CrashLoopBackOff, a volume with one replica, a certificate about to expire) and
the node shells (`kubectl get pods`, `kubectl drain`, `k3s certificate check`), under one advisory
lock. Standard library only: the shell server imports it.

The shapes follow the real objects, cited where they are rendered (`labsim/nodes/k3s_commands.py`):
a pod's phase and container states (Kubernetes core/v1 Pod), Longhorn's `volumes.longhorn.io` and
`replicas.longhorn.io` (longhorn/longhorn-manager k8s/pkg/apis/longhorn/v1beta2/volume.go and
replica.go), and k3s's certificate files (k3s-io/k3s pkg/cli/cert/cert.go).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WORKLOADS_FILE = "k3s-workloads.json"
# k3s issues its client and server certificates for 365 days (k3s-io/k3s docs, "k3s certificate").
CERTIFICATE_DAYS = 365
# The certificate files `k3s certificate check` lists on a server (a subset of
# k3s-io/k3s pkg/util/services FilesForServices), with their subjects and usages.
SERVER_CERTIFICATES = (
    ("client-admin.crt", "system:admin", "ClientAuth"),
    ("client-kube-apiserver.crt", "system:apiserver", "ClientAuth"),
    ("client-kubelet.crt", "system:node", "ClientAuth"),
    ("serving-kube-apiserver.crt", "kube-apiserver", "ServerAuth"),
    ("serving-kubelet.crt", "kubelet", "ServerAuth"),
)


@dataclass
class Pod:
    """One pod: where it runs and what its (single) container is doing.

    `waiting` is a container waiting reason (`CrashLoopBackOff`, `ImagePullBackOff`) while the
    pod's phase stays `Running`, as the kubelet reports it; `owner` is the controller kind
    (`DaemonSet` pods stay on their node when it is drained with `--ignore-daemonsets`).
    """

    namespace: str
    name: str
    node: str
    owner: str = "ReplicaSet"
    phase: str = "Running"
    waiting: str = ""
    restarts: int = 0
    created: float = field(default_factory=time.time)


@dataclass
class Volume:
    """A Longhorn volume: its wanted replica count and the claim it backs."""

    name: str
    replicas: int
    pvc: str  # namespace/name
    attached_to: str = ""  # node the volume is attached to ("" = detached)


@dataclass
class Replica:
    """A Longhorn replica of `volume` on `node`; `failed` marks it failed (spec.failedAt set)."""

    name: str
    volume: str
    node: str
    failed: bool = False


@dataclass
class Certificate:
    """A k3s certificate file on the servers and when it expires (Unix time)."""

    filename: str
    subject: str
    usage: str
    expires: float


@dataclass
class Workloads:
    """Everything in the workloads file."""

    pods: list[Pod] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)
    cordoned: list[str] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)

    def to_json(self) -> str:
        """Serialise for the workloads file."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Workloads:
        """Parse what `to_json` wrote."""
        raw: dict[str, Any] = json.loads(text)
        return cls(
            pods=[Pod(**p) for p in raw.get("pods", [])],
            volumes=[Volume(**v) for v in raw.get("volumes", [])],
            replicas=[Replica(**r) for r in raw.get("replicas", [])],
            cordoned=list(raw.get("cordoned", [])),
            certificates=[Certificate(**c) for c in raw.get("certificates", [])],
        )

    def pods_on(self, node: str) -> list[Pod]:
        """The pods scheduled on `node`."""
        return [p for p in self.pods if p.node == node]


def seed(members: Sequence[tuple[str, str]], now: float | None = None) -> Workloads:
    """What a fresh k3s + Longhorn cluster runs, for members `(name, role)`.

    Every node runs the DaemonSets k3s and Longhorn install (svclb, longhorn-manager); the server
    runs CoreDNS, Traefik, metrics-server and local-path-provisioner (k3s's packaged components);
    with two or more nodes there is one application volume with a replica on each of two nodes
    (Longhorn's default replica count is 3, capped here by the node count).
    """
    now = time.time() if now is None else now
    workloads = Workloads()
    names = [name for name, _ in members]
    for name, role in members:
        suffix = name.rsplit("-", 1)[-1]
        workloads.pods.append(
            Pod("longhorn-system", f"longhorn-manager-{suffix}", name, "DaemonSet")
        )
        workloads.pods.append(Pod("kube-system", f"svclb-traefik-{suffix}", name, "DaemonSet"))
        if role == "server":
            for app in ("coredns", "traefik", "metrics-server", "local-path-provisioner"):
                workloads.pods.append(Pod("kube-system", f"{app}-{suffix}", name))
    if len(names) >= 2:
        holders = names[:3]
        workloads.volumes.append(
            Volume("pvc-home-assistant", len(holders), "home/config-home-assistant-0", names[0])
        )
        workloads.pods.append(Pod("home", "home-assistant-0", names[0], "StatefulSet"))
        for index, node in enumerate(holders):
            workloads.replicas.append(
                Replica(f"pvc-home-assistant-r-{index}", "pvc-home-assistant", node)
            )
    expires = now + CERTIFICATE_DAYS * 86400
    workloads.certificates = [
        Certificate(filename, subject, usage, expires)
        for filename, subject, usage in SERVER_CERTIFICATES
    ]
    return workloads


class WorkloadsFile:
    """The workloads file of one simulated cluster, read and changed under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, members_file: str | Path) -> WorkloadsFile:
        """The workloads file next to the cluster's members file."""
        return cls(Path(members_file).with_name(WORKLOADS_FILE))

    def load(self) -> Workloads:
        """The current workloads (none if the file was never written)."""
        if not self.path.exists():
            return Workloads()
        return Workloads.from_json(self.path.read_text())

    def save(self, workloads: Workloads) -> None:
        """Write atomically."""
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(workloads.to_json())
        tmp.replace(self.path)

    @contextmanager
    def editing(self) -> Iterator[Workloads]:
        """Lock, load, let the caller change them, save."""
        lock = self.path.with_suffix(".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                workloads = self.load()
                yield workloads
                self.save(workloads)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- knobs (the lab process) -------------------------------------------------------------

    def crash_loop(self, namespace: str, name: str, node: str, restarts: int = 7) -> None:
        """Add (or turn) pod `namespace/name` on `node` into one stuck in CrashLoopBackOff."""
        with self.editing() as workloads:
            workloads.pods = [
                p for p in workloads.pods if (p.namespace, p.name) != (namespace, name)
            ]
            workloads.pods.append(
                Pod(namespace, name, node, waiting="CrashLoopBackOff", restarts=restarts)
            )

    def add_volume(
        self, name: str, replicas_on: Sequence[str], *, attached_to: str = "", pvc: str = ""
    ) -> None:
        """A Longhorn volume with one healthy replica on each node of `replicas_on`, attached to
        `attached_to` (the first replica's node by default)."""
        with self.editing() as workloads:
            workloads.volumes.append(
                Volume(
                    name,
                    len(replicas_on),
                    pvc or f"default/{name}",
                    attached_to or (replicas_on[0] if replicas_on else ""),
                )
            )
            for index, node in enumerate(replicas_on):
                workloads.replicas.append(Replica(f"{name}-r-{index}", name, node))

    def fail_replica(self, volume: str, node: str) -> None:
        """Longhorn marks `volume`'s replica on `node` failed (spec.failedAt set)."""
        with self.editing() as workloads:
            for replica in workloads.replicas:
                if replica.volume == volume and replica.node == node:
                    replica.failed = True

    def expire_certificate(self, filename: str, days: float) -> None:
        """Certificate `filename` expires `days` from now."""
        with self.editing() as workloads:
            for cert in workloads.certificates:
                if cert.filename == filename:
                    cert.expires = time.time() + days * 86400

    def cordoned(self) -> list[str]:
        """The nodes cordoned now."""
        return list(self.load().cordoned)
