"""`/lab sops …` end to end: the real sops binary, age keys, git, the GitHub emulator, Slack.

The lab's infra repo has the plan's `.sops.yaml` (admin, labbot and the CM4 node tp-node3) and an
encrypted `secrets/secrets.yaml`; tp-node1 is an RK1 node without a key yet. Every test ends by
scanning everything the bot posted, uploaded and logged for the secrets it handled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jobflow import approval_message, ask, press, start, wait_final

from bot.app import LabBot
from bot.config import SopsConfig
from bot.integrations.age_keys import (
    ssh_ed25519_private_to_age_identity,
    ssh_ed25519_to_age_recipient,
)
from bot.integrations.sops import Sops
from bot.job_state import JobState
from handlers.secrets.files import encrypted_files, unmatched_files
from handlers.secrets.node_key import known_ed25519_keys
from handlers.secrets.sops_yaml import recipients
from labsim.github.model import PullRequest, Repository
from labsim.lab import INFRA_REPO, LAB_CHANNEL, Lab
from labsim.nodes import NodeSpec
from labsim.sops_seed import ADMIN_KEY_FILE, SECRETS_FILE, SOPS_YAML, bot_key_path

NODES = (
    NodeSpec("tp-node3", 3, "cm4", ("k3s-server", "cm4"), "server"),
    NodeSpec("tp-node1", 1, "rk1", ("k3s-agent", "rk1"), "agent"),
)
SECRETS = Path(SECRETS_FILE)
APPROVE = "labbot:approve"


@pytest.fixture
def overrides() -> dict[str, dict[str, object]]:
    return {}


@pytest.fixture
async def lab(
    overrides: dict[str, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Lab]:
    caplog.set_level(logging.DEBUG)
    settings = {"jobs": {"stream_interval_seconds": 0.1}, **overrides}
    async with Lab(full=True, node_specs=NODES, config_overrides=settings) as lab:
        yield lab


@pytest.fixture
async def bot(lab: Lab) -> AsyncIterator[LabBot]:
    async with lab.bot() as bot:
        await lab.slack.wait_connected()
        yield bot


@dataclass
class Infra:
    """The infra repo as GitHub holds it, read with the lab's keys."""

    lab: Lab
    repo: Repository
    scratch: Path

    @property
    def bot_identity(self) -> str:
        assert self.lab.directory is not None
        return bot_key_path(self.lab.directory).read_text()

    def node_identity(self, name: str) -> str:
        assert self.lab.cluster is not None
        key = self.lab.cluster[name].state_dir / "etc/ssh/ssh_host_ed25519_key"
        return ssh_ed25519_private_to_age_identity(key.read_text())

    def node_recipient(self, name: str) -> str:
        assert self.lab.cluster is not None
        return ssh_ed25519_to_age_recipient(self.lab.cluster[name].host_key_public)

    async def text(self, rev: str, path: str) -> str:
        data = await self.repo.git.read_file(rev, path)
        assert data is not None, (rev, path)
        return data.decode()

    async def sops_at(self, rev: str) -> tuple[Sops, Path]:
        """A sops client on a copy of `rev`'s secrets file, with the bot's key."""
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        (folder / SOPS_YAML).write_text(await self.text(rev, SOPS_YAML))
        (folder / SECRETS).parent.mkdir(parents=True)
        (folder / SECRETS).write_text(await self.text(rev, SECRETS_FILE))
        sops = Sops(folder, identity=self.bot_identity, config=Path(SOPS_YAML), timeout=20)
        return sops, SECRETS

    def only_pr(self) -> PullRequest:
        prs = list(self.repo.pulls.values())
        assert len(prs) == 1, prs
        return prs[0]


@pytest.fixture
def infra(lab: Lab, tmp_path: Path) -> Infra:
    assert lab.github is not None
    owner, name = INFRA_REPO.split("/")
    repo = lab.github.state.find_repo(owner, name)
    assert repo is not None
    return Infra(lab, repo, tmp_path)


