"""A node's systemd journal: entries in `journal.jsonl` and the `journalctl` that reads them.

Options and output follow journalctl(1) (systemd, src/journal/journalctl.c and
src/shared/logs-show.c): `-u UNIT`, `-n N` / `--lines=N`, `--since=` a time or a relative one
(`-1h`, `-30min`, systemd.time(7)), `-g` / `--grep=` a regular expression, case-insensitive when
the pattern has no upper-case letter ("smart case"), `-o short-iso` lines
`2026-12-07T05:35:22+0000 tp-node3 k3s[1234]: message`, and `-- No entries --` when nothing
matches. Standard library only: the shell server imports it.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

JOURNAL = "journal.jsonl"
_RELATIVE = re.compile(r"^-(\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days)$")
_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}


def append(
    state_dir: Path, unit: str, message: str, pid: int = 1234, at: float | None = None
) -> None:
    """Add one entry (what a unit logged)."""
    entry = {"t": time.time() if at is None else at, "unit": unit, "pid": pid, "msg": message}
    with (state_dir / JOURNAL).open("a") as journal:
        journal.write(json.dumps(entry) + "\n")


def _entries(state_dir: Path) -> list[dict[str, object]]:
    path = state_dir / JOURNAL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _since(value: str, now: float) -> float | None:
    relative = _RELATIVE.match(value.strip())
    if relative:
        return now - int(relative.group(1)) * _SECONDS[relative.group(2)]
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def journalctl(argv: list[str], state_dir: Path, hostname: str) -> tuple[int, list[str], str]:
    """Run `journalctl ARGV`; returns the exit status, stdout lines and stderr."""
    unit: str | None = None
    lines: int | None = None
    since: float | None = None
    pattern: re.Pattern[str] | None = None
    words = list(argv)
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word in (
            "-u",
            "--unit",
            "-n",
            "--lines",
            "--since",
            "-S",
            "-g",
            "--grep",
            "-o",
            "--output",
        ):
            if value is None:
                return 1, [], f"journalctl: option '{word}' requires an argument"
            word, index = f"{word}={value}", index + 1
        name, _, arg = word.partition("=")
        if name in ("-u", "--unit"):
            unit = arg if "." in arg else arg + ".service"
        elif name in ("-n", "--lines"):
            if not arg.isdigit():
                return 1, [], f"Failed to parse lines '{arg}'."
            lines = int(arg)
        elif name in ("--since", "-S"):
            since = _since(arg, time.time())
            if since is None:
                return 1, [], f"Failed to parse timestamp: {arg}"
        elif name in ("-g", "--grep"):
            flags = 0 if any(c.isupper() for c in arg) else re.IGNORECASE
            try:
                pattern = re.compile(arg, flags)
            except re.error:
                return 1, [], f'Failed to compile pattern "{arg}"'
        elif name in ("-o", "--output", "--no-pager", "-q", "--quiet", "--no-hostname"):
            pass
        else:
            return 1, [], f"journalctl: unrecognized option '{word}'"
        index += 1
    found = [
        e
        for e in _entries(state_dir)
        if (unit is None or e["unit"] == unit)
        and (since is None or float(str(e["t"])) >= since)
        and (pattern is None or pattern.search(str(e["msg"])))
    ]
    if lines is not None:
        found = found[-lines:] if lines else []
    if not found:
        return 0, ["-- No entries --"], ""
    out = []
    for e in found:
        stamp = datetime.fromtimestamp(float(str(e["t"])), UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
        name = str(e["unit"]).removesuffix(".service")
        out.append(f"{stamp} {hostname} {name}[{e['pid']}]: {e['msg']}")
    return 0, out, ""
