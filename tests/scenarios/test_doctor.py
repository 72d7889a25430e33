"""`labbot doctor` against the simulated lab: every check passes on the healthy lab, and each
fault injected is named with its fix (and fails the command)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.doctor import Doctor, Finding
from labsim.lab import (
    APP_TOKEN_ENV,
    BMC_PASSWORD_ENV,
    BOT_TOKEN_ENV,
    GITHUB_TOKEN_ENV,
    LAB_CHANNEL,
    Lab,
)
from labsim.slack.workspace import MANIFEST_SCOPES


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True) as lab:
        yield lab


@contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


async def failed(lab: Lab) -> dict[str, Finding]:
    """The failed findings of a doctor run on the lab's current config, by `area: check`."""
    findings = await Doctor(lab.config()).run()
    return {f"{f.area}: {f.check}": f for f in findings if not f.ok}


async def test_the_healthy_lab_passes_every_check_through_the_command(lab: Lab) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        "-c",
        str(lab.config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 0, text + err.decode()
    print(text)
    for line in (
        "[ok  ] slack: tokens: bot and app-level tokens accepted",
        "[ok  ] slack: scopes: every scope labbot uses",
        f"[ok  ] slack: channel {LAB_CHANNEL}: labbot is a member",
        "[ok  ] bmc turingpi: tls: its certificate matches the pinned fingerprint",
        "[ok  ] bmc turingpi: login: firmware 2.1.0 (bmcd 2.3.4)",
        "[ok  ] node tp-node3: ssh: NixOS ",
        "[ok  ] node tp-node3: activation rights: sudo without a password works",
        "[ok  ] colmena: version: colmena 0.4.0",
        "[ok  ] colmena: hive schema: the hive is schema v0, which colmena 0.4.0 reads",
        "[ok  ] nix: builds for the nodes: aarch64-linux",
        "[ok  ] infra: flake.lock: present",
        "[ok  ] sops: secrets/secrets.yaml: labbot's age key decrypts it",
        "[ok  ] github: token: classic token with scopes repo",
        "[ok  ] github: permissions: reads contents, pull requests, checks and statuses; can push",
        "[ok  ] github: branch protection: main is not protected",
    ):
        assert line in text, line
    assert "FAIL" not in text and text.rstrip().endswith("checks passed")


async def test_three_faults_through_the_command_print_the_checklist_alone(lab: Lab) -> None:
    # The closing note's run: a scope missing, sudo asking the deploy user for a password, and
    # a BMC password that is not the BMC's. Nothing but the checklist is printed (no log lines).
    lab.slack.install_with_scopes(s for s in MANIFEST_SCOPES if s != "channels:read")
    assert lab.cluster is not None
    lab.cluster["tp-node3"].sudo_needs_password()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        "-c",
        str(lab.config_path),
        env={**os.environ, BMC_PASSWORD_ENV: "not-the-password"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    print(text)
    assert process.returncode == 1
    assert err.decode() == ""
    failures = [line for line in text.splitlines() if line.startswith("[FAIL]")]
    assert failures == [
        "[FAIL] slack: scopes: missing channels:read",
        "[FAIL] bmc turingpi: login: BMC turingpi refused the login for user root "
        "(credentials incorrect)",
        "[FAIL] node tp-node3: activation rights: sudo -n refused: sudo: a password is required",
    ]
    for fix in ("reinstall the app", "username and password", "wheelNeedsPassword = false"):
        assert fix in text, fix
    assert text.rstrip().endswith("; 3 failed")


async def test_slack_rate_limiting_the_check_is_told_to_wait_not_blamed_on_a_token(
    lab: Lab,
) -> None:
    # apps.connections.open is Tier 1 (about once a minute): a second doctor run soon after the
    # bot connected may be refused for a while.
    lab.slack.inject_rate_limit("apps.connections.open", count=1, retry_after=30)
    found = await failed(lab)
    assert found["slack: tokens"].detail == "Slack did not answer: Slack answered ratelimited"
    assert "try again in a minute" in found["slack: tokens"].fix


async def test_each_fault_is_named_with_its_fix(lab: Lab) -> None:
    # Many runs in a row here: Slack's per-minute limit on apps.connections.open is lifted.
    lab.slack.enforce_rate_limits(False)
    assert await failed(lab) == {}
    assert lab.cluster is not None and lab.directory is not None

    with environment(BOT_TOKEN_ENV, "xoxb-1-not-ours"):
        found = await failed(lab)
    assert "slack.bot_token was refused by Slack (invalid_auth)" in found["slack: tokens"].detail
    assert "App-Level Tokens" in found["slack: tokens"].fix

    # Installed from an older manifest (or a scope removed on OAuth & Permissions since).
    lab.slack.install_with_scopes(s for s in MANIFEST_SCOPES if s != "usergroups:read")
    found = await failed(lab)
    lab.slack.install_with_scopes(MANIFEST_SCOPES)
    assert list(found) == ["slack: scopes"]
    assert found["slack: scopes"].detail == "missing usergroups:read"
    assert "reinstall the app from slack-app-manifest.yaml" in found["slack: scopes"].fix

    lab.slack.add_channel("C0NOTIN001", "elsewhere", bot_member=False)  # never invited
    slack = lab.config().slack.model_dump(mode="json")
    lab.config_overrides["slack"] = {**slack, "allowed_channels": [LAB_CHANNEL, "C0NOTIN001"]}
    found = await failed(lab)
    del lab.config_overrides["slack"]
    assert list(found) == ["slack: channel C0NOTIN001"]
    assert "/invite @labbot" in found["slack: channel C0NOTIN001"].fix

    lab.config_overrides["roles"] = {
        **lab.config().roles.model_dump(mode="json"),
        "viewer": {"usergroups": ["S0NOSUCH01"]},
    }
    found = await failed(lab)
    del lab.config_overrides["roles"]
    assert "Slack says no_such_subteam" in found["slack: user group S0NOSUCH01"].detail

    pinned = lab.config().bmc["turingpi"].model_dump(mode="json")
    lab.config_overrides["bmc"] = {"turingpi": {**pinned, "tls": {"fingerprint_sha256": "AB" * 32}}}
    found = await failed(lab)
    del lab.config_overrides["bmc"]
    assert "its certificate changed: it is now " in found["bmc turingpi: tls"].detail
    assert "fingerprint_sha256" in found["bmc turingpi: tls"].fix

    with environment(BMC_PASSWORD_ENV, "not-the-password"):
        found = await failed(lab)
    assert list(found) == ["bmc turingpi: login"], found
    login = found["bmc turingpi: login"]
    assert login.detail.startswith("BMC turingpi refused the login for user "), login.detail
    assert "will not send this password again" not in login.detail  # the bot's, not doctor's
    assert "password" in login.fix

    node = lab.cluster["tp-node3"]
    await node.ssh_down()
    try:
        found = await failed(lab)
    finally:
        await node.ssh_up()
    assert "unreachable over SSH" in found["node tp-node3: ssh"].detail
    assert "/lab power status" in found["node tp-node3: ssh"].fix

    node.sudo_needs_password()  # no NOPASSWD rule for the deploy user
    try:
        found = await failed(lab)
    finally:
        node.sudo_needs_password(False)
    assert list(found) == ["node tp-node3: activation rights"]
    rights = found["node tp-node3: activation rights"]
    assert rights.detail == "sudo -n refused: sudo: a password is required"
    assert "wheelNeedsPassword = false" in rights.fix

    stray = lab.flake_dir / "notes.txt"
    stray.write_text("uncommitted\n")
    lock = lab.flake_dir / "flake.lock"
    lock.rename(lab.flake_dir / "flake.lock.away")
    try:
        found = await failed(lab)
    finally:
        stray.unlink()
        (lab.flake_dir / "flake.lock.away").rename(lock)
    assert "changed or untracked file(s)" in found["infra: checkout clean"].detail
    assert found["infra: flake.lock"].detail == "missing"
    assert "nix flake lock" in found["infra: flake.lock"].fix

    with environment("LABSIM_NIX_EXTRA_PLATFORMS", ""):
        found = await failed(lab)
    assert "aarch64-linux: not at all" in found["nix: builds for the nodes"].detail
    assert "binfmt" in found["nix: builds for the nodes"].fix

    # The flake's colmena input moved to main (lib.makeHive makes schema v0.5); the CLI is 0.4.0.
    lab.cluster.hive_schema = "v0.5"
    lab.cluster.write_inventory(lab.flake_dir)
    try:
        found = await failed(lab)
    finally:
        lab.cluster.hive_schema = "v0"
        lab.cluster.write_inventory(lab.flake_dir)
    assert list(found) == ["colmena: hive schema"]
    schema = found["colmena: hive schema"]
    assert schema.detail == "the hive is schema v0.5, colmena 0.4.0 reads only v0"
    assert "colmena input" in schema.fix and "colmena.binary" in schema.fix

    lab.config_overrides["colmena"] = {
        **lab.config().colmena.model_dump(mode="json"),  # type: ignore[union-attr]
        "binary": "/nonexistent/colmena",
    }
    found = await failed(lab)
    del lab.config_overrides["colmena"]
    assert "cannot run /nonexistent/colmena" in found["colmena: version"].detail

    other_key = Path(lab.directory) / "other-age.key"
    other_key.write_text(
        "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSTJLY3\n"
    )
    lab.config_overrides["sops"] = {
        **lab.config().sops.model_dump(mode="json"),  # type: ignore[union-attr]
        "age_key": {"file": str(other_key)},
    }
    found = await failed(lab)
    del lab.config_overrides["sops"]
    assert "Failed to get the data key" in found["sops: secrets/secrets.yaml"].detail
    assert "updatekeys" in found["sops: secrets/secrets.yaml"].fix

    with environment(GITHUB_TOKEN_ENV, "ghp_" + "x" * 36):
        found = await failed(lab)
    assert "GitHub refused the credentials (Bad credentials)" in found["github: check"].detail
    assert "token" in found["github: check"].fix

    assert lab.github is not None
    lab.github.set_role("labbot", "read")  # the token's account is a read-only collaborator
    found = await failed(lab)
    lab.github.set_role("labbot", "admin")
    assert list(found) == ["github: permissions"]
    assert "can only read this repository" in found["github: permissions"].detail
    assert "Read and write" in found["github: permissions"].fix

    # A fine-grained token as the README says, but without Checks and with Pull requests
    # read-only: the missing read is named; a write permission cannot be seen by reading.
    fine = "github_pat_11AAAAAAA0" + "x" * 72
    lab.github.add_token(
        fine,
        "labbot",
        permissions={"contents": "write", "pull_requests": "read", "statuses": "read"},
    )
    with environment(GITHUB_TOKEN_ENV, fine):
        found = await failed(lab)
    assert list(found) == ["github: permissions"]
    detail = found["github: permissions"].detail
    assert detail == "GitHub refused reading checks (needs checks=read)"

    lab.github.protect_branch("main", required_contexts=["ci/build"])
    findings = await Doctor(lab.config()).run()
    lab.github.unprotect_branch("main")
    assert [f.detail for f in findings if f.check == "branch protection"] == [
        "main is protected: merging needs ci/build"
    ]

    missing = Path(lab.directory) / "no-such-secret"
    lab.config_overrides["sops"] = {
        **lab.config().sops.model_dump(mode="json"),  # type: ignore[union-attr]
        "age_key": {"file": str(missing)},
    }
    found = await failed(lab)
    del lab.config_overrides["sops"]
    assert list(found) == ["config: sops.age_key"]  # nothing else is asked without its secrets
    assert await failed(lab) == {}


async def test_faults_in_the_config_alone_are_each_named_with_a_fix(lab: Lab) -> None:
    # Four faults a new operator makes in the config, in one run: the app-level token of another
    # app, a BMC at an address where nothing listens, an empty known_hosts file, a repository
    # that does not exist.
    with socket.socket() as closed:  # a port that was free a moment ago: the BMC is not there
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    bmc = lab.config().bmc["turingpi"].model_dump(mode="json")
    lab.config_overrides["bmc"] = {"turingpi": {**bmc, "url": f"https://127.0.0.1:{port}"}}
    assert lab.directory is not None
    empty = Path(lab.directory) / "empty_known_hosts"
    empty.write_text("")
    ssh = lab.config().ssh.model_dump(mode="json")  # type: ignore[union-attr]
    lab.config_overrides["ssh"] = {**ssh, "known_hosts_file": str(empty)}
    github = lab.config().github.model_dump(mode="json")  # type: ignore[union-attr]
    lab.config_overrides["github"] = {**github, "repo": "homelab/no-such-repo"}

    with environment(APP_TOKEN_ENV, "xapp-1-A0NOTOURS-1-" + "0" * 20):
        found = await failed(lab)

    assert sorted(found) == [
        "bmc turingpi: reachable",
        "github: check",
        "node tp-node3: ssh",
        "slack: tokens",
    ]
    assert "slack.app_token was refused" in found["slack: tokens"].detail
    assert found["bmc turingpi: reachable"].detail.startswith(f"https://127.0.0.1:{port}: ")
    assert "bmc.<name>.url" in found["bmc turingpi: reachable"].fix
    assert "has no host key for tp-node3" in found["node tp-node3: ssh"].detail
    assert "known_hosts_file" in found["node tp-node3: ssh"].fix
    assert "not found" in found["github: check"].detail
    assert "github.repo" in found["github: check"].fix
    assert all(f.fix for f in found.values())
