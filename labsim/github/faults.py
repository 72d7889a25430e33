"""Failure injection for the GitHub emulator: canned error responses for matching requests.

It must not know endpoints: it only matches method + path and counts down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)


@dataclass
class InjectedFault:
    """Answer the next `remaining` requests matching `method`/`pattern` with `status`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        """True if this fault applies to the request (method "*" matches any)."""
        wanted = self.method in ("*", method.upper())
        return self.remaining > 0 and wanted and self.pattern.search(path) is not None


class FaultPlan:
    """An ordered list of injected faults; the first match wins and is counted down.

    Example: ``plan.add("PUT", r"/merge$", 502, count=1)``.
    """

    def __init__(self) -> None:
        self._faults: list[InjectedFault] = []

    def add(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Queue a fault for up to `count` matching requests."""
        self._faults.append(
            InjectedFault(
                method=method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                remaining=count,
                body=body if body is not None else {"message": f"Injected HTTP {status}"},
                headers=dict(headers or {}),
            )
        )

    def take(self, method: str, path: str) -> InjectedFault | None:
        """The fault for this request, if any (consumes one of its uses)."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    def clear(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @property
    def pending(self) -> int:
        """How many injected responses are still queued."""
        return sum(f.remaining for f in self._faults)
