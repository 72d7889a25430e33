"""The environment labbot gives the nix and colmena processes: an allowlist of its own variables.

Must not pass the bot's secrets (Slack, GitHub, age keys) to child processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

PASSED_THROUGH = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "NIX_PATH",
    "NIX_REMOTE",
    "NIX_CONFIG",
    "NIX_SSL_CERT_FILE",
    "SSL_CERT_FILE",
    "SSH_AUTH_SOCK",
    "SSH_CONFIG_FILE",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
)
DEFAULT_PATH = "/run/current-system/sw/bin:/usr/local/bin:/usr/bin:/bin"


def tool_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted variables of this process, no colours, plus `extra`."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env["NO_COLOR"] = "1"
    env["CLICOLOR"] = "0"
    env.update(extra or {})
    return env
