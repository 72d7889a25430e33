"""Conditional GETs as GitHub answers them: ETag / Last-Modified validators and `304 Not Modified`.

It must not look at emulator state: it judges a finished response against the request's
`If-None-Match` / `If-Modified-Since` headers, so every GET (a resource or a list page) gets the
same treatment and its validator changes exactly when the JSON it returns changes.

GitHub, "Best practices for using the REST API", Use conditional requests if appropriate
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate):
"Most endpoints return an `etag` header, and many endpoints return a `last-modified` header. You
can use the values of these headers to make conditional requests. If the response has not
changed, you will receive a `304 Not Modified` response. Making a conditional request does not
count against your primary rate limit if a `304` response is returned." The emulator's middleware
refunds the rate-limit charge of a 304 (`RateLimit.refund`).

GitHub's ETags are weak (`W/"<hex digest>"`) and are a digest of the representation; the
original docs (github/developer.github.com, content/v3.md, "Conditional Requests") show the 304
keeping `ETag`, `Last-Modified`, `Cache-Control`, `Vary` and the `X-RateLimit-*` headers. The
precedence and comparison rules are HTTP's (RFC 9110 §13.1.2, §13.1.3, §13.2.2): `If-None-Match`
uses weak comparison and, when present, `If-Modified-Since` is ignored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

# What GitHub sends on authenticated API GETs (the docs' example above).
CACHE_CONTROL = "private, max-age=60, s-maxage=60"
VARY = "Accept, Authorization, Cookie, X-GitHub-OTP"
# Headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5 and GitHub's example).
_KEPT_ON_304 = ("ETag", "Last-Modified", "Cache-Control", "Vary")


def weak_etag(body: bytes) -> str:
    """`W/"<sha256 of the body>"`: changes whenever the JSON representation changes."""
    return f'W/"{hashlib.sha256(body).hexdigest()}"'


def http_date(moment: datetime) -> str:
    """`Wed, 25 Oct 2023 19:17:59 GMT` (the `Last-Modified` format)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def last_modified_header(moment: datetime | None) -> dict[str, str]:
    """`{"Last-Modified": ...}` for a resource that knows when it last changed, else `{}`."""
    return {"Last-Modified": http_date(moment)} if moment is not None else {}


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag, for weak comparison (`W/"x"` and `"x"` are equal)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether `If-None-Match` (`*` or a comma-separated list) names `etag` (weak comparison)."""
    wanted = [part.strip() for part in if_none_match.split(",") if part.strip()]
    return "*" in wanted or _opaque(etag) in {_opaque(part) for part in wanted}


def _not_modified_since(if_modified_since: str, last_modified: str | None) -> bool:
    if last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
        modified = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return modified <= since


def is_conditional(request: web.Request) -> bool:
    """Whether the request carries a validator GitHub answers with 304 when it matches."""
    return "If-None-Match" in request.headers or "If-Modified-Since" in request.headers


def answer(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """`response` with its validators, or the `304 Not Modified` that replaces it.

    Only a successful GET has a representation to validate; anything else passes unchanged.
    """
    if request.method != "GET" or response.status != 200 or not isinstance(response, web.Response):
        return response
    body = response.body
    if not isinstance(body, bytes):
        return response
    etag = weak_etag(body)
    response.headers["ETag"] = etag
    response.headers.setdefault("Cache-Control", CACHE_CONTROL)
    response.headers.setdefault("Vary", VARY)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        unchanged = etag_matches(if_none_match, etag)
    else:
        since = request.headers.get("If-Modified-Since")
        unchanged = since is not None and _not_modified_since(
            since, response.headers.get("Last-Modified")
        )
    if not unchanged:
        return response
    kept = {name: response.headers[name] for name in _KEPT_ON_304 if name in response.headers}
    return web.Response(status=304, headers=kept)
