"""Tests for bot/redact.py: each secret shape, configured secrets, and the stream's guarantees."""

from __future__ import annotations

import itertools
import logging
import random

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.redact import MAX_RUN, MIN_SECRET_LENGTH, Redactor

# Values as `sops --encrypt --age ...` 3.11 printed them for a throwaway key.
SOPS_VALUE = (
    "ENC[AES256_GCM,data:ggaU5kCA8Uk3tZTTXTyITwTKG7ZxlZMEyY0vfaAsV9v/1Cq16zFTOoohoiLqHbS7Y273jo"
    "/E2FDipA==,iv:VJXwcnLYv6TXmxvhIxY1GHCorbZ5NeocDawBYAWZbkY=,tag:OYZQmUW0tYoSlb5hijTw2Q==,"
    "type:str]"
)
SOPS_SHORT = (
    "ENC[AES256_GCM,data:B0+CIJMUlQ==,iv:0B4RcnUF2KwCYM+fdevZ7gcjEtNNudeKhthAwi2gYZw=,"
    "tag:LY/DjlVyVIBKcYS07GLpAA==,type:str]"
)
K3S_CA_HASH = "7c1e1b3f4d2a9e8b6c5d4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"


def stream_all(redactor: Redactor, chunks: list[str]) -> str:
    stream = redactor.stream()
    return "".join(stream.feed(chunk) for chunk in chunks) + stream.flush()


