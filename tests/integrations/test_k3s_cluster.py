"""Reading the k3s cluster's answers: pods by custom columns, Longhorn's volumes and replicas,
k3s's certificate check. Outside input: odd answers become None or empty, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.integrations.k3s_cluster import (
    Replica,
    last_healthy_replicas,
    parse_certificates,
    parse_pods,
    parse_replicas,
    parse_volumes,
)

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_pods_not_running_are_counted_per_namespace_and_the_worst_named() -> None:
    rows = "\n".join(
        [
            "kube-system   coredns-1          Running     tp-node3   <none>             0",
            "media         jellyfin-7d9f      Running     tp-node1   CrashLoopBackOff   12",
            "media         sidecar-2          Running     tp-node1   <none>,Error       1,2",
            "home          pending-0          Pending     <none>     ContainerCreating  0",
            "batch         job-done           Succeeded   tp-node1   <none>             0",
        ]
    )
    parsed = parse_pods(rows)
    assert parsed is not None
    counts, worst = parsed
    assert counts == {"home": 1, "media": 2}
    assert [(p.name, p.reason, p.restarts, p.node) for p in worst] == [
        ("jellyfin-7d9f", "CrashLoopBackOff", 12, "tp-node1"),
        ("sidecar-2", "Error", 3, "tp-node1"),
        ("pending-0", "Pending", 0, ""),
    ]


def test_no_pod_rows_means_kubectl_failed_not_a_healthy_cluster() -> None:
    assert parse_pods("") is None
    assert parse_pods("The connection to the server 127.0.0.1:6443 was refused") is None


def test_degraded_and_faulted_volumes_faulted_first() -> None:
    document = {
        "items": [
            {"metadata": {"name": "pvc-a"}, "status": {"robustness": "degraded"}},
            {"metadata": {"name": "pvc-b"}, "status": {"robustness": "healthy"}},
            {
                "metadata": {"name": "pvc-c"},
                "status": {
                    "robustness": "faulted",
                    "kubernetesStatus": {"namespace": "db", "pvcName": "data-0"},
                },
            },
        ]
    }
    volumes = parse_volumes(json.dumps(document))
    assert volumes is not None
    assert [(v.name, v.robustness, v.claim) for v in volumes] == [
        ("pvc-c", "faulted", "db/data-0"),
        ("pvc-a", "degraded", ""),
    ]
    assert parse_volumes("not json") is None


def test_a_node_with_a_volumes_only_healthy_replicas_is_its_last() -> None:
    document = {
        "items": [
            {"spec": {"volumeName": "v1", "nodeID": "n1", "healthyAt": "t", "failedAt": ""}},
            {"spec": {"volumeName": "v1", "nodeID": "n2", "healthyAt": "t", "failedAt": "t"}},
            {"spec": {"volumeName": "v2", "nodeID": "n1", "healthyAt": "t", "failedAt": ""}},
            {"spec": {"volumeName": "v2", "nodeID": "n2", "healthyAt": "t", "failedAt": ""}},
        ]
    }
    replicas = parse_replicas(json.dumps(document))
    assert replicas is not None
    assert last_healthy_replicas(replicas, "n1") == ["v1"]
    assert last_healthy_replicas(replicas, "n2") == []


def test_certificates_within_thirty_days_soonest_first() -> None:
    document = {
        "Certificates": [
            {"Filename": "a.crt", "ExpiryTime": "2027-02-01T00:00:00Z"},
            {"Filename": "b.crt", "ExpiryTime": "2026-12-20T00:00:00Z"},
            {"Filename": "c.crt", "ExpiryTime": "2026-12-01T00:00:00Z"},
            {"Filename": "d.crt", "ExpiryTime": "soon"},
        ]
    }
    soon = parse_certificates(json.dumps(document), NOW)
    assert soon is not None and [c.filename for c in soon] == ["c.crt", "b.crt"]
    assert parse_certificates("[]", NOW) is None


@given(st.text(max_size=400))
def test_any_answer_is_read_without_raising(text: str) -> None:
    parse_pods(text)
    parse_volumes(text)
    parse_certificates(text, NOW)
    replicas = parse_replicas(text) or ()
    assert all(isinstance(r, Replica) for r in replicas)
