"""age keys from ssh ed25519 keys (what ssh-to-age does), and the bech32 encoding age keys use.

Must not log, store or print a private key or identity; only recipients (public keys) leave here.

A node's ssh host key doubles as its sops-nix age key: the Ed25519 public key maps to an X25519
public key (libsodium's `crypto_sign_ed25519_pk_to_curve25519`), written as bech32 with the
human-readable part "age". The matching identity is the X25519 scalar derived from the private
key, written as upper-case bech32 with the part "age-secret-key-".

Usage::

    recipient = ssh_ed25519_to_age_recipient("tp-node3 ssh-ed25519 AAAAC3Nza...")
    identity = ssh_ed25519_private_to_age_identity(pem_text)      # AGE-SECRET-KEY-1...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import (
    crypto_sign_ed25519_pk_to_curve25519,
    crypto_sign_ed25519_sk_to_curve25519,
)
from nacl.exceptions import RuntimeError as NaclRuntimeError

from bot.errors import UserError

AGE_RECIPIENT_HRP = "age"
AGE_IDENTITY_HRP = "age-secret-key-"
ED25519_KEY_TYPE = "ssh-ed25519"

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {char: index for index, char in enumerate(_CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LENGTH = 6

# Option names that may start an authorized_keys line (sshd(8) AUTHORIZED_KEYS FILE FORMAT).
_AUTHORIZED_KEYS_OPTIONS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "command",
        "environment",
        "expiry-time",
        "from",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-touch-required",
        "no-user-rc",
        "no-x11-forwarding",
        "permitlisten",
        "permitopen",
        "port-forwarding",
        "principals",
        "pty",
        "restrict",
        "tunnel",
        "user-rc",
        "verify-required",
        "x11-forwarding",
    }
)


class Bech32Error(ValueError):
    """Raised when text is not valid bech32 (BIP-173), or has the wrong human-readable part."""


class InvalidSshKey(UserError):
    """Raised when text that should hold an ssh ed25519 key does not."""


# --- bech32 (BIP-173; not bech32m, and without BIP-173's 90-character limit, as age does) ------


def _polymod(values: Sequence[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value
        for bit, generator in enumerate(_GENERATORS):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]


def bech32_encode_words(hrp: str, words: Sequence[int]) -> str:
    """Encode 5-bit `words` under `hrp` (lower case) with a bech32 checksum."""
    if not hrp or any(not 33 <= ord(char) <= 126 for char in hrp):
        raise Bech32Error("the human-readable part must be 1 or more characters in 33..126")
    if hrp != hrp.lower():
        raise Bech32Error("the human-readable part must be lower case")
    if any(not 0 <= word < 32 for word in words):
        raise Bech32Error("every word must be a 5-bit value")
    polymod = _polymod([*_expand_hrp(hrp), *words, *([0] * _CHECKSUM_LENGTH)]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LENGTH)]
    return hrp + "1" + "".join(_CHARSET[word] for word in [*words, *checksum])


def bech32_decode_words(text: str) -> tuple[str, list[int]]:
    """Split bech32 `text` into its (lower-case) human-readable part and 5-bit data words."""
    if any(not 33 <= ord(char) <= 126 for char in text):
        raise Bech32Error("bech32 text holds a character outside 33..126")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("bech32 text mixes upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1:
        raise Bech32Error("bech32 text has no human-readable part before the separator '1'")
    if len(text) - separator - 1 < _CHECKSUM_LENGTH:
        raise Bech32Error("bech32 text is too short to hold a checksum")
    hrp, data = text[:separator], text[separator + 1 :]
    try:
        words = [_CHARSET_INDEX[char] for char in data]
    except KeyError as exc:
        raise Bech32Error(f"bech32 data holds the invalid character {exc.args[0]!r}") from None
    if _polymod([*_expand_hrp(hrp), *words]) != 1:
        raise Bech32Error("bech32 checksum does not match")
    return hrp, words[:-_CHECKSUM_LENGTH]


def _regroup(values: Sequence[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    """Regroup a bit string from `from_bits`-wide values into `to_bits`-wide ones."""
    accumulator = bits = 0
    out: list[int] = []
    mask = (1 << to_bits) - 1
    for value in values:
        accumulator = (accumulator << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((accumulator >> bits) & mask)
    if pad:
        if bits:
            out.append((accumulator << (to_bits - bits)) & mask)
    elif bits >= from_bits or (accumulator << (to_bits - bits)) & mask:
        raise Bech32Error("bech32 data has invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode `data` bytes as lower-case bech32 under `hrp`."""
    return bech32_encode_words(hrp, _regroup(data, 8, 5, pad=True))


def bech32_decode(text: str, *, hrp: str | None = None) -> bytes:
    """Decode bech32 `text` to bytes; with `hrp`, insist on that human-readable part."""
    found, words = bech32_decode_words(text)
    if hrp is not None and found != hrp:
        raise Bech32Error(f"expected the human-readable part {hrp!r}, found {found!r}")
    return bytes(_regroup(words, 5, 8, pad=False))


def age_recipient_bytes(recipient: str) -> bytes:
    """The 32-byte X25519 public key in an `age1...` recipient; raises `Bech32Error` if invalid."""
    if not recipient.startswith("age1"):
        raise Bech32Error("an age recipient starts with 'age1'")
    raw = bech32_decode(recipient, hrp=AGE_RECIPIENT_HRP)
    if len(raw) != 32:
        raise Bech32Error(f"an age recipient holds 32 bytes, this one {len(raw)}")
    return raw


