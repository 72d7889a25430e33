"""What a handler returns: a typed outcome that the dispatcher renders and sends.

Handlers never build Block Kit; `bot/blocks.py` turns outcomes into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    """A message back to the requester: ephemeral unless `in_channel`."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    in_channel: bool = False


Outcome = Reply | None
