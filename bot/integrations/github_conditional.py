"""Conditional reads of GitHub: per resource, its validators and parsed result, re-used on a 304.

Must not decide what to read or what a result means: `GitHubClient` names the resource and how
to parse it; this module only remembers answers and asks GitHub whether they are still current.
Runs in the client's pool threads (blocking, thread-safe).

Why: GitHub, "Best practices for using the REST API", Use conditional requests if appropriate
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate):
"Making a conditional request does not count against your primary rate limit if a `304`
response is returned." A Renovate poll re-reads the same PRs, CI and files every few minutes;
with their ETags sent back, an unchanged poll costs no rate limit at all.

Two mechanisms, both PyGithub's:
- a resource PyGithub can refresh (`CompletableGithubObject`, e.g. a pull request) is kept and
  refreshed with its own `update()`, which sends `If-None-Match` / `If-Modified-Since` from the
  last answer and returns whether it changed (PyGithub, github/GithubObject.py);
- list endpoints and the combined status have no `update()` (`PaginatedList` and
  `NonCompletableGithubObject` lack it, and a `PaginatedList` given `If-None-Match` would parse
  the empty 304 as its page), so each page is read through PyGithub's own `Requester.requestJson`
  with the page's ETag, following `Link: rel="next"` as `PaginatedList` does; errors become
  PyGithub's exceptions through `Requester.createException`, as in `requestJsonAndCheck`.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from github.GithubObject import CompletableGithubObject
from github.Requester import Requester

T = TypeVar("T")
Obj = TypeVar("Obj", bound=CompletableGithubObject)
ParseJson = Callable[[Requester, dict[str, Any], Any], T]
"""Turns a page (the requester, its response headers and decoded JSON) into the value to keep."""

DEFAULT_CAPACITY = 4096
NOT_MODIFIED = 304
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass
class _Page:
    etag: str | None
    next_url: str | None
    value: Any


@dataclass
class _Tracked:
    obj: CompletableGithubObject
    value: Any


@dataclass
class _Fixed:
    value: Any


class ConditionalReads:
    """Remembered GitHub answers, least recently used dropped beyond `capacity` resources.

    Example::

        reads = ConditionalReads()
        details = reads.tracked(("pull", 7), lambda: repo.get_pull(7), parse_details)
        files = reads.listing(requester, f"{repo.url}/pulls/7/files", {"per_page": 100},
                              lambda requester, headers, data: [f["filename"] for f in data])
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._guard = threading.Lock()
        self._entries: OrderedDict[Hashable, _Page | _Tracked | _Fixed] = OrderedDict()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def clear(self) -> None:
        """Forget everything (the next reads are unconditional)."""
        with self._guard:
            self._entries.clear()
            self._key_locks.clear()

    def tracked(self, key: Hashable, make: Callable[[], Obj], parse: Callable[[Obj], T]) -> T:
        """`parse(obj)` for the PyGithub object remembered under `key` (made lazily by `make`),
        refreshed with its `update()`: re-parsed only when GitHub says it changed."""
        with self._lock_for(key):
            entry = self._get(key)
            if isinstance(entry, _Tracked):
                obj = entry.obj
                if not obj.update():
                    value: T = entry.value
                    return value
            else:
                obj = make()
                obj.update()  # no validator yet: an ordinary GET
            fresh = parse(obj)  # type: ignore[arg-type]
            self._put(key, _Tracked(obj, fresh))
            return fresh

    def document(
        self,
        requester: Requester,
        url: str,
        parse: ParseJson[T],
        parameters: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """One JSON resource without `update()` in PyGithub (e.g. a combined status)."""
        page: _Page = self._page(requester, url, parameters, headers, parse)
        value: T = page.value
        return value

    def listing(
        self,
        requester: Requester,
        url: str,
        parse: ParseJson[list[T]],
        parameters: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[T]:
        """Every page of a list endpoint, each page asked for with its own ETag."""
        items: list[T] = []
        next_url: str | None = url
        next_parameters = parameters
        while next_url is not None:
            page = self._page(requester, next_url, next_parameters, headers, parse)
            items.extend(page.value)
            next_url, next_parameters = page.next_url, None  # the next link has the query
        return items

    def remembered(self, key: Hashable, load: Callable[[], T]) -> T:
        """`load()` once for a resource that never changes (a file at a commit sha)."""
        with self._lock_for(key):
            entry = self._get(key)
            if isinstance(entry, _Fixed):
                value: T = entry.value
                return value
            loaded = load()
            self._put(key, _Fixed(loaded))
            return loaded

    # -- plumbing ------------------------------------------------------------------------------

    def _page(
        self,
        requester: Requester,
        url: str,
        parameters: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        parse: ParseJson[Any],
    ) -> _Page:
        key = ("GET", url, tuple(sorted((parameters or {}).items())))
        with self._lock_for(key):
            known = self._get(key)
            sent = dict(headers or {})
            if isinstance(known, _Page) and known.etag:
                sent["If-None-Match"] = known.etag
            status, response_headers, body = requester.requestJson(
                "GET", url, dict(parameters) if parameters else None, sent
            )
            if status == NOT_MODIFIED and isinstance(known, _Page):
                return known
            data = json.loads(body) if body else None
            if status >= 300:
                output = data if isinstance(data, dict) else {}
                raise requester.createException(status, response_headers, output)
            link = response_headers.get("link")
            found = _NEXT_LINK.search(link) if isinstance(link, str) else None
            page = _Page(
                etag=response_headers.get("etag"),
                next_url=found.group(1) if found else None,
                value=parse(requester, response_headers, data),
            )
            self._put(key, page)
            return page

    def _lock_for(self, key: Hashable) -> threading.Lock:
        """One lock per resource: two threads never refresh the same PyGithub object at once."""
        with self._guard:
            return self._key_locks.setdefault(key, threading.Lock())

    def _get(self, key: Hashable) -> _Page | _Tracked | _Fixed | None:
        with self._guard:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _put(self, key: Hashable, entry: _Page | _Tracked | _Fixed) -> None:
        with self._guard:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                dropped, _ = self._entries.popitem(last=False)
                self._key_locks.pop(dropped, None)