async def approve_four_eyes(lab: Lab, job_id: int) -> str:
    """The requester (admin) may not approve; admin2 does. Returns the plan text."""
    approval = await approval_message(lab, job_id)
    refused = await press(lab, lab.users.admin, approval, APPROVE)
    assert "needs a second person's approval" in refused
    assert await press(lab, lab.users.admin2, approval, APPROVE) == (
        f"You approved job {job_id}; it is running now."
    )
    return approval.all_text()


def everything_posted(lab: Lab, caplog: pytest.LogCaptureFixture) -> str:
    """Every Slack call, ephemeral, uploaded file and log line, and the job logs on disk."""
    assert lab.directory is not None
    u = lab.users
    users = (u.admin, u.admin2, u.operator, u.operator2, u.viewer, u.stranger)
    parts = [json.dumps([call.params for call in lab.slack.calls()], default=str)]
    parts += [e.all_text() for user in users for e in lab.slack.ephemerals(user)]
    parts += [f.content.decode(errors="replace") for f in lab.slack.files()]
    parts += [record.getMessage() for record in caplog.records]
    parts += [log.read_text() for log in (lab.directory / "state" / "jobs").glob("*.log")]
    return "\n".join(parts)


async def assert_no_secret(
    lab: Lab, infra: Infra, caplog: pytest.LogCaptureFixture, *values: str
) -> None:
    assert lab.directory is not None
    admin = (lab.directory / ADMIN_KEY_FILE).read_text().splitlines()[-1]
    secrets = [
        admin,
        infra.bot_identity.splitlines()[-1],
        infra.node_identity("tp-node3"),
        infra.node_identity("tp-node1"),
        *values,
    ]
    posted = everything_posted(lab, caplog)
    assert "Fresh clone of the infra repo" in posted  # the scan saw the job's log and thread
    # Any 16 characters of a secret count as a leak; the assertion never shows the secret.
    leaked = [n for n, value in enumerate(secrets) if any(f in posted for f in fragments(value))]
    assert leaked == []
    assert "AGE-SECRET-KEY-" not in posted and "ENC[" not in posted


def fragments(value: str, size: int = 16) -> set[str]:
    """Overlapping pieces of `value` (every 8 characters), so a truncated leak is found too."""
    value = value.strip()
    return {value[i : i + size] for i in range(0, max(1, len(value) - size + 1), 8)}


