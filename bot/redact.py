"""Secret redaction: secret shapes and configured secret values are replaced before text leaves.

Must not log, store or return a secret value; it only ever hands out redacted text.

Usage::

    redactor = Redactor([slack_token, github_token])
    redactor.redact("token=ghp_...")              # -> "token=[redacted:github-token]"
    stream = redactor.stream()
    safe = stream.feed(chunk) + stream.feed(more) + stream.flush()
    assert safe == redactor.redact(chunk + more)

How matching works (one definition for `redact` and the stream, so both give the same bytes):
every rule is a regex with a bounded reach. At each position the longest rule match wins, and a
configured secret that starts inside a match and ends after it extends the match (so no tail of
it is left), up to `MAX_RUN` characters in one marker. `StreamRedactor` emits text only once no
later input can change how it is redacted: a position is settled when its rules' windows are
complete, when its line has ended (for single-line rules), or when it cannot begin any rule's
literal prefix. It holds back at most two reaches (the longest configured secret, or a pattern's
bound) plus one run, so memory stays bounded whatever the input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MIN_SECRET_LENGTH = 6
"""Configured values shorter than this are not redacted: they would match inside ordinary words
and mangle output while protecting little (such a short secret should be rotated)."""

MAX_RUN = 65_536
"""The longest run of overlapping matches that becomes one marker; keeps the hold-back bounded."""

_PEM_BODY = 16_384  # longest private key body (RSA 8192 PEM is ~6,400 characters)
_SOPS_VALUE = 16_384  # longest sops ENC[...] value kept in one marker
_HEAD_WINDOW = 100  # longer than any PEM header line, so a head match is decided within it
_MARGIN = 8  # extra characters of reach a failed optional group may look at


@dataclass(frozen=True)
class _Rule:
    """One secret shape: every match starts with one of `prefixes` and is at most `reach` long."""

    label: str
    pattern: re.Pattern[str]
    prefixes: tuple[str, ...]
    reach: int
    multiline: bool = False
    head: re.Pattern[str] | None = None  # multiline: must match once the first line is complete
    settled_group: str | None = None  # a match with this group set can no longer change


@dataclass(frozen=True)
class _RuleSet:
    rules: tuple[_Rule, ...]
    combined: re.Pattern[str]
    secrets: re.Pattern[str] | None


_PEM_HEAD = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

_PATTERN_RULES: tuple[_Rule, ...] = (
    # A PEM private key through its END line; without an END line, the key-like text that follows.
    _Rule(
        label="private-key",
        pattern=re.compile(
            rf"{_PEM_HEAD}(?:[\s\S]{{0,{_PEM_BODY}}}?(?P<pem_end>{_PEM_END})"
            rf"|[A-Za-z0-9+/=\s:,.\\-]{{0,{_PEM_BODY}}})"
        ),
        prefixes=("-----BEGIN",),
        reach=72 + _PEM_BODY + 70 + _MARGIN,
        multiline=True,
        head=re.compile(_PEM_HEAD),
        settled_group="pem_end",
    ),
    # age identities: AGE-SECRET-KEY-1 + bech32 (also tagged forms such as AGE-SECRET-KEY-PQ-1).
    _Rule(
        label="age-key",
        pattern=re.compile(rf"AGE-SECRET-KEY-(?:[A-Z0-9]{{1,16}}-)?1[{_BECH32}]{{50,200}}"),
        prefixes=("AGE-SECRET-KEY-",),
        reach=15 + 17 + 1 + 200 + _MARGIN,
    ),
    # Anything inside a sops value: ENC[AES256_GCM,data:...,iv:...,tag:...,type:...].
    _Rule(
        label="sops",
        pattern=re.compile(rf"ENC\[[^\]\n]{{1,{_SOPS_VALUE}}}\]?"),
        prefixes=("ENC[",),
        reach=4 + _SOPS_VALUE + 1 + _MARGIN,
    ),
    # k3s secure tokens K10<ca-hash>::<user>:<password> and bootstrap K10<ca-hash>::<id>.<secret>.
    _Rule(
        label="k3s-token",
        pattern=re.compile(r"K10[0-9a-fA-F]{16,128}::[A-Za-z0-9_.-]{1,64}(?::[^\s\"'`,;]{1,256})?"),
        prefixes=("K10",),
        reach=3 + 128 + 2 + 64 + 1 + 256 + _MARGIN,
    ),
    _Rule(
        label="github-token",
        pattern=re.compile(r"gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255}"),
        prefixes=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        reach=11 + 255 + _MARGIN,
    ),
    # Bot, user, app-level, legacy and rotating tokens: xoxb-, xoxp-, xapp-, xoxa-, xoxe(.xoxp)-.
    _Rule(
        label="slack-token",
        pattern=re.compile(r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{8,250}|xapp-[A-Za-z0-9-]{8,250}"),
        prefixes=("xox", "xapp-"),
        reach=10 + 250 + _MARGIN,
    ),
)


def _secret_rule(secrets: Iterable[str]) -> _Rule | None:
    values = sorted(set(secrets), key=lambda s: (-len(s), s))  # longest first: match() is longest
    if not values:
        return None
    return _Rule(
        label="secret",
        pattern=re.compile("|".join(re.escape(v) for v in values)),
        prefixes=tuple(sorted({v[:8] for v in values})),
        reach=len(values[0]) + _MARGIN,
    )


def _rule_set(secrets: Iterable[str]) -> _RuleSet:
    secret_rule = _secret_rule(secrets)
    rules = _PATTERN_RULES + ((secret_rule,) if secret_rule else ())
    combined = re.compile("|".join(f"(?:{rule.pattern.pattern})" for rule in rules))
    return _RuleSet(
        rules=rules, combined=combined, secrets=secret_rule.pattern if secret_rule else None
    )


def _secret_pieces(value: str) -> list[str]:
    """The strings to look for: the stripped value, or each long enough line of a multi-line one."""
    lines = [line.strip() for line in value.strip().splitlines()]
    return [line for line in lines if len(line) >= MIN_SECRET_LENGTH]


def escape_mrkdwn(text: str) -> str:
    """Text from outside labbot made inert for mrkdwn: `&`, `<` and `>` as Slack's entities, so
    it cannot mention anyone (`<!channel>`, `<@U…>`) or become a link (`<url|label>`).
    Slack: api.slack.com/reference/surfaces/formatting#escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Redactor:
    """Replaces secret shapes and configured secret values with markers like `[redacted:age-key]`.

    Example: `Redactor([token]).redact(f"using {token}")` returns `"using [redacted:secret]"`.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._pieces: set[str] = set()
        self._rules = _rule_set(())
        for value in secrets:
            self.add_secret(value)

    @property
    def secret_count(self) -> int:
        """How many distinct values (lines of multi-line secrets count one each) are redacted."""
        return len(self._pieces)

    def add_secret(self, value: str) -> bool:
        """Redact `value` from now on; returns False (and logs why) when it is too short to redact.

        Surrounding whitespace is ignored. A multi-line value is redacted line by line, so each
        line of it that is at least `MIN_SECRET_LENGTH` long never appears in the output.
        """
        pieces = _secret_pieces(value)
        # Also as mrkdwn escaping shows it: a secret with `&`, `<` or `>` in text that was
        # escaped before it reached the redactor must still be caught.
        pieces += [escaped for piece in pieces if (escaped := escape_mrkdwn(piece)) != piece]
        if not pieces:
            log.warning(
                "a configured secret (%d characters) is not redacted: values shorter than %d "
                "characters would match inside ordinary words",
                len(value.strip()),
                MIN_SECRET_LENGTH,
            )
            return False
        new = set(pieces) - self._pieces
        if new:
            self._pieces |= new
            self._rules = _rule_set(self._pieces)
        return True

    def redact(self, text: str) -> str:
        """Return `text` with every secret replaced by a marker."""
        out: list[str] = []
        _scan(self._rules, text, final=True, out=out)
        return "".join(out)

    def redact_blocks(self, blocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of Block Kit blocks with every string in them redacted."""

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                return self.redact(value)
            if isinstance(value, dict):
                return {key: walk(item) for key, item in value.items()}
            if isinstance(value, list):
                return [walk(item) for item in value]
            return value

        return [walk(block) for block in blocks]

    def stream(self) -> StreamRedactor:
        """A redactor for text that arrives in pieces (secrets added later apply to unsent text)."""
        return StreamRedactor(self)

    def _current_rules(self) -> _RuleSet:
        return self._rules


