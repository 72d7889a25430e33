"""HTTP reply helpers shared by the emulator's routes: JSON, GitHub-style errors, pagination.

It must not touch emulator state beyond what callers pass in.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from aiohttp import web

from labsim.github.access import Credential
from labsim.github.model import Actor

DOCS_URL = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
T = TypeVar("T")


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with GitHub's content type."""
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_reply(status: int, message: str, **extra: Any) -> web.Response:
    """`{"message", "documentation_url", ...}` as GitHub sends for errors."""
    return json_reply({"message": message, "documentation_url": DOCS_URL, **extra}, status)


def not_found() -> web.Response:
    """GitHub's 404 body (PyGithub maps it to UnknownObjectException)."""
    return error_reply(404, "Not Found")


def validation_failed(*errors: dict[str, Any]) -> web.Response:
    """A 422 "Validation Failed" with GitHub's `errors` list."""
    return error_reply(422, "Validation Failed", errors=list(errors))


async def read_json(request: web.Request) -> dict[str, Any] | None:
    """The request's JSON object body, or None if it is missing or not an object."""
    raw = await request.read() if request.body_exists else b""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# Set by the emulator's middleware for the task handling the request (works on every aiohttp 3.x,
# unlike typed request keys).
CURRENT_CREDENTIAL: ContextVar[Credential] = ContextVar("github_emulator_credential")


def credential_of(request: web.Request) -> Credential:
    """The credential the middleware authenticated for `request`."""
    return CURRENT_CREDENTIAL.get()


def caller(request: web.Request) -> Actor:
    """The authenticated actor making `request`."""
    return credential_of(request).actor


def int_param(request: web.Request, name: str, default: int) -> int:
    """An integer query parameter (GitHub ignores garbage and falls back to the default)."""
    raw = request.query.get(name, "")
    return int(raw) if raw.isdigit() else default


def paginate(
    request: web.Request, items: Sequence[T], web_root: str
) -> tuple[Sequence[T], dict[str, str]]:
    """One page of `items` per `page`/`per_page`, plus a `Link` header when there are more pages."""
    per_page = min(max(int_param(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(int_param(request, "page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    if last == 1:
        return chunk, {}

    def link(number: int, rel: str) -> str:
        query = dict(request.query)
        query["page"] = str(number)
        return f'<{web_root}{request.path}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    if page > 1:
        links.append(link(1, "first"))
    return chunk, {"Link": ", ".join(links)}