async def test_rotate_opens_a_pr_with_new_data_keys_and_the_same_values(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    job_id = await start(lab, lab.users.admin, "sops rotate")
    plan = await approve_four_eyes(lab, job_id)
    assert "*Plan*: sops: rotate the data key of 1 file" in plan
    assert "`secrets/secrets.yaml`: new data key" in plan and "values unchanged" in plan
    thread = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    pr = infra.only_pr()
    assert pr.head_ref.startswith(f"labbot/sops-rotate-{job_id}-") and pr.base_ref == "main"
    assert f"Opened PR #{pr.number}" in thread
    assert (
        "Once the PR is merged, deploy it to the affected nodes: `/lab deploy tp-node3`" in thread
    )
    old, old_file = await infra.sops_at(main)
    new, new_file = await infra.sops_at(pr.head_sha)
    assert await new.digest(new_file) == await old.digest(old_file)
    assert await new.data_key_fingerprint(new_file) != await old.data_key_fingerprint(old_file)
    assert await new.can_decrypt(new_file, infra.node_identity("tp-node3"))
    commit = await infra.repo.git.commit_info(pr.head_sha)
    assert commit.parents == (main,)
    assert f"Requested-by: {lab.users.admin} (Slack user, labbot job {job_id})" in commit.message
    assert (await infra.repo.git.changed_files(main, pr.head_sha))[0].path == SECRETS_FILE
    # The operator's checkout is untouched and the job's clone is gone (removed once the job
    # has ended and said so, by the engine's hook).
    assert lab.directory is not None
    await bot.tasks.wait_idle()
    assert not (lab.directory / "state" / "infra-worktrees" / f"job-{job_id}").exists()
    old_token = (await old.decrypt(old_file))["k3s_token"]
    await assert_no_secret(lab, infra, caplog, old_token)


async def test_add_node_derives_the_key_over_ssh_and_keeps_sops_yaml_intact(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    node1 = infra.node_identity("tp-node1")
    before, before_file = await infra.sops_at(main)
    assert not await before.can_decrypt(before_file, node1)
    job_id = await start(lab, lab.users.admin, "sops add-node tp-node1")
    plan = await approve_four_eyes(lab, job_id)
    recipient = infra.node_recipient("tp-node1")
    assert f"key `tp-node1` = `{recipient}` (from its ssh-ed25519 host key SHA256:" in plan
    thread = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "deploy it to the affected nodes: `/lab deploy tp-node1`" in thread
    pr = infra.only_pr()
    after, after_file = await infra.sops_at(pr.head_sha)
    assert await after.can_decrypt(after_file, node1)
    assert await after.digest(after_file) == await before.digest(before_file)
    old_yaml = await infra.text(main, SOPS_YAML)
    new_yaml = await infra.text(pr.head_sha, SOPS_YAML)
    assert recipients(new_yaml)["tp-node1"] == recipient
    added = [line for line in new_yaml.splitlines() if "tp-node1" in line]
    assert [line.strip() for line in added] == [f"- &tp-node1 {recipient}", "- *tp-node1"]
    kept = [line for line in new_yaml.splitlines() if line not in added]
    assert kept == old_yaml.splitlines()  # every comment, anchor and alias, in order
    assert "# sops configuration" in new_yaml and "  # k3s token and friends" in new_yaml
    assert "## After merging\nDeploy: `/lab deploy tp-node1`" in pr.body
    await assert_no_secret(lab, infra, caplog, (await after.decrypt(after_file))["k3s_token"])


async def reflash_host_key(lab: Lab, name: str) -> None:
    """What a reflash does to a node's identity (tests/scenarios/test_flash.py shows the flash
    doing it): a new host key, presented from the next boot, and recorded in known_hosts."""
    assert lab.cluster is not None and lab.bmc is not None
    node = lab.cluster[name]
    old_line = node.known_hosts_line()
    node.new_host_key()
    lab.bmc.set_power(node.spec.slot - 1, False)
    lab.bmc.set_power(node.spec.slot - 1, True)
    await node.settle()
    known_hosts = lab.cluster.known_hosts_path
    known_hosts.write_text(known_hosts.read_text().replace(old_line, node.known_hosts_line()))


async def test_add_node_after_a_reflash_replaces_the_key_and_the_old_key_opens_nothing(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    old_identity = infra.node_identity("tp-node3")
    old_recipient = infra.node_recipient("tp-node3")
    before, before_file = await infra.sops_at(main)
    assert await before.can_decrypt(before_file, old_identity)
    await reflash_host_key(lab, "tp-node3")
    new_identity = infra.node_identity("tp-node3")
    new_recipient = infra.node_recipient("tp-node3")
    assert not await before.can_decrypt(before_file, new_identity)  # why the node needs this

    job_id = await start(lab, lab.users.admin, "sops add-node tp-node3")
    plan = await approve_four_eyes(lab, job_id)
    assert f"key `tp-node3` replaced: `{old_recipient}` → `{new_recipient}`" in plan
    await wait_final(lab, job_id, f"Job {job_id} succeeded")

    pr = infra.only_pr()
    assert pr.title == "sops: replace tp-node3's key (new host key) and rotate"
    after, after_file = await infra.sops_at(pr.head_sha)
    # Checked with the real sops: the new key opens the secrets, the old one does not.
    assert await after.can_decrypt(after_file, new_identity)
    assert not await after.can_decrypt(after_file, old_identity)
    assert await after.digest(after_file) == await before.digest(before_file)
    assert await after.data_key_fingerprint(after_file) != await before.data_key_fingerprint(
        before_file
    )
    old_yaml = await infra.text(main, SOPS_YAML)
    new_yaml = await infra.text(pr.head_sha, SOPS_YAML)
    assert recipients(new_yaml)["tp-node3"] == new_recipient
    assert new_yaml.splitlines() == [
        line.replace(old_recipient, new_recipient) for line in old_yaml.splitlines()
    ]  # one value changed; comments, anchors and aliases as they were
    await assert_no_secret(lab, infra, caplog, (await after.decrypt(after_file))["k3s_token"])


async def test_add_node_refuses_to_replace_a_key_that_did_not_change(
    lab: Lab, bot: LabBot, infra: Infra
) -> None:
    job_id = await start(lab, lab.users.admin, "sops add-node tp-node3")
    thread = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert "`tp-node3` already has its current key in .sops.yaml" in thread
    assert "Nothing was changed." in thread
    assert infra.repo.pulls == {}


async def test_remove_node_locks_it_out_after_a_rotation(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    node3 = infra.node_identity("tp-node3")
    before, before_file = await infra.sops_at(main)
    assert await before.can_decrypt(before_file, node3)
    job_id = await start(lab, lab.users.admin, "sops remove-node tp-node3")
    plan = await approve_four_eyes(lab, job_id)
    assert "`tp-node3` removed as a recipient, then a new data key" in plan
    await wait_final(lab, job_id, f"Job {job_id} succeeded")
    pr = infra.only_pr()
    after, after_file = await infra.sops_at(pr.head_sha)
    assert not await after.can_decrypt(after_file, node3)
    assert await after.digest(after_file) == await before.digest(before_file)
    assert await after.data_key_fingerprint(after_file) != await before.data_key_fingerprint(
        before_file
    )
    assert infra.node_recipient("tp-node3") not in after.file_recipients(after_file)
    old_yaml = await infra.text(main, SOPS_YAML)
    new_yaml = await infra.text(pr.head_sha, SOPS_YAML)
    assert new_yaml.splitlines() == [x for x in old_yaml.splitlines() if "tp-node3" not in x]
    assert "can no longer decrypt" in pr.body
    await assert_no_secret(lab, infra, caplog, (await after.decrypt(after_file))["k3s_token"])


async def test_rotate_k3s_token_changes_only_the_token_and_lists_the_k3s_steps(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    before, before_file = await infra.sops_at(main)
    old_token = (await before.decrypt(before_file))["k3s_token"]
    job_id = await start(lab, lab.users.admin, "sops rotate-k3s-token")
    plan = await approve_four_eyes(lab, job_id)
    assert "`k3s_token` replaced by a new 256-bit random token (not shown anywhere)" in plan
    thread = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "deploy it to the affected nodes: `/lab deploy tp-node3,tp-node1`" in thread
    pr = infra.only_pr()
    after, after_file = await infra.sops_at(pr.head_sha)
    new_tree = await after.decrypt(after_file)
    new_token = new_tree.pop("k3s_token")
    assert new_token != old_token and len(new_token) == 64 and int(new_token, 16) >= 0
    assert new_tree == {}  # nothing else was added or lost
    assert await after.can_decrypt(after_file, infra.node_identity("tp-node3"))
    assert "k3s token rotate --token <old token> --new-token <new token>" in pr.body
    assert "on tp-node3 run" in pr.body and "never paste them into Slack" in pr.body
    assert new_token not in pr.body and old_token not in pr.body
    commit = await infra.repo.git.commit_info(pr.head_sha)
    assert new_token not in commit.message and "k3s token rotate" in commit.message
    await assert_no_secret(lab, infra, caplog, old_token, new_token)


@pytest.mark.parametrize("overrides", [{"sops": {"direct_push": True}}])
async def test_direct_push_moves_main_without_a_pr(
    lab: Lab, bot: LabBot, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    main = await infra.repo.git.resolve("refs/heads/main")
    job_id = await start(lab, lab.users.admin, "sops rotate")
    plan = await approve_four_eyes(lab, job_id)
    assert "Approving pushes it straight to `main`." in plan
    thread = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    moved = await infra.repo.git.resolve("refs/heads/main")
    assert moved is not None and moved != main
    assert infra.repo.pulls == {}
    assert f"Pushed `{moved[:7]}` to `main`." in thread
    assert "Deploy it to the affected nodes: `/lab deploy tp-node3`" in thread
    await assert_no_secret(lab, infra, caplog)


async def test_approval_is_void_when_main_changed_the_secrets_meanwhile(
    lab: Lab, bot: LabBot, infra: Infra
) -> None:
    assert lab.github is not None
    job_id = await start(lab, lab.users.admin, "sops rotate")
    approval = await approval_message(lab, job_id)
    main = await infra.repo.git.resolve("refs/heads/main")
    assert main is not None
    await lab.github.push_to_branch(
        "main", {SECRETS_FILE: await infra.text(main, SECRETS_FILE) + "# edited\n"}
    )
    await press(lab, lab.users.admin2, approval, APPROVE)
    thread = await wait_final(lab, job_id, f"Job {job_id} cancelled")
    assert "void: `main` changed `secrets/secrets.yaml` since the plan" in thread
    assert infra.repo.pulls == {}
    assert set((await infra.repo.git.branches()).keys()) == {"main"}
    assert lab.directory is not None
    await bot.tasks.wait_idle()  # the click's task ends the job, then removes its clone
    assert not (lab.directory / "state" / "infra-worktrees" / f"job-{job_id}").exists()


async def test_a_rejected_change_leaves_no_clone_behind(
    lab: Lab, bot: LabBot, infra: Infra
) -> None:
    assert lab.directory is not None
    job_id = await start(lab, lab.users.admin, "sops rotate")
    approval = await approval_message(lab, job_id)
    clone = lab.directory / "state" / "infra-worktrees" / f"job-{job_id}"
    assert (clone / ".git").is_dir()  # the prepared commit waits in the job's clone
    assert "You rejected" in await press(lab, lab.users.admin2, approval, "labbot:reject")
    await wait_final(lab, job_id, f"Job {job_id} cancelled")
    await bot.tasks.wait_idle()  # the click's task ends the job, then removes its clone
    assert not clone.exists()
    assert infra.repo.pulls == {}
    assert set((await infra.repo.git.branches()).keys()) == {"main"}


async def test_a_prepared_change_survives_a_bot_restart(lab: Lab, infra: Infra) -> None:
    async with lab.bot():
        await lab.slack.wait_connected()
        job_id = await start(lab, lab.users.admin, "sops rotate")
        approval = await approval_message(lab, job_id)
    await lab.slack.wait_for(lambda: not lab.slack.connected, timeout=15)
    async with lab.bot():
        await lab.slack.wait_connected()
        await press(lab, lab.users.admin2, approval, APPROVE)
        await wait_final(lab, job_id, f"Job {job_id} succeeded")
    pr = infra.only_pr()
    assert pr.head_ref.startswith(f"labbot/sops-rotate-{job_id}-")


async def test_refusals_come_before_any_job(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.operator, "sops rotate")
    assert "admin" in reply.text and "Started job" not in reply.text
    reply = await ask(lab, lab.users.admin, "sops add-node tp-node1 age1notakey")
    assert "is not an age recipient" in reply.text
    reply = await ask(lab, lab.users.admin, "sops remove-node tp-node9")
    assert "tp-node9" in reply.text and "Started job" not in reply.text


async def test_add_node_refuses_a_host_key_that_known_hosts_contradicts(
    lab: Lab, bot: LabBot, infra: Infra
) -> None:
    assert lab.cluster is not None
    other = lab.cluster["tp-node3"].host_key_public  # a valid key, but not tp-node1's
    (lab.cluster["tp-node1"].state_dir / "etc/ssh/ssh_host_ed25519_key.pub").write_text(other)
    job_id = await start(lab, lab.users.admin, "sops add-node tp-node1")
    thread = await wait_final(lab, job_id, f"Job {job_id} failed")
    assert "does not match the ed25519 key" in thread and "tp-node1" in thread
    assert infra.repo.pulls == {}


# --- the pure parts: known_hosts matching and which files the rules cover -----------------------


def test_known_hosts_match_plain_and_hashed_entries_for_the_exact_host_and_port() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    salt = b"0123456789abcdef0123"
    digest = hmac.new(salt, b"[10.0.0.3]:2222", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    text = "\n".join(
        [
            f"[10.0.0.3]:2222,tp-node3 {key}",
            f"{hashed} {key}",
            f"10.0.0.4 {key}",
            "[10.0.0.3]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
        ]
    )
    assert len(known_ed25519_keys(text, "10.0.0.3", 2222)) == 2
    assert len(known_ed25519_keys(text, "10.0.0.4", 22)) == 1
    assert known_ed25519_keys(text, "10.0.0.3", 22) == []


def test_rules_are_matched_relative_to_the_folder_of_sops_yaml(tmp_path: Path) -> None:
    sops_yaml = "keys:\n  - &a age1x\ncreation_rules:\n  - path_regex: ^secrets\\.yaml$\n"
    encrypted = "k3s_token: ENC[AES256_GCM,data:x]\nsops:\n  version: 3.9.0\n"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "secrets.yaml").write_text(encrypted)
    (tmp_path / "secrets" / "plain.yaml").write_text("a: 1\n")
    (tmp_path / "secrets.yaml").write_text(encrypted)  # outside the folder: not covered
    tracked = ["secrets.yaml", "secrets/plain.yaml", "secrets/secrets.yaml"]
    settings = SopsConfig(age_key={"env": "UNUSED"}, sops_yaml=Path("secrets/.sops.yaml"))
    found = encrypted_files(tmp_path, tracked, sops_yaml, settings)
    assert found == [Path("secrets/secrets.yaml")]
    assert unmatched_files([Path("secrets/secrets.yaml"), Path("other.yaml")], found) == [
        "other.yaml"
    ]


async def test_a_sops_job_interrupted_after_opening_its_pr_links_it_and_a_resume_reuses_it(
    lab: Lab, bot: LabBot, infra: Infra
) -> None:
    job_id = await start(lab, lab.users.admin, "sops rotate")
    await approve_four_eyes(lab, job_id)
    await wait_final(lab, job_id, f"Job {job_id} succeeded")
    pr = infra.only_pr()
    done = await bot.jobs.jobs.get(job_id)
    assert done is not None
    # The same job as the store holds it when its replica died after opening the PR.
    lost = await bot.jobs.jobs.create(
        kind="sops-rotate",
        text="sops rotate",
        requester=lab.users.admin,
        channel_id=done.channel_id,
        targets=[],
        payload=done.payload,
        owner="a-replica-that-died",
    )
    await bot.jobs.jobs.update_fields(lost.id, thread_ts=done.thread_ts)
    assert await bot.jobs.jobs.move(lost.id, JobState.queued, JobState.running)
    await bot.jobs.recover()
    said = await lab.slack.wait_for(
        lambda: (
            [
                m
                for m in lab.slack.thread(LAB_CHANNEL, done.thread_ts)
                if f"interruption of job {lost.id}: it had opened PR #{pr.number}" in m.text
            ]
            or None
        ),
        timeout=15,
    )
    assert f"/pull/{pr.number}|branch" in said[0].text
    # Applied again (a resume after the crash), the job finds that PR instead of a second one.
    github = await bot.jobs.services.github()
    found = await github.pull_for_branch(done.payload["branch"])
    assert found is not None and found.number == pr.number
    assert len(infra.repo.pulls) == 1
    # Run again by hand, the same change finds that PR still open and prepares nothing.
    again = await start(lab, lab.users.admin, "sops rotate")
    text = await wait_final(lab, again, f"Job {again} cancelled")
    assert f"PR #{pr.number} (<" in text and f"/pull/{pr.number}|branch `{pr.head_ref}`>)" in text
    assert "already makes this change and is still open" in text
    assert len(infra.repo.pulls) == 1 and await bot.jobs.approvals.for_job(again) == []
    # A different change (another node's key) is not held back by it.
    other = await start(lab, lab.users.admin, "sops remove-node tp-node3")
    await approve_four_eyes(lab, other)
    await wait_final(lab, other, f"Job {other} succeeded")
    assert len(infra.repo.pulls) == 2
