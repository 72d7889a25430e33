"""services.labbot (packaging/modules/labbot.nix) against labbot's config schema (bot/config.py).

The module's `settings.<section>` options, read from the module itself with stand-in `lib`/`pkgs`
(module-options.nix), must be exactly `Config.model_fields`: same names, the same required ones,
the same enum and defaults. Its example must render to a config labbot accepts, and its secret
check must know every SecretSource field and every plaintext token shape labbot knows.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from inspect import isclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from bot.config import Config, InventoryConfig, SecretSource
from bot.config_file import PLAINTEXT_TOKENS, check_config_text

ROOT = Path(__file__).resolve().parents[2]
CONFIG_NIX = "import ./packaging/modules/labbot-config.nix"
DECLARED = "import ./tests/nix/module-options.nix { module = ./packaging/modules/labbot.nix; }"

NixEval = Callable[[str], object]
Path_ = tuple[str, ...]


def evaluate(nix_eval: NixEval, expr: str) -> Any:
    return nix_eval(expr)


@pytest.fixture
def declared(nix_eval: NixEval) -> dict[str, Any]:
    result = evaluate(nix_eval, DECLARED)
    assert isinstance(result, dict)
    return result


def _without_none(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def secret_paths(annotation: Any, path: Path_ = ()) -> list[Path_]:
    """Every field that must be a SecretSource under `annotation` (not one that may also be a
    plain string, like storage.database_url); "*" stands for any key of a mapping."""
    found: list[Path_] = []
    options = _without_none(annotation)
    if SecretSource in options and len(options) > 1:
        return found
    for option in options:
        origin = get_origin(option)
        if origin is Annotated:
            found += secret_paths(get_args(option)[0], path)
        elif option is SecretSource:
            found.append(path)
        elif origin is dict:
            found += secret_paths(get_args(option)[1], (*path, "*"))
        elif origin is list:
            found += secret_paths(get_args(option)[0], (*path, "[]"))
        elif isclass(option) and issubclass(option, BaseModel):
            for name, field in option.model_fields.items():
                found += secret_paths(field.annotation, (*path, name))
    return found


def test_settings_options_are_exactly_configs_fields(declared: dict[str, Any]) -> None:
    assert sorted(declared["settings"]) == sorted(Config.model_fields)


def test_required_sections_match(declared: dict[str, Any]) -> None:
    settings = declared["settings"]
    for name, field in Config.model_fields.items():
        option = settings[name]
        if field.is_required():
            assert "default" not in option, name
            assert option["type"] == "yaml value", name
        else:
            assert "default" in option, name


def test_section_kinds_and_defaults_match(declared: dict[str, Any]) -> None:
    settings = declared["settings"]
    for name, field in Config.model_fields.items():
        option = settings[name]
        origin = get_origin(field.annotation)
        if origin is Literal:
            assert option["type"] == {"enum": list(get_args(field.annotation))}
            assert option["default"] == field.default
        elif origin is dict:
            assert option["type"] == {"attrsOf": "yaml value"}
            assert option["default"] == {} == field.default
        elif not field.is_required():
            # null: the section is left out of the file and labbot's default applies.
            assert option["type"] == {"nullOr": "yaml value"}
            assert option["default"] is None
        assert option["description"], name


def test_module_offers_the_secret_and_service_options(declared: dict[str, Any]) -> None:
    assert {
        "enable",
        "package",
        "settings",
        "configFile",
        "environmentFile",
        "credentials",
        "user",
        "group",
        "colmenaPackage",
        "emulateAarch64",  # binfmt, to build the nodes' aarch64 systems on an x86_64 host
    } <= set(declared["optionNames"])


def test_secret_paths_are_every_secret_source_field(nix_eval: NixEval) -> None:
    nix_paths = evaluate(nix_eval, f"({CONFIG_NIX}).secretPaths")
    assert sorted(map(tuple, nix_paths)) == sorted(secret_paths(Config))
    assert ("slack", "bot_token") in secret_paths(Config)


def test_token_shapes_match_labbots(nix_eval: NixEval) -> None:
    samples = [
        "xoxb-1-2",
        "xapp-1-A",
        "xoxp-9",
        "xoxe-1",
        "ghp_abc123",
        "gho_Z",
        "github_pat_11AA",
        "AGE-SECRET-KEY-1QQQ",
        "age-secret-key-1qqq",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        "-----BEGIN PRIVATE KEY-----",
        "C0LAB00001",
        "https://slack.com/api/",
        "gh_not_a_token",
        "/run/secrets/labbot/age-key",
        "postgresql://labbot:Sup3r@db/lab",
        "postgresql://labbot@db/lab?host=/run/postgresql",
        "https://root:turing@turingpi.local",
    ]
    flagged = evaluate(
        nix_eval,
        f"map (s: ({CONFIG_NIX}).problems {{ roles.note = s; }} != [ ]) "
        f"(builtins.fromJSON {json.dumps(json.dumps(samples))})",
    )
    labbot = [any(p.search(s) for p in PLAINTEXT_TOKENS.values()) for s in samples]
    assert flagged == labbot
    nix_kinds = evaluate(nix_eval, f"builtins.attrNames ({CONFIG_NIX}).plaintextTokens")
    assert sorted(nix_kinds) == sorted(PLAINTEXT_TOKENS)


def test_example_renders_to_a_config_labbot_accepts(
    declared: dict[str, Any], nix_eval: NixEval
) -> None:
    example_file = evaluate(nix_eval, "import ./packaging/modules/labbot-example-settings.nix")
    assert declared["example"] == example_file
    rendered = evaluate(
        nix_eval, f"({CONFIG_NIX}).render (import ./packaging/modules/labbot-example-settings.nix)"
    )
    config, problems = check_config_text(yaml.safe_dump(rendered))
    assert problems == []
    assert config is not None
    assert config.slack.bot_token.file == Path("/run/secrets/labbot/slack-bot-token")
    shared = InventoryConfig.model_validate(
        {"boards": [{"name": "turingpi", "bmc": "turingpi"}], "file": ROOT / "nix/inventory.json"}
    )
    assert config.inventory.nodes == shared.nodes


def test_example_has_no_secret_problems(nix_eval: NixEval) -> None:
    problems = evaluate(
        nix_eval,
        f"({CONFIG_NIX}).problems (import ./packaging/modules/labbot-example-settings.nix)",
    )
    assert problems == []


def test_secret_problems_are_found(nix_eval: NixEval) -> None:
    problems = evaluate(
        nix_eval,
        f"""let c = {CONFIG_NIX}; in {{
          plaintext = c.problems {{ slack.bot_token = "not-a-shape-we-know"; }};
          storePath = c.problems {{ sops.age_key.file = "/nix/store/abc-age-key"; }};
          nixPath = c.problems {{ bmc.tp.password.file = ./README.md; }};
          both = c.problems {{ github.token = {{ env = "T"; file = "/run/secrets/t"; }}; }};
          deep = c.problems {{ roles.admin.users = [ "U1" "xoxb-123" ]; }};
          fine = c.problems {{ slack.bot_token.env = "TOKEN"; bmc.tp.password = null; }};
          module = c.problems {{ _module.args.pkgs = throw "never walked"; }};
        }}""",
    )
    assert isinstance(problems, dict)
    assert "settings.slack.bot_token must be" in problems["plaintext"][0]
    assert "settings.sops.age_key.file points into the Nix store" in problems["storePath"][0]
    assert "settings.bmc.tp.password.file is a Nix path" in problems["nixPath"][0]
    assert "settings.github.token must be" in problems["both"][0]
    assert problems["deep"] == [
        "settings.roles.admin.users[1] holds a plaintext Slack bot token; "
        "use { env = ...; } or { file = ...; }"
    ]
    assert problems["fine"] == []
    assert problems["module"] == []


def test_render_leaves_out_null_sections_and_module_internals(nix_eval: NixEval) -> None:
    rendered = evaluate(
        nix_eval,
        f'({CONFIG_NIX}).render {{ slack.mode = "socket"; colmena = null; bmc = {{ }}; '
        f'_module.args = throw "never rendered"; }}',
    )
    assert rendered == {"slack": {"mode": "socket"}, "bmc": {}}
