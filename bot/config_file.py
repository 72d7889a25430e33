"""Loading the YAML config file and reporting every problem with its YAML path and line.

Never prints a secret: a plaintext token is reported by its path and kind, not its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.config import URL_PASSWORD, Config
from bot.errors import ConfigError

# Token shapes that must never sit in the YAML itself.
PLAINTEXT_TOKENS: dict[str, re.Pattern[str]] = {
    "Slack bot token": re.compile(r"xoxb-"),
    "Slack app token": re.compile(r"xapp-"),
    "Slack user token": re.compile(r"xox[pae]-"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]"),
    "GitHub fine-grained token": re.compile(r"github_pat_"),
    "age secret key": re.compile(r"AGE-SECRET-KEY-", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # scheme://user:password@ — e.g. a database URL (give the whole URL as {env}/{file}, or
    # leave the password to PGPASSWORD / ~/.pgpass).
    "password in a URL": URL_PASSWORD,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config file, located by YAML path and line."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


def format_path(loc: tuple[int | str, ...]) -> str:
    """`('inventory', 'nodes', 0, 'slot')` → `inventory.nodes[0].slot`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_index(node: yaml.Node, loc: tuple[int | str, ...], index: dict[str, int]) -> None:
    index[format_path(loc)] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _line_index(value, (*loc, key.value), index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*loc, i), index)


def _plaintext_tokens(data: object, loc: tuple[int | str, ...] = ()) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _plaintext_tokens(value, (*loc, str(key)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found += _plaintext_tokens(item, (*loc, i))
    elif isinstance(data, str):
        for kind, pattern in PLAINTEXT_TOKENS.items():
            if pattern.search(data):
                found.append((format_path(loc), kind))
                break
    return found


def _pydantic_problems(exc: ValidationError, lines: dict[str, int]) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(
            p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))
        )
        path = format_path(loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        # The nearest enclosing path that has a line (a missing field has none of its own).
        probe = loc
        while format_path(probe) not in lines and probe:
            probe = probe[:-1]
        problems.append(Problem(path, lines.get(format_path(probe)), message))
    return problems


def check_config_text(text: str) -> tuple[Config | None, list[Problem]]:
    """Validate config YAML; returns the config when there are no problems, and every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [Problem("", line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return None, [Problem("", None, "the config must be a YAML mapping")]
    lines: dict[str, int] = {}
    if root is not None:
        _line_index(root, (), lines)
    problems = [
        Problem(
            path,
            lines.get(path),
            f"plaintext {kind} in the config; use {{env: VAR}} or {{file: PATH}}",
        )
        for path, kind in _plaintext_tokens(data)
    ]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, lines)
        return None, problems
    except (OSError, ValueError) as exc:  # the inventory file could not be read
        problems.append(Problem("inventory.file", lines.get("inventory.file"), str(exc)))
        return None, problems
    return (None if problems else config), problems


def load_config(path: Path) -> Config:
    """Load and validate a config file; raises `ConfigError` listing every problem."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    config, problems = check_config_text(text)
    if config is None:
        raise ConfigError(
            f"{path} has {len(problems)} problem(s)", problems=[str(p) for p in problems]
        )
    return config


def unreadable_secrets(config: Config) -> list[Problem]:
    """One problem per secret the config names that this machine cannot read (never a value)."""
    problems = []
    for path, source in config.secret_sources():
        try:
            source.read()
        except LookupError as missing:
            problems.append(Problem(path, None, str(missing)))
    return problems
