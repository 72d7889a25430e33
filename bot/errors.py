"""labbot's exception tree; library exceptions are translated into these at each integration's seam.

Must not import anything outside the standard library, so every module can depend on it.

An IntegrationError's text is raw: the outside words in it (GitHub's, bmcd's, a node's stderr,
colmena's) are kept as they came, and the message that embeds `str(error)` in Slack mrkdwn
escapes it once with `bot.messages.core.outside()`. So an error is never escaped where it is
built, never shown as it is, and the same text reads right in logs, the CLI and audit rows.
A UserError's text is the other way round: labbot's own mrkdwn, answered as it is, so any
outside word in it (a file's contents, a name from GitHub) is escaped where it is built.

    LabError                      base; str() is one sentence that names the target
    ├── ConfigError               the config file is invalid (carries every problem)
    ├── UserError                 bad input or a refusal, answered ephemerally
    │   ├── UsageError            the command text does not parse
    │   ├── UnknownTarget         a node/tag/glob matches nothing known (lists the known names)
    │   ├── NotAllowed            the user lacks the role, or the channel is not allowed
    │   └── ApprovalVoid          a click on an approval that expired, changed or was forged
    └── IntegrationError          the outside world failed (Slack, SSH, BMC, GitHub, colmena, sops)
"""

from __future__ import annotations

from collections.abc import Sequence


class LabError(Exception):
    """Base of every error labbot raises on purpose."""


class ConfigError(LabError):
    """Raised when the config file cannot be read or does not validate."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class StoreUnusable(ConfigError):
    """The database is there but cannot be used: labbot refuses to start rather than begin
    again on a new, empty one (and forget every approval and job)."""


class UserError(LabError):
    """Raised for bad input or a refusal; the text goes back to the user as is."""


class UsageError(UserError):
    """Raised when a command's arguments do not parse."""


class UnknownTarget(UserError):
    """Raised when a target names nothing in the inventory; the message lists the known names."""

    def __init__(self, target: str, known: Sequence[str]) -> None:
        listed = ", ".join(f"`{name}`" for name in known) or "(none configured)"
        super().__init__(f"`{target}` matches no node. Known nodes: {listed}.")
        self.target = target
        self.known = list(known)


class NotAllowed(UserError):
    """Raised when a user may not run a command, or not in this channel."""


class ApprovalVoid(UserError):
    """Raised when an approval button no longer applies (expired, changed, forged, decided)."""


class IntegrationError(LabError):
    """Raised when an outside system fails; subclasses name the system."""
