"""A job's output as the thread shows it: lines cleaned of terminal escapes, escaped for mrkdwn,
and the last of them kept within a line and a character budget.

`strip_ansi` is also what the UART console uses on the BMC's serial output.
"""

from __future__ import annotations

import re
from collections import deque

from bot.redact import escape_mrkdwn

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # two-character escapes (and a lone ESC)
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences and control characters other than tab and newline."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)


class OutputTail:
    """The last lines of output, escaped for mrkdwn, within a line and a character budget."""

    def __init__(self, max_lines: int, max_chars: int, line_chars: int) -> None:
        self._lines: deque[str] = deque()
        self._chars = 0
        self._max_lines = max_lines
        self._max_chars = max_chars
        self._line_chars = line_chars
        self._partial = ""
        self.dropped = 0  # complete lines no longer shown
        self.log_kept = True  # whether the hidden lines are in a log file (the stream's spool)

    def add(self, text: str) -> bool:
        """Add redacted output (not necessarily whole lines); return whether a line completed."""
        *complete, rest = text.split("\n")
        if not complete:
            self._partial = (self._partial + rest)[: self._line_chars + 1]
            return False
        self._push(self._partial + complete[0])
        for line in complete[1:]:
            self._push(line)
        self._partial = rest[: self._line_chars + 1]
        return True

    def finish(self) -> None:
        """End of output: show an unterminated last line."""
        if self._partial:
            self._push(self._partial)
            self._partial = ""

    def render(self) -> str:
        """The tail as lines joined by newlines, with a note when earlier lines are hidden."""
        body = "\n".join(self._lines)
        if self.dropped and self.log_kept:
            return f"… {self.dropped:,} earlier lines are in the attached log\n{body}"
        if self.dropped:
            return f"… {self.dropped:,} earlier lines are not shown\n{body}"
        return body

    def _push(self, line: str) -> None:
        shown = _display(line, self._line_chars)
        self._lines.append(shown)
        self._chars += len(shown) + 1
        while len(self._lines) > self._max_lines or (
            self._chars > self._max_chars and len(self._lines) > 1
        ):
            self._chars -= len(self._lines.popleft()) + 1
            self.dropped += 1


def _display(line: str, limit: int) -> str:
    line = escape_mrkdwn(line).replace("```", "``\u200b`")  # keep the code fence closed
    return line if len(line) <= limit else line[: limit - 1] + "…"
