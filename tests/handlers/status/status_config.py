"""The smallest config the status capability's unit tests build reports with: one board, one
BMC, no secrets read (every secret names an environment variable that is never looked up)."""

from __future__ import annotations

from typing import Any

from bot.config import Config


def minimal_config(**sections: Any) -> Config:
    """That config, with `sections` (e.g. `digest={...}`, `colmena={...}`) added or replaced."""
    return Config.model_validate(
        {
            "slack": {
                "bot_token": {"env": "X"},
                "app_token": {"env": "Y"},
                "allowed_channels": ["C0LAB00001"],
            },
            "roles": {},
            "inventory": {"boards": [{"name": "turingpi", "bmc": "turingpi"}]},
            "bmc": {"turingpi": {"url": "https://127.0.0.1", "password": {"env": "Z"}}},
            **sections,
        }
    )