def split_at(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(max(c, 0), len(text)) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


# --- shapes ---------------------------------------------------------------------------------


def test_age_secret_key_is_redacted() -> None:
    key = str(pyrage.x25519.Identity.generate())
    text = f"# created: 2024-05-01\n# public key: age1abc\n{key}\n"
    assert Redactor().redact(text) == (
        "# created: 2024-05-01\n# public key: age1abc\n[redacted:age-key]\n"
    )


def test_age_public_key_is_kept() -> None:
    public = str(pyrage.x25519.Identity.generate().to_public())
    assert Redactor().redact(f"recipient: {public}") == f"recipient: {public}"


@pytest.mark.parametrize("value", [SOPS_VALUE, SOPS_SHORT])
def test_sops_values_are_redacted(value: str) -> None:
    assert Redactor().redact(f"k3s_token: {value}\nnext: 1") == (
        "k3s_token: [redacted:sops]\nnext: 1"
    )


@pytest.mark.parametrize(
    "token",
    [
        "xoxb-2141234567-7234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxp-2141234567-2141234568-7234567890123-0123456789abcdef0123456789abcdef",
        "xapp-1-A0123456789-7234567890123-0123456789abcdef0123456789abcdef",
        "xoxa-2-2141234567-7234567890123-abcdef",
        "xoxe.xoxp-1-Mi0yLTIxNDEyMzQ1NjctNzIzNDU2Nzg5MDEyMw",
        "xoxe-1-My0xLTIxNDEyMzQ1NjctNzIzNDU2Nzg5MDEyMy0xMjM0",
    ],
)
def test_slack_tokens_are_redacted(token: str) -> None:
    assert Redactor().redact(f"token={token} ok") == "token=[redacted:slack-token] ok"


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_github_tokens_are_redacted(prefix: str) -> None:
    token = prefix + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    assert Redactor().redact(f"Authorization: token {token}") == (
        "Authorization: token [redacted:github-token]"
    )


def test_github_fine_grained_token_is_redacted() -> None:
    token = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
    assert Redactor().redact(f"GH_TOKEN={token}") == "GH_TOKEN=[redacted:github-token]"


@pytest.mark.parametrize(
    "token",
    [
        f"K10{K3S_CA_HASH}::server:4f0c1d9e8b7a6c5d4e3f2a1b0c9d8e7f",
        f"K10{K3S_CA_HASH}::node:0123456789abcdef",
        f"K10{K3S_CA_HASH}::abcdef.0123456789abcdef",
    ],
)
def test_k3s_tokens_are_redacted(token: str) -> None:
    assert Redactor().redact(f"K3S_TOKEN={token}\n") == "K3S_TOKEN=[redacted:k3s-token]\n"


def _pems() -> list[str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem, fmt = serialization.Encoding.PEM, serialization.PrivateFormat
    none = serialization.NoEncryption()
    return [
        rsa_key.private_bytes(pem, fmt.TraditionalOpenSSL, none).decode(),
        rsa_key.private_bytes(
            pem, fmt.TraditionalOpenSSL, serialization.BestAvailableEncryption(b"pw")
        ).decode(),  # has Proc-Type / DEK-Info headers
        ec_key.private_bytes(pem, fmt.PKCS8, none).decode(),
        ec_key.private_bytes(pem, fmt.PKCS8, serialization.BestAvailableEncryption(b"pw")).decode(),
        ed_key.private_bytes(pem, fmt.OpenSSH, none).decode(),
    ]


PEMS = _pems()


@pytest.mark.parametrize("pem", PEMS)
def test_private_key_blocks_are_redacted(pem: str) -> None:
    text = f"before\n{pem}after\n"
    assert Redactor().redact(text) == "before\n[redacted:private-key]\nafter\n"


def test_private_key_escaped_in_json_is_redacted() -> None:
    escaped = PEMS[2].replace("\n", "\\n")
    assert Redactor().redact(f'{{"key": "{escaped}"}}') == '{"key": "[redacted:private-key]\\n"}'


def test_private_key_without_end_line_is_still_redacted() -> None:
    body = "\n".join(PEMS[0].splitlines()[:-1])  # output cut off before the END line
    redacted = Redactor().redact(f"{body}\n(truncated)")
    assert redacted == "[redacted:private-key](truncated)"


def test_certificates_and_public_keys_are_kept() -> None:
    cert_like = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
    public = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----\n"
    assert Redactor().redact(cert_like + public) == cert_like + public


def test_ordinary_output_is_unchanged() -> None:
    text = (
        "[INFO ] Using configuration: /srv/infra/hive.nix\n"
        "tp-node3 | Activation successful\n"
        "github_pat and ghp_short and xoxb- and K10 and ENC are words here\n"
        "AGE-SECRET-KEY- without a key\n\ttabbed\n"
    )
    assert Redactor().redact(text) == text


# --- configured secrets ---------------------------------------------------------------------


def test_configured_secret_is_redacted_exactly() -> None:
    redactor = Redactor(["s3cr3t-bmc-password"])
    assert redactor.redact("login with s3cr3t-bmc-password!") == "login with [redacted:secret]!"


def test_secret_from_a_file_ignores_its_trailing_newline() -> None:
    redactor = Redactor(["  bmc-password-value\n"])
    assert redactor.redact("pw=bmc-password-value;") == "pw=[redacted:secret];"


def test_short_secret_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    with caplog.at_level(logging.WARNING, logger="bot.redact"):
        assert redactor.add_secret("zq9") is False
    assert redactor.secret_count == 0
    assert redactor.redact("zq9 zq9zq9") == "zq9 zq9zq9"
    assert "shorter than 6" in caplog.text
    assert "zq9" not in caplog.text  # the value itself is never logged


def test_multiline_secret_is_redacted_line_by_line() -> None:
    secret = "first-line-value\n  ab\nthird-line-value"
    redactor = Redactor([secret])
    assert redactor.secret_count == 2  # "ab" is too short to be its own piece
    out = redactor.redact(f"x {secret} y")
    assert out == "x [redacted:secret]\n  ab\n[redacted:secret] y"
    assert secret not in out


def test_longest_match_wins_and_overlaps_merge() -> None:
    redactor = Redactor(["abcdef-123", "123-uvwxyz"])
    assert redactor.redact("..abcdef-123-uvwxyz..") == "..[redacted:secret].."
    token = "ghp_" + "x" * 40
    assert Redactor([token[:10]]).redact(token + " ") == "[redacted:github-token] "


def test_secret_added_at_runtime_applies_to_a_running_stream() -> None:
    redactor = Redactor()
    stream = redactor.stream()
    assert stream.feed("one new-secret-value\n") == "one new-secret-value\n"
    redactor.add_secret("new-secret-value")
    assert stream.feed("two new-secret-value\n") == "two [redacted:secret]\n"


# --- streaming ------------------------------------------------------------------------------


def test_stream_holds_back_a_token_split_across_chunks() -> None:
    stream = Redactor().stream()
    token = "ghp_" + "Z" * 36
    first = stream.feed("auth " + token[:10])
    assert first == "auth "
    assert stream.pending == 10
    rest = stream.feed(token[10:] + " done\n")
    assert first + rest == "auth [redacted:github-token] done\n"
    assert stream.pending == 0


def test_stream_of_whole_lines_holds_nothing_back() -> None:
    stream = Redactor(["configured-secret"]).stream()
    for i in range(100):
        line = f"line {i} with configured-secret and ghp_ and ENC[\n"
        assert stream.feed(line) == f"line {i} with [redacted:secret] and ghp_ and ENC[\n"
        assert stream.pending == 0


def test_stream_holds_a_private_key_until_its_end_line() -> None:
    stream = Redactor().stream()
    lines = PEMS[0].splitlines(keepends=True)
    out = [stream.feed(line) for line in ["log\n", *lines]]
    assert out[0] == "log\n"
    assert all(piece == "" for piece in out[1:-1])
    assert out[-1] == "[redacted:private-key]\n"
    assert stream.feed("after\n") == "after\n"


def test_stream_releases_a_certificate_once_its_header_line_ends() -> None:
    stream = Redactor().stream()
    assert stream.feed("-----BEGIN CERTIFICATE") == ""
    assert stream.feed("-----\n") == "-----BEGIN CERTIFICATE-----\n"


def test_stream_memory_is_bounded_without_newlines() -> None:
    redactor = Redactor(["x" * 200])
    stream = redactor.stream()
    rng = random.Random(7)
    emitted = 0
    for _ in range(2000):  # 1.4 MB on one line, in chunks, full of secret-like prefixes
        chunk = "".join(rng.choice(["ghp_", "ENC[", "x" * 50, "K10", "ab"]) for _ in range(60))
        emitted += len(stream.feed(chunk))
        # at most two rule reaches (a sops value is up to ~16k) plus one run of overlaps
        assert stream.pending <= MAX_RUN + 2 * 16_700
    assert emitted > 0


def test_overlapping_run_is_capped() -> None:
    redactor = Redactor(["aaaaaa"])
    text = "a" * (MAX_RUN * 2 + 10)
    out = redactor.redact(text)
    assert "aaaaaa" not in out
    assert out.startswith("[redacted:secret][redacted:secret]")
    assert stream_all(redactor, split_at(text, [1000, MAX_RUN, MAX_RUN + 3])) == out


# --- properties -----------------------------------------------------------------------------

SECRET_ALPHABET = "abcxyz01-_ :\n"
MARKER_TEXTS = [
    f"[redacted:{label}]"
    for label in ("private-key", "age-key", "sops", "k3s-token", "github-token", "slack-token")
] + ["[redacted:secret]"]
FRAGMENTS = [
    "\n",
    " ",
    "-----BEGIN PRIVATE KEY-----\n",
    "-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----",
    "ENC[",
    "]",
    SOPS_SHORT,
    "ghp_",
    "ghp_" + "q" * 36,
    "xoxb-",
    "xoxb-123-456-abcdef",
    f"K10{K3S_CA_HASH}::server:",
    "AGE-SECRET-KEY-1",
    str(pyrage.x25519.Identity.generate()),
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], str, list[int]]:
    secrets = draw(
        st.lists(
            st.text(SECRET_ALPHABET, min_size=MIN_SECRET_LENGTH, max_size=24),
            min_size=0,
            max_size=4,
        )
    )
    pieces = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(SECRET_ALPHABET + "BEGIN-KEY[]", max_size=12),
        *([st.sampled_from(secrets)] if secrets else []),
    )
    text = "".join(draw(st.lists(pieces, max_size=30)))
    cuts = draw(st.lists(st.integers(0, max(len(text), 1)), max_size=12))
    return secrets, text, cuts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_stream_output_equals_whole_redaction(scenario: tuple[list[str], str, list[int]]) -> None:
    secrets, text, cuts = scenario
    redactor = Redactor(secrets)
    assert stream_all(redactor, split_at(text, cuts)) == redactor.redact(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_no_configured_secret_survives(scenario: tuple[list[str], str, list[int]]) -> None:
    secrets, text, cuts = scenario
    redactor = Redactor(secrets)
    out = stream_all(redactor, split_at(text, cuts))
    for secret in secrets:
        pieces = [p.strip() for p in secret.strip().splitlines() if len(p.strip()) >= 6]
        assume(not any(p in marker for p in pieces for marker in MARKER_TEXTS))
        if pieces:
            assert secret.strip() not in out
            for piece in pieces:
                assert piece not in out


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.lists(st.integers(0, 200), max_size=8))
def test_arbitrary_text_streams_like_the_whole(text: str, cuts: list[int]) -> None:
    redactor = Redactor(["password-123"])
    assert stream_all(redactor, split_at(text, cuts)) == redactor.redact(text)
