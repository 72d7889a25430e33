"""Wire formats of the Turing Pi 2 BMC API (turing-machines/bmcd): slots, queries, replies.

Pure parsing and numbering only, no I/O. Parsers raise `ReplyShapeError` describing what was
wrong; the transport turns that into `BmcProtocolError`.

Slot numbering lives here and nowhere else: labbot speaks slots 1–4 as printed on the board;
the API's `node=` values are 0-based (0–3) and its power parameters are named `node1`…`node4`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

SLOTS = (1, 2, 3, 4)


class ReplyShapeError(ValueError):
    """Raised when a reply body does not have the documented shape; str() describes it."""


# -- slot numbering (the one place) -----------------------------------------------------------


def check_slot(slot: int) -> int:
    """Return `slot` if it is 1–4, else raise ValueError."""
    if isinstance(slot, bool) or slot not in SLOTS:
        raise ValueError(f"slot must be 1–4 as printed on the board, got {slot!r}")
    return slot


def node_value(slot: int) -> str:
    """The 0-based `node=` query value for a slot (slot 3 → "2")."""
    return str(check_slot(slot) - 1)


def power_parameter(slot: int) -> str:
    """The 1-based power parameter name for a slot (slot 3 → "node3")."""
    return f"node{check_slot(slot)}"


def slot_of_power_parameter(name: str) -> int | None:
    """The slot a `nodeN` key of the power status names, or None for any other key."""
    match = re.fullmatch(r"node([1-4])", name)
    return int(match.group(1)) if match else None


# -- firmware generations ---------------------------------------------------------------------


class BmcGeneration(StrEnum):
    """API generation of a BMC, as far as the client's behaviour depends on it."""

    v1 = "1.x"
    v2_0 = "2.0.x"
    v2_1 = "2.1+"

    @property
    def uart_read_drains(self) -> bool:
        """Whether reading the UART empties the buffer (bmcd 2.0.x) instead of copying it."""
        # Firmware 1.x "returns buffer" (reference §1); whether it drains is not documented,
        # so it is treated as a copy: the cursor's diff still works on a draining buffer.
        return self is BmcGeneration.v2_0

    @property
    def uart_appends_newline(self) -> bool:
        """Whether the BMC appends CR LF to a UART command (2.x) or sends it as is (1.x)."""
        return self is not BmcGeneration.v1

    @property
    def flash_checks_sha256(self) -> bool:
        """Whether a flash request may carry `sha256=` (bmcd ≥ 2.3.0)."""
        return self is BmcGeneration.v2_1

    @property
    def flash_from_url(self) -> bool:
        """Whether the BMC can download an image from a URL itself (bmcd ≥ 2.3.0)."""
        return self is BmcGeneration.v2_1


@dataclass(frozen=True)
class BmcInfo:
    """Versions a BMC reports (`type=other`) and the generation derived from them."""

    generation: BmcGeneration
    api_version: str | None
    bmcd_version: str | None
    firmware_version: str | None
    build_time: str | None = None

    def describe(self) -> str:
        """Short text such as ``2.1.0 (bmcd 2.3.4)`` for messages."""
        firmware = self.firmware_version or self.generation.value
        return f"{firmware} (bmcd {self.bmcd_version})" if self.bmcd_version else firmware


def generation_of(version: str | None, build_version: str | None) -> BmcGeneration:
    """Classify `type=other`'s fields: bmcd 2.3.4 sends its own version plus `build_version`.

    bmcd ≥ 2.3.5 drops `build_version` and reports the firmware version in `version`
    (reference §3.4). bmcd ≥ 2.3.0 (firmware ≥ 2.1) is the current generation. Unparseable
    versions count as current (inferred: fields only grew over time).
    """
    numbers = _major_minor(version)
    if numbers is None:
        return BmcGeneration.v2_1
    if numbers[0] < 2:
        return BmcGeneration.v1
    threshold = (2, 3) if build_version is not None else (2, 1)
    return BmcGeneration.v2_1 if numbers >= threshold else BmcGeneration.v2_0


