"""Text formats of the Rust crates bmcd uses, so emulated messages read like the real ones.

Pure functions only; no I/O. Paraphrased from the crates' documented behaviour, not copied.
"""

from __future__ import annotations

import re

_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1
_I32_PATTERN = re.compile(r"[+-]?[0-9]+")
_U64_PATTERN = re.compile(r"\+?[0-9]+")

# humantime's calendar constants: a year is 365.25 days, a month 30.44 days.
_YEAR_SECS = 31_557_600
_MONTH_SECS = 2_630_016
_DAY_SECS = 86_400


def format_duration(seconds: float) -> str:
    """Render a duration like `humantime::format_duration`, e.g. ``1m 30s 12ms``."""
    total_ns = max(0, round(seconds * 1_000_000_000))
    secs, nanos = divmod(total_ns, 1_000_000_000)
    if secs == 0 and nanos == 0:
        return "0s"
    years, rest = divmod(secs, _YEAR_SECS)
    months, rest = divmod(rest, _MONTH_SECS)
    days, rest = divmod(rest, _DAY_SECS)
    hours, rest = divmod(rest, 3600)
    minutes, whole_secs = divmod(rest, 60)
    parts: list[str] = []
    for value, unit in ((years, "year"), (months, "month"), (days, "day")):
        if value:
            parts.append(f"{value}{unit}{'s' if value > 1 else ''}")
    for value, unit in (
        (hours, "h"),
        (minutes, "m"),
        (whole_secs, "s"),
        (nanos // 1_000_000, "ms"),
        (nanos // 1000 % 1000, "us"),
        (nanos % 1000, "ns"),
    ):
        if value:
            parts.append(f"{value}{unit}")
    return " ".join(parts)


def format_size(num_bytes: int) -> str:
    """Render a byte count like `humansize::format_size(n, DECIMAL)`, e.g. ``1.50 MB``.

    Inferred from humansize 2.x defaults (2 decimals, none when the value is whole); not
    checked against a real BMC message.
    """
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    size = float(num_bytes)
    index = 0
    while size >= 1000 and index < len(units) - 1:
        size /= 1000
        index += 1
    places = 0 if size.is_integer() else 2
    return f"{size:.{places}f} {units[index]}"


def parse_i32(text: str) -> int | None:
    """Parse like Rust's `i32::from_str`: optional sign, ASCII digits, in range; else None."""
    if not _I32_PATTERN.fullmatch(text):
        return None
    value = int(text)
    if value < _I32_MIN or value > _I32_MAX:
        return None
    return value


def parse_u64(text: str) -> int | None:
    """Parse like Rust's `u64::from_str`: optional '+', ASCII digits, in range; else None."""
    if not _U64_PATTERN.fullmatch(text):
        return None
    value = int(text)
    return value if value < 2**64 else None


def decode_hex(text: str) -> bytes:
    """Decode like `hex::decode`; raise ValueError carrying the crate's message on failure."""
    raw = text.encode("utf-8")
    if len(raw) % 2:
        raise ValueError("Odd number of digits")
    for index, byte in enumerate(raw):
        if chr(byte) not in "0123456789abcdefABCDEF":
            raise ValueError(f"Invalid character {chr(byte)!r} at position {index}")
    return bytes.fromhex(text)
