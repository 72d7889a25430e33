"""deploy/k8s: the manifests parse, every Secret/ConfigMap key they reference exists, the
config in the ConfigMap passes `labbot check-config`, and the pod runs hardened as non-root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import HealthConfig, StorageConfig
from bot.config_file import check_config_text

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "k8s" / "labbot.yaml"
SECRET_EXAMPLE = ROOT / "deploy" / "k8s" / "labbot-secrets.example.yaml"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def by_kind(kind: str) -> dict[str, Any]:
    found = [d for d in documents(MANIFEST) + documents(SECRET_EXAMPLE) if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = by_kind("Deployment")["spec"]["template"]["spec"]
    return spec


def container() -> dict[str, Any]:
    containers = pod_spec()["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found


def walk(node: Any) -> list[dict[str, Any]]:
    """Every mapping inside a document."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for item in node:
            found += walk(item)
    return found


def secret_references(secret_name: str) -> set[str]:
    """Keys of `secret_name` used by secretKeyRef, envFrom-less volume items and projections."""
    keys: set[str] = set()
    for mapping in walk(by_kind("Deployment")):
        ref = mapping.get("secretKeyRef")
        if isinstance(ref, dict) and ref.get("name") == secret_name:
            keys.add(ref["key"])
        secret = mapping.get("secret")
        if isinstance(secret, dict) and secret_name in (
            secret.get("secretName"),
            secret.get("name"),
        ):
            assert "items" in secret, "mount the Secret by items, so every key is named"
            keys |= {item["key"] for item in secret["items"]}
    return keys


def test_manifests_parse_into_the_expected_objects() -> None:
    kinds = [d["kind"] for d in documents(MANIFEST)]
    assert kinds == ["Namespace", "ConfigMap", "Deployment", "PodDisruptionBudget"]
    assert [d["kind"] for d in documents(SECRET_EXAMPLE)] == ["Secret"]
    for doc in documents(MANIFEST)[1:] + documents(SECRET_EXAMPLE):
        assert doc["metadata"]["namespace"] == "labbot"


def test_every_referenced_secret_key_exists() -> None:
    secret = by_kind("Secret")
    defined = set(secret["stringData"])
    used = secret_references(secret["metadata"]["name"])
    assert used, "the Deployment uses no key of the Secret"
    assert used - defined == set()
    assert defined - used == set(), "a Secret key nobody mounts"


def test_the_secret_template_holds_no_values() -> None:
    secret = by_kind("Secret")
    assert "data" not in secret
    assert all(value == "" for value in secret["stringData"].values())


def test_every_referenced_configmap_key_exists() -> None:
    configmap = by_kind("ConfigMap")
    for mapping in walk(by_kind("Deployment")):
        source = mapping.get("configMap")
        if isinstance(source, dict):
            assert source["name"] == configmap["metadata"]["name"]
            assert {item["key"] for item in source["items"]} <= set(configmap["data"])


def test_volumes_mounted_are_volumes_defined() -> None:
    defined = {v["name"] for v in pod_spec()["volumes"]}
    mounted = {m["name"] for m in container()["volumeMounts"]}
    assert mounted == defined


def mount_path(volume: str) -> Path:
    return Path(next(m["mountPath"] for m in container()["volumeMounts"] if m["name"] == volume))


def mounted_files() -> dict[Path, tuple[str, str]]:
    """Container path → (volume kind, key) for every ConfigMap and Secret item."""
    files: dict[Path, tuple[str, str]] = {}
    for volume in pod_spec()["volumes"]:
        for kind in ("configMap", "secret"):
            if kind in volume:
                for item in volume[kind]["items"]:
                    files[mount_path(volume["name"]) / item["path"]] = (kind, item["key"])
    return files


def file_references(data: Any) -> list[str]:
    """Every `{file: ...}` secret reference in the config."""
    return [m["file"] for m in walk(data) if set(m) == {"file"}]


def configmap_config(tmp_path: Path) -> str:
    """config.yaml with the mounted inventory path pointed at the ConfigMap's copy in tmp_path."""
    data = by_kind("ConfigMap")["data"]
    inventory = tmp_path / "inventory.json"
    inventory.write_text(data["inventory.json"])
    mounted = str(mount_path("config") / "inventory.json")
    text: str = data["config.yaml"]
    assert mounted in text
    return text.replace(mounted, str(inventory))


def test_configmap_config_passes_check_config(tmp_path: Path) -> None:
    config, problems = check_config_text(configmap_config(tmp_path))
    assert problems == []
    assert config is not None
    assert [n.name for n in config.inventory.nodes] == ["tp-node1", "tp-node2", "tp-node3"]
    assert config.colmena is None  # no Nix in the image: deploys run from NixOS
    assert config.storage.state_dir == mount_path("state") == StorageConfig().state_dir


def test_config_secrets_are_files_mounted_from_the_secret() -> None:
    data = yaml.safe_load(by_kind("ConfigMap")["data"]["config.yaml"])
    files = mounted_files()
    references = file_references(data)
    assert references
    for path in references:
        assert files.get(Path(path), ("?", ""))[0] == "secret", path
    assert Path(data["ssh"]["key_file"]) in files
    assert files[Path(data["ssh"]["known_hosts_file"])][0] == "configMap"


def test_configmap_inventory_is_the_flakes_inventory() -> None:
    copy = json.loads(by_kind("ConfigMap")["data"]["inventory.json"])
    assert copy == json.loads((ROOT / "nix" / "inventory.json").read_text())


def test_pod_is_non_root_and_hardened() -> None:
    pod = pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec()["automountServiceAccountToken"] is False
    ctx = container()["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]


def test_two_replicas_on_postgresql_spread_over_nodes_and_kept_up_by_a_budget(
    tmp_path: Path,
) -> None:
    config, _ = check_config_text(configmap_config(tmp_path))
    assert config is not None
    # More than one replica only on PostgreSQL: the URL comes from the Secret.
    assert config.storage.database_url is not None
    deployment = by_kind("Deployment")["spec"]
    assert deployment["replicas"] == 2
    labels = deployment["template"]["metadata"]["labels"]
    [rule] = pod_spec()["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"] == labels
    budget = by_kind("PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1 and budget["selector"]["matchLabels"] == labels


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probes_hit_healthz_on_the_health_port(probe: str, tmp_path: Path) -> None:
    config, _ = check_config_text(configmap_config(tmp_path))
    assert config is not None
    http = container()[probe]["httpGet"]
    assert http["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports[http["port"]] == config.health.port == HealthConfig().port
    assert config.health.host == "0.0.0.0"  # reachable from the kubelet
