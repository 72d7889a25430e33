"""Authentication of the emulated bmcd 2.3.4: login tokens, Basic/Bearer checks and the ban patrol.

Decides outcomes only (turing-machines/bmcd); it never builds HTTP responses itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from labsim.bmc.rust_formats import format_duration

REALM = "Access to Baseboard Management Controller"
TOKEN_ALPHABET = string.ascii_letters + string.digits
TOKEN_LENGTH = 64
BAN_SECONDS = 60.0
BAN_LEVELS = 10

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    """A successful login: the token and the JSON body bmcd returns for it."""

    token: str
    username: str

    def body(self) -> dict[str, str]:
        """The login reply body, key order as bmcd serialises it."""
        return {
            "id": self.token,
            "name": "User Session",
            "description": "User Session",
            "username": self.username,
        }


@dataclass(frozen=True)
class AuthFailure:
    """A refused request: HTTP status, plain-text body and the WWW-Authenticate challenge."""

    status: int
    message: str
    challenge: str | None = None


class _Refused(Exception):
    """Internal: carries the message of a refused credential check."""


class BanPatrol:
    """Per-peer count of consecutive failures; bans from the Nth failure on, doubling each time.

    As turing-machines/bmcd v2.3.4 src/authentication/ban_patrol.rs: `penalize` counts a failure
    and, from the `max_attempts`th on, sets the deadline to *now* + 60 s × 2^min(n − N, 10);
    `patrole_ban` is checked first, so attempts refused while banned are not counted (and a
    right password is refused too). The count survives the ban's end: only a success clears it.
    """

    def __init__(self, max_attempts: int, clock: Clock) -> None:
        if max_attempts < 1:
            raise ValueError("authentication_attempts must be at least 1")
        self._max_attempts = max_attempts
        self._clock = clock
        self._penalties: dict[str, tuple[int, float]] = {}  # peer → (failures, ban deadline)

    def check(self, peer: str) -> None:
        """Raise `_Refused` with the ban message if `peer` is banned right now."""
        entry = self._penalties.get(peer)
        if entry is not None:
            self._raise_if_banned(entry[1])

    def penalize(self, peer: str) -> None:
        """Count a failure; raise `_Refused` with the ban message if it means a ban."""
        attempts, deadline = self._penalties.get(peer, (0, self._clock()))
        attempts += 1
        if attempts >= self._max_attempts:
            severity = 1 << min(attempts - self._max_attempts, BAN_LEVELS)
            deadline = self._clock() + BAN_SECONDS * severity
        self._penalties[peer] = (attempts, deadline)
        if attempts >= self._max_attempts:
            self._raise_if_banned(deadline)

    def clear(self, peer: str) -> None:
        """Forget the failures of `peer` (after a success)."""
        self._penalties.pop(peer, None)

    def reset(self) -> None:
        """Forget everything (bans live only in daemon memory)."""
        self._penalties.clear()

    def _raise_if_banned(self, deadline: float) -> None:
        remaining = deadline - self._clock()
        if remaining > 0:
            raise _Refused(
                "Exceeded allowed authentication attempts. "
                f"Access blocked for {format_duration(remaining)}"
            )


class Authenticator:
    """Token store and credential checks of one bmcd process; `reset()` models a daemon restart."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        token_expires: float,
        authentication_attempts: int,
        clock: Clock,
    ) -> None:
        self._users = dict(users)
        self._token_expires = token_expires
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._bans = BanPatrol(authentication_attempts, clock)

    def set_password(self, username: str, password: str) -> None:
        """Create or change a user's password (like `passwd` on the BMC)."""
        self._users[username] = password

    def reset(self) -> None:
        """Drop all tokens and bans, as a bmcd restart does."""
        self._tokens.clear()
        self._bans.reset()

    def login(self, peer: str, body: bytes) -> Session | AuthFailure:
        """Handle `POST /api/bmc/authenticate`; failures are 403 with a plain-text reason."""
        try:
            username, password = _parse_login(body)
            self._validate(peer, username, password)
        except _Refused as refused:
            return AuthFailure(403, str(refused))
        now = self._clock()
        self._tokens = {
            token: last for token, last in self._tokens.items() if now - last <= self._token_expires
        }
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
        self._tokens[token] = now
        return Session(token=token, username=username)

    def authorize(self, peer: str, header: str | None) -> AuthFailure | None:
        """Check an `Authorization` header of an API call; None means allowed, else a 401."""
        basic = f'Basic realm="{REALM}"'
        if header is None:
            return AuthFailure(401, "no authorization header provided", basic)
        scheme, separator, credentials = header.partition(" ")
        if not separator:
            return AuthFailure(401, f"cannot parse authorization header: {header}", basic)
        try:
            if scheme == "Bearer":
                self._authorize_bearer(peer, credentials)
            elif scheme == "Basic":
                self._authorize_basic(peer, credentials)
            else:
                return AuthFailure(
                    401, f"{scheme} authentication not supported", f'realm="{REALM}"'
                )
        except _Refused as refused:
            if scheme == "Bearer":
                challenge = (
                    f'Bearer realm="{REALM}" error="invalid_token" error_description="{refused}"'
                )
                return AuthFailure(401, str(refused), challenge)
            return AuthFailure(401, str(refused), basic)
        return None

    def _authorize_bearer(self, peer: str, token: str) -> None:
        self._bans.check(peer)
        last = self._tokens.get(token)
        if last is None:
            self._bans.penalize(peer)
            raise _Refused(f"token {token} is not registered")
        idle = self._clock() - last
        if idle < self._token_expires:
            self._tokens[token] = self._clock()  # sliding expiry
            self._bans.clear(peer)
            return
        del self._tokens[token]  # expired tokens do not count as failures
        raise _Refused(f"token expired {format_duration(idle)} ago")

    def _authorize_basic(self, peer: str, credentials: str) -> None:
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError) as error:
            # Message wording of Rust's base64 crate is not reproduced exactly (inferred).
            raise _Refused(f"error trying to parse credentials: {error}") from None
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _Refused(f"error trying to parse credentials: {error}") from None
        username, separator, password = text.partition(":")
        if not separator:
            raise _Refused(
                "error trying to parse credentials: basic authentication formatted wrong"
            )
        self._validate(peer, username, password)

    def _validate(self, peer: str, username: str, password: str) -> None:
        self._bans.check(peer)
        expected = self._users.get(username)
        if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
            self._bans.penalize(peer)
            raise _Refused("credentials incorrect")
        self._bans.clear(peer)


def _parse_login(body: bytes) -> tuple[str, str]:
    """Parse the login JSON; messages approximate serde_json's (inferred wording)."""
    prefix = "error trying to parse credentials: "
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _Refused(f"{prefix}{error}") from None
    except json.JSONDecodeError as error:
        raise _Refused(f"{prefix}{error.msg} at line {error.lineno} column {error.colno}") from None
    if not isinstance(data, dict):
        raise _Refused(f"{prefix}invalid type: expected struct Login")
    for field in ("username", "password"):
        if field not in data:
            raise _Refused(f"{prefix}missing field `{field}`")
        if not isinstance(data[field], str):
            raise _Refused(f"{prefix}invalid type for `{field}`: expected a string")
    return data["username"], data["password"]
