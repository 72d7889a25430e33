"""check-config: the example passes; each kind of mistake is reported with its YAML path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config_file import check_config_text, load_config
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"


def example() -> str:
    return EXAMPLE.read_text()


def run_check(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "check-config", *options, str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"]},  # none of the secrets' variables
    )


def test_check_config_reads_every_secret_and_names_each_missing_one() -> None:
    result = run_check(EXAMPLE)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert (
        f"{EXAMPLE}: slack.bot_token: environment variable LABBOT_SLACK_BOT_TOKEN is not set"
        in lines
    )
    for path, _source in load_config(EXAMPLE).secret_sources():  # each named once
        assert sum(line.startswith(f"{EXAMPLE}: {path}: ") for line in lines) == 1, path


def test_example_config_is_valid() -> None:
    result = run_check(EXAMPLE, "--no-secrets")
    assert result.returncode == 0, result.stderr
    assert "tp-node3" in result.stdout
    config = load_config(EXAMPLE)
    node = config.inventory.node("tp-node3")
    assert node is not None and node.slot == 3 and node.module == "cm4"
    assert node.k3s_role == "server"
    deferred = [n.name for n in config.inventory.nodes if n.deferred]
    assert deferred == ["tp-node1", "tp-node2"]


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        (
            "bot_token: {env: LABBOT_SLACK_BOT_TOKEN}",
            "bot_token: xoxb-123456-abcdef",
            "slack.bot_token",
            "plaintext Slack bot token",
        ),
        ("  command: /lab", "  command: /lab\n  colour: blue", "slack.colour", "unknown field"),
        ("      slot: 3 ", "      slot: 5 ", "inventory.nodes[0].slot", "less than or equal to 4"),
        ('digest_cron: "0 7 * * *"', 'digest_cron: "0 25 * * *"', "schedules.digest_cron", "cron"),
        ("timezone: Europe/Berlin", "timezone: Mars/Olympus", "schedules.timezone", "time zone"),
        ("users: [U0OPERATOR1]", "users: [alice]", "roles.operator.users[0]", "pattern"),
    ],
)
def test_bad_config_names_the_yaml_path(
    tmp_path: Path, old: str, new: str, path: str, words: str
) -> None:
    text = example()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1))
    result = run_check(bad)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if f": {path}:" in line]
    assert lines, result.stderr
    assert any(words in line for line in lines), lines


def test_plaintext_secret_value_is_never_printed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    token = "ghp_" + "A1b2C3d4" * 5
    bad.write_text(example().replace("token: {env: LABBOT_GITHUB_TOKEN}", f"token: {token}"))
    result = run_check(bad)
    assert result.returncode != 0
    assert "github.token" in result.stderr
    assert token not in result.stderr + result.stdout


def test_age_key_anywhere_is_refused() -> None:
    text = example().replace("log_level: info", "log_level: info\n# ok\nnote: AGE-SECRET-KEY-1QQQ")
    config, problems = check_config_text(text)
    assert config is None
    assert any(p.path == "note" and "age secret key" in p.message for p in problems)


def test_every_problem_is_reported_at_once() -> None:
    text = (
        example()
        .replace("      slot: 3 ", "      slot: 0 ")
        .replace("mode: socket", "mode: carrier-pigeon")
    )
    config, problems = check_config_text(text)
    assert config is None
    paths = {p.path for p in problems}
    assert {"inventory.nodes[0].slot", "slack.mode"} <= paths


def test_duplicate_slot_and_unknown_board_are_errors() -> None:
    text = example().replace("      slot: 1\n", "      slot: 3\n")
    config, problems = check_config_text(text)
    assert config is None
    assert any("slot 3 of board turingpi is used twice" in p.message for p in problems)
    text = example().replace(
        "      board: turingpi\n      slot: 3", "      board: other\n      slot: 3"
    )
    config, problems = check_config_text(text)
    assert config is None and any("unknown board" in p.message for p in problems)


def test_socket_mode_needs_app_token() -> None:
    text = example().replace("  app_token: {env: LABBOT_SLACK_APP_TOKEN}", "")
    config, problems = check_config_text(text)
    assert config is None
    assert any(p.path == "slack" and "app_token" in p.message for p in problems)


def test_experimental_flake_eval_is_refused() -> None:
    text = example().replace("extra_args: []", 'extra_args: ["--experimental-flake-eval"]')
    _, problems = check_config_text(text)
    assert any(p.path == "colmena.extra_args" for p in problems)


def test_inventory_file_is_read(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        '{"nodes": {"tp-node3": {"board": "turingpi", "slot": 3, "module": "cm4",'
        ' "host": "10.0.0.3", "user": "deploy", "port": 2222, "tags": ["k3s"], "k3s_role": "server"}}}'
    )
    start = example().index("  nodes:\n")
    end = example().index("\nbmc:")
    text = example()[:start] + f"  file: {inventory}\n" + example()[end:]
    config, problems = check_config_text(text)
    assert problems == []
    assert config is not None
    node = config.inventory.node("tp-node3")
    assert node is not None and node.ssh_port == 2222 and node.host == "10.0.0.3"


def test_load_config_raises_with_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("slack: [")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.problems and "not valid YAML" in info.value.problems[0]


def test_secret_source_reads_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import SecretSource

    monkeypatch.setenv("LABBOT_TEST_SECRET", " s3cret \n")
    assert SecretSource(env="LABBOT_TEST_SECRET").read() == "s3cret"
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    assert SecretSource(file=path).read() == "from-file"
    with pytest.raises(LookupError, match="LABBOT_MISSING is not set"):
        SecretSource(env="LABBOT_MISSING").read()


def test_a_database_password_in_the_yaml_is_refused_without_printing_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    line = "  # database_url: postgresql://labbot@db/labbot   # default: SQLite in state_dir"
    assert line in example()
    bad.write_text(
        example().replace(line, "  database_url: postgresql://labbot:Sup3r-s3cret@db/lab")
    )
    result = run_check(bad)
    assert result.returncode != 0
    assert "storage.database_url" in result.stderr and "password in a URL" in result.stderr
    assert "Sup3r-s3cret" not in result.stderr + result.stdout


def test_a_database_url_from_the_environment_is_used_and_its_password_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import configured_secrets

    line = "  # database_url: postgresql://labbot@db/labbot   # default: SQLite in state_dir"
    path = tmp_path / "config.yaml"
    path.write_text(example().replace(line, "  database_url: {env: LABBOT_DATABASE_URL}"))
    monkeypatch.setenv("LABBOT_DATABASE_URL", "postgresql://labbot:p%40ss-w0rd@db:5432/lab\n")
    config = load_config(path)
    assert config.storage.resolved_database_url() == (
        "postgresql+asyncpg://labbot:p%40ss-w0rd@db:5432/lab"
    )
    secrets = list(configured_secrets(config))
    assert "p%40ss-w0rd" in secrets and "p@ss-w0rd" in secrets
    monkeypatch.setenv("LABBOT_DATABASE_URL", "mysql://labbot@db/lab")
    with pytest.raises(ValueError, match="sqlite:// or postgresql://"):
        config.storage.resolved_database_url()
