"""nix/renovate.json: only real Renovate option names, the nix manager and lock-file maintenance on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.config import GitHubConfig

ROOT = Path(__file__).resolve().parents[2]
RENOVATE = ROOT / "nix" / "renovate.json"

# Renovate option names, from Renovate's configuration docs (docs.renovatebot.com, "RENOVATE",
# which cites Renovate's lib/config/options/index.ts): branch naming, commit message, semantic
# commits, the nix manager, lockFileMaintenance and its schedule/recreateWhen, labels and the
# dependency dashboard. Plus `extends` (how a config takes the `config:recommended` preset that
# §7 refers to) and `$schema` (the JSON-schema key Renovate accepts in any config file).
RENOVATE_OPTIONS = frozenset(
    {
        "$schema",
        "extends",
        "branchPrefix",
        "branchName",
        "additionalBranchPrefix",
        "branchTopic",
        "commitMessage",
        "semanticCommits",
        "nix",
        "enabled",
        "lockFileMaintenance",
        "schedule",
        "recreateWhen",
        "labels",
        "addLabels",
        "dependencyDashboard",
        "dependencyDashboardLabels",
        "rebaseLabel",
    }
)


def option_names(config: Any) -> set[str]:
    """Every key of the config and of the option objects nested in it."""
    names: set[str] = set()
    if isinstance(config, dict):
        for key, value in config.items():
            names.add(key)
            names |= option_names(value)
    return names


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RENOVATE.read_text())
    return data


def test_uses_only_real_option_names() -> None:
    unknown = option_names(load()) - RENOVATE_OPTIONS
    assert unknown == set()


def test_the_check_catches_a_misspelt_option() -> None:
    assert option_names({"nix": {"enable": True}}) - RENOVATE_OPTIONS == {"enable"}


def test_tracks_the_flake_with_the_nix_manager() -> None:
    config = load()
    # The nix manager is disabled by default (§7); it is what reads flake.nix / flake.lock.
    assert config["nix"]["enabled"] is True
    assert config["lockFileMaintenance"]["enabled"] is True
    assert config["extends"] == ["config:recommended"]


def test_branch_prefix_is_the_one_labbot_watches() -> None:
    prefix = load().get("branchPrefix", "renovate/")
    assert prefix == GitHubConfig.model_fields["renovate_branch_prefix"].default
