"""`Outside`: text that came from outside labbot, which escapes itself when a message embeds it.

GitHub (PR titles, branches, authors, CI contexts), the nodes (unit names, the NixOS version),
the BMC and colmena all hand labbot text it did not write. In Slack mrkdwn such text could
mention people (`<!channel>`, `<@U…>`) or become a link (`<url|label>`), so a message may only
embed it escaped (api.slack.com/reference/surfaces/formatting#escaping).

The integrations return such text as `Outside`, a `str` whose *formatting* is escaped: embedding
it in an f-string or `str.format` gives `&lt;!channel&gt;`, so a message builder that forgets to
escape still posts it inert. Everything else about it is the text itself: comparisons, argv, JSON,
GitHub API calls and plain-text fields (`.raw` says so explicitly). Joining or concatenating
with `+` does not escape; `bot.messages.core.outside()` is the call for those. An error's text
(`str(error)`) is raw too and is escaped by the message that embeds it (see `bot.errors`).

Example::

    title = Outside("Update nixpkgs <!channel>")
    f"PR: {title}" == "PR: Update nixpkgs &lt;!channel&gt;"
    title.raw == "Update nixpkgs <!channel>"
"""

from __future__ import annotations

from bot.redact import escape_mrkdwn


class Outside(str):
    """Text from outside labbot: escaped for mrkdwn whenever it is formatted into a message."""

    __slots__ = ()

    @property
    def raw(self) -> str:
        """The text as it came, for a place that is not mrkdwn (argv, GitHub, plain text)."""
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return format(escape_mrkdwn(self.raw), spec)


def plain_text(text: str) -> str:
    """The text itself (never escaped), for a Block Kit `plain_text` field, where Slack parses
    no mentions or links and would show `&lt;` as typed."""
    return str.__str__(text)


def outside_or_none(text: str | None) -> Outside | None:
    """`Outside(text)`, keeping None."""
    return None if text is None else Outside(text)