# --- ssh public keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SshPublicKey:
    """One ssh ed25519 public key found in text, with the host it was listed for (if any)."""

    public_key: bytes  # the raw 32-byte Ed25519 key
    blob: str  # the base64 wire blob as written
    host: str | None = None
    comment: str = ""

    @property
    def line(self) -> str:
        """The key as an OpenSSH public key line."""
        return f"{ED25519_KEY_TYPE} {self.blob}" + (f" {self.comment}" if self.comment else "")

    @property
    def fingerprint(self) -> str:
        """The OpenSSH SHA256 fingerprint, as `ssh-keygen -l` prints it."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def age_recipient(self) -> str:
        """The age recipient (`age1...`) sops-nix derives from this key."""
        return _x25519_recipient(self.public_key)


def _read_string(blob: bytes, at: int) -> tuple[bytes, int]:
    if at + 4 > len(blob):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", blob[at : at + 4])
    end = at + 4 + length
    if end > len(blob):
        raise ValueError("truncated")
    return blob[at + 4 : end], end


def _ed25519_from_blob(blob_b64: str) -> bytes:
    """The raw key in an OpenSSH ssh-ed25519 wire blob; raises ValueError when malformed."""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except binascii.Error:
        raise ValueError("the key is not valid base64") from None
    key_type, at = _read_string(blob, 0)
    if key_type != ED25519_KEY_TYPE.encode():
        raise ValueError(f"the key blob is of type {key_type[:40]!r}, not ssh-ed25519")
    key, at = _read_string(blob, at)
    if len(key) != 32 or at != len(blob):
        raise ValueError("the key blob does not hold one 32-byte Ed25519 key")
    return key


def _host_in(prefix: list[str]) -> str | None:
    """The host a known_hosts/keyscan prefix names; None for authorized_keys options."""
    if prefix and prefix[0].startswith("@"):  # @cert-authority / @revoked markers
        prefix = prefix[1:]
    if len(prefix) != 1:
        return None
    names = {item.split("=", 1)[0].lower() for item in prefix[0].split(",")}
    if names & _AUTHORIZED_KEYS_OPTIONS or '"' in prefix[0]:
        return None
    return prefix[0]


def parse_ssh_public_keys(text: str) -> list[SshPublicKey]:
    """The ed25519 keys in ssh-keyscan, known_hosts, authorized_keys or .pub text, in order.

    Blank lines, `#` comments and keys of other types are skipped. An ssh-ed25519 entry whose
    key does not decode raises `InvalidSshKey` naming its line, rather than being dropped.
    """
    keys: list[SshPublicKey] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#") or ED25519_KEY_TYPE not in fields:
            continue
        at = fields.index(ED25519_KEY_TYPE)
        if at + 1 >= len(fields):
            raise InvalidSshKey(f"Line {number} names ssh-ed25519 but holds no key after it.")
        blob = fields[at + 1]
        try:
            public_key = _ed25519_from_blob(blob)
        except ValueError as exc:
            raise InvalidSshKey(f"Line {number} holds a broken ssh-ed25519 key: {exc}.") from None
        keys.append(
            SshPublicKey(
                public_key=public_key,
                blob=blob,
                host=_host_in(fields[:at]),
                comment=" ".join(fields[at + 2 :]),
            )
        )
    return keys


def _x25519_recipient(ed25519_public: bytes) -> str:
    try:
        x25519_public = crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except NaclRuntimeError:
        raise InvalidSshKey("The ssh-ed25519 key is not a valid curve point.") from None
    return bech32_encode(AGE_RECIPIENT_HRP, x25519_public)


def ssh_ed25519_to_age_recipient(openssh_public_line: str) -> str:
    """The age recipient for one ssh-ed25519 public key line (a .pub, authorized_keys or keyscan line)."""
    keys = parse_ssh_public_keys(openssh_public_line)
    if len(keys) != 1:
        raise InvalidSshKey(f"Expected one ssh-ed25519 public key, found {len(keys)}.")
    return keys[0].age_recipient


# --- ssh private keys ---------------------------------------------------------------------------


def ssh_ed25519_private_to_age_identity(private_key_pem: str, password: bytes | None = None) -> str:
    """The age identity (`AGE-SECRET-KEY-1...`) for an OpenSSH (or PKCS#8) Ed25519 private key."""
    data = private_key_pem.encode()
    key: object
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=password)
        else:
            key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The library's message describes the format problem; it never quotes the key.
        # (Passphrase-protected OpenSSH keys need the optional bcrypt module: UnsupportedAlgorithm.)
        raise InvalidSshKey(f"The private key cannot be loaded: {exc}.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidSshKey("The private key is not an Ed25519 key.")
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    scalar = crypto_sign_ed25519_sk_to_curve25519(seed + public)
    return bech32_encode(AGE_IDENTITY_HRP, scalar).upper()


# --- the `labbot ssh-to-age` command ------------------------------------------------------------


def ssh_to_age_main(stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Print one age recipient per distinct ssh-ed25519 key on stdin; 1 if none, 2 if one is broken."""
    try:
        keys = parse_ssh_public_keys(stdin.read())
    except InvalidSshKey as exc:
        print(f"ssh-to-age: {exc}", file=stderr)
        return 2
    seen: set[bytes] = set()
    for key in keys:
        if key.public_key in seen:
            continue
        seen.add(key.public_key)
        try:
            recipient = key.age_recipient
        except InvalidSshKey as exc:
            print(f"ssh-to-age: {exc}", file=stderr)
            return 2
        print(recipient, file=stdout)
    if not seen:
        print("ssh-to-age: no ssh-ed25519 public key found on stdin", file=stderr)
        return 1
    return 0