def _major_minor(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"\s*v?(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


# -- flash status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FlashReady:
    """No job has run since bmcd started."""


@dataclass(frozen=True)
class FlashTransferring:
    """A job is running; `bytes_written` restarts from 0 for the read-back verification."""

    job_id: int
    process_name: str
    size: int
    cancelled: bool
    bytes_written: int


@dataclass(frozen=True)
class FlashDone:
    """The last job succeeded; carries no job id, so it may belong to an earlier job."""

    seconds: float
    size: int


@dataclass(frozen=True)
class FlashError:
    """The last job failed or was cancelled; carries no job id either."""

    message: str


FlashStatus = FlashReady | FlashTransferring | FlashDone | FlashError


# -- reply parsing ----------------------------------------------------------------------------


def parse_json(text: str) -> object:
    """Decode a reply body, describing HTML and garbage precisely."""
    stripped = text.lstrip()
    if stripped[:1] == "<":
        raise ReplyShapeError("an HTML page")
    if not stripped:
        raise ReplyShapeError("an empty body")
    try:
        value: object = json.loads(text)
    except ValueError:
        raise ReplyShapeError(f"text that is not JSON ({_excerpt(text)})") from None
    return value


def envelope_item(body: object) -> dict[str, object]:
    """The first object of the legacy envelope ``{"response":[{...}]}``."""
    if isinstance(body, dict):
        items = body.get("response")
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return items[0]
    raise ReplyShapeError(f"JSON without the response envelope ({_excerpt(json.dumps(body))})")


def envelope_result(body: object) -> object:
    """The `result` value of the envelope (data, "ok" or an error message)."""
    item = envelope_item(body)
    if "result" not in item:
        raise ReplyShapeError("an envelope without a result")
    return item["result"]


def envelope_message(text: str) -> str | None:
    """The error message of an envelope reply, or None if `text` is not one."""
    try:
        result = envelope_result(parse_json(text))
    except ReplyShapeError:
        return None
    return result if isinstance(result, str) else None


def parse_ok(body: object) -> None:
    """Check a set-type reply is ``{"response":[{"result":"ok"}]}``."""
    result = envelope_result(body)
    if result != "ok":
        raise ReplyShapeError(f"result {_excerpt(json.dumps(result))} instead of ok")


def parse_power_status(body: object) -> dict[int, bool | None]:
    """Power per slot from either shape; None where the BMC reports "Unknown".

    Firmware 2.x: ``{"response":[{"result":[{"node1":"1",...}]}]}`` (strings); firmware 1.x:
    ``{"response":[{"node1":0,...}]}`` (integers, no `result`).
    """
    item = envelope_item(body)
    values: object = item
    if "result" in item:
        result = item["result"]
        if not (isinstance(result, list) and result and isinstance(result[0], dict)):
            raise ReplyShapeError(f"a power result of {_excerpt(json.dumps(result))}")
        values = result[0]
    assert isinstance(values, dict)
    status: dict[int, bool | None] = {}
    for key, value in values.items():
        slot = slot_of_power_parameter(str(key))
        if slot is None:
            continue
        if value in ("1", 1) and not isinstance(value, bool):
            status[slot] = True
        elif value in ("0", 0) and not isinstance(value, bool):
            status[slot] = False
        elif value == "Unknown":
            status[slot] = None
        else:
            raise ReplyShapeError(f"power value {value!r} for {key}")
    if set(status) != set(SLOTS):
        raise ReplyShapeError(f"a power status for slots {sorted(status)} instead of 1–4")
    return status


def parse_uart(body: object) -> str:
    """The text of ``{"response":[{"uart":"..."}]}``."""
    text = envelope_item(body).get("uart")
    if not isinstance(text, str):
        raise ReplyShapeError("a UART reply without text")
    return text


def parse_info(body: object) -> BmcInfo:
    """Versions from `type=other` (``result`` is a one-object array; fields vary by version)."""
    result = envelope_result(body)
    fields = result[0] if isinstance(result, list) and result else result
    if not isinstance(fields, dict):
        raise ReplyShapeError(f"system information of {_excerpt(json.dumps(result))}")
    texts = {k: v for k, v in fields.items() if isinstance(v, str)}
    version = texts.get("version")
    build_version = texts.get("build_version")
    generation = generation_of(version, build_version)
    bmcd_version: str | None = version if build_version is not None else None
    firmware_version: str | None = build_version if build_version is not None else version
    return BmcInfo(
        generation=generation,
        api_version=texts.get("api"),
        bmcd_version=bmcd_version,
        firmware_version=firmware_version,
        build_time=texts.get("buildtime"),
    )


def parse_flash_status(body: object) -> FlashStatus:
    """The serde-encoded status: "Ready", {"Transferring":{...}}, {"Done":[...]}, {"Error":"..."}."""
    if body == "Ready":
        return FlashReady()
    if isinstance(body, dict) and len(body) == 1:
        ((kind, value),) = body.items()
        if kind == "Transferring" and isinstance(value, dict):
            return FlashTransferring(
                job_id=_integer(value, "id"),
                process_name=str(value.get("process_name", "")),
                size=_integer(value, "size"),
                cancelled=value.get("cancelled") is True,
                bytes_written=_integer(value, "bytes_written"),
            )
        if kind == "Done" and isinstance(value, list) and len(value) == 2:
            duration, size = value
            if isinstance(duration, dict) and isinstance(size, int):
                seconds = duration.get("secs", 0)
                nanos = duration.get("nanos", 0)
                if isinstance(seconds, int) and isinstance(nanos, int):
                    return FlashDone(seconds=seconds + nanos / 1e9, size=size)
        if kind == "Error" and isinstance(value, str):
            return FlashError(value)
    raise ReplyShapeError(f"a flash status of {_excerpt(json.dumps(body))}")


def parse_handle(body: object) -> int:
    """The job id of a transfer request's bare ``{"handle": <u32>}``."""
    if isinstance(body, dict):
        return _integer(body, "handle")
    raise ReplyShapeError(f"a transfer reply of {_excerpt(json.dumps(body))}")


def parse_login(body: object) -> str:
    """The token (`id`) of a login reply."""
    token = body.get("id") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ReplyShapeError("a login reply without a token")
    return token


# -- authentication texts ---------------------------------------------------------------------

BAN_MARKER = "Exceeded allowed authentication attempts"
_DURATION_UNITS = {
    "years": 31_557_600.0,
    "year": 31_557_600.0,
    "months": 2_630_016.0,
    "month": 2_630_016.0,
    "days": 86_400.0,
    "day": 86_400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "ns": 1e-9,
}
_DURATION_PART = re.compile(r"(\d+)\s*(years?|months?|days?|ms|us|ns|h|m|s)\b")


def is_ban(text: str) -> bool:
    """Whether a 401/403 body is bmcd's ban message."""
    return BAN_MARKER in text


def ban_seconds(text: str) -> float | None:
    """The remaining ban of ``Access blocked for 1m 30s 12ms`` (humantime format), if present."""
    _, found, tail = text.partition("Access blocked for")
    if not found:
        return None
    parts = _DURATION_PART.findall(tail)
    if not parts:
        return None
    return sum(int(value) * _DURATION_UNITS[unit] for value, unit in parts)


def _integer(mapping: dict[str, object], key: str) -> int:
    value = mapping.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReplyShapeError(f"{key}={_excerpt(json.dumps(value))} instead of a count")
    return value


def _excerpt(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
