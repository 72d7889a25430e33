"""HTTP reply shapes of the emulated bmcd: the legacy JSON envelope, plain text and the web UI page.

Builds aiohttp responses only; it takes no decisions about state.
"""

from __future__ import annotations

import json

from aiohttp import web

from labsim.bmc.board import SLOTS
from labsim.bmc.rust_formats import parse_i32

INDEX_HTML = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<title>Turing Pi</title></head><body><div id="root"></div></body></html>'
)


class LegacyError(Exception):
    """Raised by an API handler to answer with the JSON envelope and an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def compact_json(value: object) -> str:
    """Serialise like serde_json: no whitespace, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def envelope(result: object, status: int = 200, *, key: str = "result") -> web.Response:
    """`{"response":[{"result": ...}]}` as application/json (bmcd's LegacyResponse)."""
    return web.Response(
        status=status,
        text=compact_json({"response": [{key: result}]}),
        content_type="application/json",
    )


def error_envelope(error: LegacyError) -> web.Response:
    """The envelope carrying an error message in `result`."""
    return envelope(error.message, error.status)


def plain_text(status: int, text: str) -> web.Response:
    """A text/plain reply (auth refusals, flash/upload errors)."""
    return web.Response(status=status, text=text, content_type="text/plain")


def json_as_text(value: object) -> web.Response:
    """JSON returned by bmcd as a Rust `String`, which actix labels text/plain."""
    return web.Response(status=200, text=compact_json(value), content_type="text/plain")


def empty_ok() -> web.Response:
    """An empty 200 (upload done, cancel, node_info set)."""
    return web.Response(status=200)


def index_page() -> web.Response:
    """The web UI's index.html, served for every path outside the API."""
    return web.Response(status=200, text=INDEX_HTML, content_type="text/html")


def node_param(query: dict[str, str]) -> int:
    """Parse the 0-based `node=` value like bmcd: i32, truncated to u8, must be 0–3."""
    text = query.get("node")
    if text is None:
        raise LegacyError(400, "Missing `node` parameter")
    value = parse_i32(text)
    if value is None:
        raise LegacyError(400, "Parameter `node` is not a number")
    node = value & 0xFF  # bmcd converts the i32 to u8 by truncation: node=256 is node 0
    if node >= SLOTS:
        raise LegacyError(400, "Parameter `node` is out of range 0..3 of node IDs")
    return node