class StreamRedactor:
    """Redacts a stream chunk by chunk; the concatenated output equals `redact` of the whole input.

    Example: `out = s.feed("tok: ghp_12") + s.feed("34...") + s.flush()`.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._buf = ""

    @property
    def pending(self) -> int:
        """Characters held back because a secret may still be forming in them."""
        return len(self._buf)

    def feed(self, chunk: str) -> str:
        """Take the next piece of input; return the redacted text that is safe to emit now."""
        if not chunk:
            return ""
        buf = self._buf + chunk
        out: list[str] = []
        kept = _scan(self._redactor._current_rules(), buf, final=False, out=out)
        self._buf = buf[kept:]
        return "".join(out)

    def flush(self) -> str:
        """End of input: return everything still held back, redacted."""
        out: list[str] = []
        _scan(self._redactor._current_rules(), self._buf, final=True, out=out)
        self._buf = ""
        return "".join(out)


def _scan(rules: _RuleSet, buf: str, *, final: bool, out: list[str]) -> int:
    """Append the redacted form of `buf`'s settled prefix to `out`; return where it ends."""
    limit = len(buf) if final else _first_unsettled(rules, buf)
    search = rules.combined.search
    pos = 0
    found = search(buf)
    while found is not None and found.start() < limit:
        start = found.start()
        stop, label = _longest(rules, buf, start)
        stop = _overlapping_secrets(rules, buf, start, stop)
        if stop > limit:  # the run reaches text that may still change: keep it all back
            limit = start
            break
        out.append(buf[pos:start])
        out.append(f"[redacted:{label}]")
        pos = stop
        found = search(buf, stop)
    out.append(buf[pos:limit])
    return limit


