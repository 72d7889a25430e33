"""Renovate pull requests as labbot shows them: the body's update table, and the data for a card.

Must not build Slack blocks or decide anything: it parses text and gathers facts from GitHub.

Renovate's PR body starts with "This PR contains the following updates:" and a markdown table whose
columns vary (Package, Type, Update, Change, Pending, plus badge columns such as Age or
Confidence); lock file maintenance has only Update and Change ("All locks refreshed").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.integrations.flake_lock import FlakeLockError, InputChange, diff_locks
from bot.integrations.github import CiState, GitHubClient

FLAKE_LOCK = "flake.lock"
_COLUMNS = {
    "package": "package",
    "dependency": "package",
    "type": "dep_type",
    "update": "update",
    "change": "change",
    "pending": "pending",
}
_SEPARATOR_CELL = re.compile(r"^\s*:?-+:?\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_TAG = re.compile(r"<[^<>]*>")
_ARROW = re.compile(r"\s*(?:->|→|⇒|=>)\s*")
_PIPE = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True)
class UpdateRow:
    """One row of Renovate's update table; None for a column the table does not have."""

    package: str | None
    package_url: str | None
    dep_type: str | None
    update: str | None
    change: str | None
    old: str | None
    new: str | None
    pending: str | None


def parse_update_table(body: str) -> list[UpdateRow]:
    """The rows of the first table with a Package, Update or Change column (never raises)."""
    lines = body.splitlines()
    for index in range(len(lines) - 1):
        if "|" not in lines[index] or not _is_separator(lines[index + 1]):
            continue
        header = [_plain(cell).lower() for cell in _cells(lines[index])]
        fields = [_COLUMNS.get(name) for name in header]
        if not {"package", "update", "change"} & {f for f in fields if f}:
            continue
        rows = []
        for line in lines[index + 2 :]:
            if "|" not in line or not line.strip():
                break
            rows.append(_row(fields, _cells(line)))
        return rows
    return []


def _is_separator(line: str) -> bool:
    cells = _cells(line)
    return bool(cells) and "-" in line and all(_SEPARATOR_CELL.match(c) for c in cells)


def _cells(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(text)]


def _plain(cell: str) -> str:
    """Markdown cell text without links (their text stays), tags, backticks or emphasis."""
    text = _LINK.sub(lambda m: m.group(1), cell)
    # Until none is left: one pass turns `<@U1<x>23>` into the mention `<@U123>`.
    while (stripped := _TAG.sub("", text)) != text:
        text = stripped
    return " ".join(text.replace("`", "").replace("**", "").split())


def _row(fields: list[str | None], cells: list[str]) -> UpdateRow:
    values: dict[str, str] = {}
    for field, cell in zip(fields, cells, strict=False):
        if field is not None and field not in values:
            values[field] = cell
    package_cell = values.get("package")
    link = _LINK.search(package_cell) if package_cell is not None else None
    change = _plain(values["change"]) if "change" in values else None
    old = new = None
    if change:
        parts = _ARROW.split(change, maxsplit=1)
        if len(parts) == 2 and parts[0] and parts[1]:
            old, new = parts[0], parts[1]
    return UpdateRow(
        package=(
            _plain(link.group(1))
            if link
            else (_plain(package_cell) if package_cell is not None else None)
        ),
        package_url=link.group(2) if link else None,
        dep_type=_plain(values["dep_type"]) if "dep_type" in values else None,
        update=_plain(values["update"]) if "update" in values else None,
        change=change,
        old=old,
        new=new,
        pending=_plain(values["pending"]) if "pending" in values else None,
    )


class ChangeSource(StrEnum):
    """Where a card's list of changes came from."""

    flake_lock = "flake_lock"
    pr_body = "pr_body"
    none = "none"


@dataclass(frozen=True)
class RenovateCard:
    """Everything a Renovate card shows about one pull request, gathered at `gathered_at`.

    `changes` are the flake.lock input changes (base → head) when the lock could be compared;
    `table` is the PR body's update table either way; `lock_problem` says why the lock was not used.
    """

    number: int
    title: str
    url: str
    author: str
    branch: str
    head_sha: str
    base_ref: str
    state: str
    merged: bool
    mergeable: bool | None
    mergeable_state: str
    ci: CiState
    changes: tuple[InputChange, ...]
    table: tuple[UpdateRow, ...]
    change_source: ChangeSource
    lock_problem: str | None
    created_at: datetime
    gathered_at: datetime

    @property
    def age(self) -> timedelta:
        """How long the pull request had been open when the card was gathered."""
        return self.gathered_at - self.created_at


async def gather_card(
    client: GitHubClient, number: int, *, now: datetime | None = None
) -> RenovateCard:
    """Read PR `number`, its head's CI and (if it touches flake.lock) the lock at base and head."""
    pull = await client.pull(number)
    touches_lock = FLAKE_LOCK in pull.changed_files
    ci, old_lock, new_lock = await _all_or_first_error(
        client.ci(pull.head_sha),
        client.file_at(FLAKE_LOCK, pull.base_sha) if touches_lock else _none(),
        client.file_at(FLAKE_LOCK, pull.head_sha) if touches_lock else _none(),
    )
    table = tuple(parse_update_table(pull.body))
    changes: tuple[InputChange, ...] = ()
    problem: str | None = None
    if not touches_lock:
        problem = f"the pull request does not change {FLAKE_LOCK}"
    elif old_lock is None or new_lock is None:
        side = "base" if old_lock is None else "head"
        problem = f"{FLAKE_LOCK} is missing at the {side} commit"
    else:
        try:
            changes = tuple(diff_locks(old_lock, new_lock))
        except FlakeLockError as exc:
            problem = str(exc)
    if problem is None:
        source = ChangeSource.flake_lock
    else:
        source = ChangeSource.pr_body if table else ChangeSource.none
    return RenovateCard(
        number=pull.number,
        title=pull.title,
        url=pull.html_url,
        author=pull.author,
        branch=pull.head_ref,
        head_sha=pull.head_sha,
        base_ref=pull.base_ref,
        state=pull.state,
        merged=pull.merged,
        mergeable=pull.mergeable,
        mergeable_state=pull.mergeable_state,
        ci=ci,
        changes=changes,
        table=table,
        change_source=source,
        lock_problem=problem,
        created_at=pull.created_at,
        gathered_at=now or datetime.now(UTC),
    )


async def _none() -> None:
    return None


async def _all_or_first_error(
    ci: Awaitable[CiState], old: Awaitable[str | None], new: Awaitable[str | None]
) -> tuple[CiState, str | None, str | None]:
    """Await all three concurrently; re-raise the first failure only after all have ended."""
    results = await asyncio.gather(ci, old, new, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    ci_state, old_text, new_text = results
    assert isinstance(ci_state, CiState)
    assert old_text is None or isinstance(old_text, str)
    assert new_text is None or isinstance(new_text, str)
    return ci_state, old_text, new_text