def _overlapping_secrets(rules: _RuleSet, buf: str, start: int, stop: int) -> int:
    """Extend the run [start, stop) over configured secrets that begin inside it and end later."""
    if rules.secrets is None:
        return stop
    search = rules.secrets.search  # alternatives are longest first: a match is the longest there
    inner = search(buf, start + 1)
    while inner is not None and inner.start() < stop and stop - start < MAX_RUN:
        stop = max(stop, inner.end())
        inner = search(buf, inner.start() + 1)
    return stop


def _longest(rules: _RuleSet, buf: str, pos: int) -> tuple[int, str]:
    """The end and label of the longest rule match at `pos` (the earlier rule wins a tie)."""
    best, label = pos, ""
    for rule in rules.rules:
        match = rule.pattern.match(buf, pos)
        if match is not None and match.end() > best:
            best, label = match.end(), rule.label
    return best, label


def _first_unsettled(rules: _RuleSet, buf: str) -> int:
    """The first position whose redaction could still change when more text arrives."""
    end = len(buf)
    line_start = buf.rfind("\n") + 1
    limit = end
    for rule in rules.rules:
        low = max(0, end - rule.reach + 1)
        if not rule.multiline:
            low = max(low, line_start)  # a finished line settles every single-line rule in it
        if low < limit:
            limit = _first_candidate(rule, buf, low, limit)
    return limit


def _first_candidate(rule: _Rule, buf: str, low: int, high: int) -> int:
    """The first position in [low, high) where `rule` may still match, or `high`."""
    end = len(buf)
    last = buf[-1]
    best = high
    for prefix in rule.prefixes:
        at = buf.find(prefix, low, best + len(prefix) - 1)
        while at >= 0 and not _could_start(rule, buf, at):
            at = buf.find(prefix, at + 1, best + len(prefix) - 1)
        if at >= 0:
            best = at
        if last in prefix:  # a prefix cut off by the end of the buffer
            for at in range(max(low, end - len(prefix) + 1), min(best, end)):
                if prefix.startswith(buf[at:]):
                    best = at
                    break
    return best


def _could_start(rule: _Rule, buf: str, at: int) -> bool:
    """Whether a full prefix at `at` may still grow into a match (multi-line rules look closer)."""
    if not rule.multiline:
        return True
    if rule.head is not None:
        window = buf[at : at + _HEAD_WINDOW]
        if (len(window) == _HEAD_WINDOW or "\n" in window) and not rule.head.match(buf, at):
            return False  # the first line is there and is not this rule's header
    if rule.settled_group is not None:
        match = rule.pattern.match(buf, at)
        if match is not None and match.group(rule.settled_group) is not None:
            return False
    return True
