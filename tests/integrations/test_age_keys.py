"""Tests for bot/integrations/age_keys.py: bech32 vectors, ssh-to-age conversion, key parsing and the CLI."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from nacl.bindings import crypto_scalarmult_base, crypto_sign_ed25519_pk_to_curve25519

from bot.integrations.age_keys import (
    Bech32Error,
    InvalidSshKey,
    age_recipient_bytes,
    bech32_decode,
    bech32_decode_words,
    bech32_encode,
    bech32_encode_words,
    parse_ssh_public_keys,
    ssh_ed25519_private_to_age_identity,
    ssh_ed25519_to_age_recipient,
    ssh_to_age_main,
)
from bot.integrations.sops import Sops

# BIP-173 "Test vectors": valid bech32 strings, and invalid ones with the reason. (The 91-character
# vector is left out: age, unlike BIP-173, sets no length limit.)
VALID_BECH32 = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
INVALID_BECH32 = [
    "\x201nwldj5",  # HRP character out of range
    "\x7f1axkwrx",  # HRP character out of range
    "\x801eym55h",  # HRP character out of range
    "pzry9x0s0muk",  # no separator character
    "1pzry9x0s0muk",  # empty HRP
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "de1lg7wt\xff",  # invalid character in checksum
    "A1G7SGD8",  # checksum calculated with upper-case form of HRP
    "10a06t8",  # empty HRP
    "1qzzfhee",  # empty HRP
    "a12UEL5L",  # mixed case
]
ED25519_P = 2**255 - 19


def new_key() -> tuple[Ed25519PrivateKey, str, str]:
    """A fresh key, its OpenSSH public line and its unencrypted OpenSSH private key."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return key, public.decode(), private.decode()


def montgomery_u(ed25519_public: bytes) -> bytes:
    """The birational map u = (1 + y) / (1 - y) mod p, written out independently of libsodium."""
    y = int.from_bytes(ed25519_public, "little") & ((1 << 255) - 1)
    u = (1 + y) * pow(1 - y, ED25519_P - 2, ED25519_P) % ED25519_P
    return u.to_bytes(32, "little")


# --- bech32 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", VALID_BECH32)
def test_valid_bip173_vectors_decode_and_reencode(text: str) -> None:
    hrp, words = bech32_decode_words(text)
    assert bech32_encode_words(hrp, words) == text.lower()


@pytest.mark.parametrize("text", INVALID_BECH32)
def test_invalid_bip173_vectors_are_rejected(text: str) -> None:
    with pytest.raises(Bech32Error):
        bech32_decode_words(text)


def test_segwit_vector_carries_its_witness_program() -> None:
    hrp, words = bech32_decode_words("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4")
    assert (hrp, words[0]) == ("bc", 0)
    program = bech32_decode(bech32_encode_words("bc", words[1:]), hrp="bc")
    assert program == bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")


def test_bech32_matches_age_keys_generated_by_rage() -> None:
    for _ in range(5):
        identity = pyrage.x25519.Identity.generate()
        recipient = str(identity.to_public())
        scalar = bech32_decode(str(identity), hrp="age-secret-key-")
        assert age_recipient_bytes(recipient) == crypto_scalarmult_base(scalar)
        assert bech32_encode("age", age_recipient_bytes(recipient)) == recipient
        assert bech32_encode("age-secret-key-", scalar).upper() == str(identity)


def test_bech32_rejects_wrong_hrp_bad_padding_and_short_recipients() -> None:
    with pytest.raises(Bech32Error, match="human-readable part"):
        bech32_decode(bech32_encode("bc", b"x" * 32), hrp="age")
    with pytest.raises(Bech32Error, match="padding"):
        bech32_decode(bech32_encode_words("age", [31]))  # 5 set bits: neither a byte nor padding
    with pytest.raises(Bech32Error, match="32 bytes"):
        age_recipient_bytes(bech32_encode("age", b"x" * 31))
    with pytest.raises(Bech32Error, match="age1"):
        age_recipient_bytes("AGE-SECRET-KEY-1QQQQQQ")


# --- ssh → age ----------------------------------------------------------------------------------


def test_recipient_is_the_curve25519_form_of_the_ssh_key() -> None:
    key, public_line, _ = new_key()
    raw = key.public_key().public_bytes_raw()
    recipient = ssh_ed25519_to_age_recipient(public_line)
    assert recipient.startswith("age1")
    assert age_recipient_bytes(recipient) == crypto_sign_ed25519_pk_to_curve25519(raw)
    assert age_recipient_bytes(recipient) == montgomery_u(raw)


def test_identity_decrypts_what_is_encrypted_to_the_recipient() -> None:
    _, public_line, private_pem = new_key()
    recipient = ssh_ed25519_to_age_recipient(public_line)
    identity_text = ssh_ed25519_private_to_age_identity(private_pem)
    assert identity_text.startswith("AGE-SECRET-KEY-1") and identity_text == identity_text.upper()
    identity = pyrage.x25519.Identity.from_str(identity_text)
    assert str(identity.to_public()) == recipient
    sealed = pyrage.encrypt(b"k3s token", [pyrage.x25519.Recipient.from_str(recipient)])
    assert pyrage.decrypt(sealed, [identity]) == b"k3s token"
    stranger = pyrage.x25519.Identity.generate()
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(sealed, [stranger])


async def test_sops_decrypts_with_an_identity_derived_from_an_ssh_host_key(
    tmp_path: Path,
) -> None:
    _, public_line, private_pem = new_key()
    recipient = ssh_ed25519_to_age_recipient(public_line)
    writer = Sops(tmp_path)
    await writer.encrypt_new(
        Path("secrets/secrets.yaml"), {"k3s_token": "K10-test-token"}, recipients=[recipient]
    )
    node = Sops(tmp_path, identity=ssh_ed25519_private_to_age_identity(private_pem))
    assert await node.decrypt(Path("secrets/secrets.yaml")) == {"k3s_token": "K10-test-token"}


def test_keys_made_by_ssh_keygen_convert_and_match_its_fingerprint(tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    assert keygen is not None, "openssh is installed on this machine"
    key_file = tmp_path / "ssh_host_ed25519_key"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "root@tp-node3", "-f", str(key_file)],
        check=True,
    )
    public_text = key_file.with_suffix(".pub").read_text()
    [parsed] = parse_ssh_public_keys(public_text)
    listed = subprocess.run(
        [keygen, "-l", "-f", str(key_file.with_suffix(".pub"))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert parsed.fingerprint == listed.split()[1]
    assert parsed.comment == "root@tp-node3"
    identity = pyrage.x25519.Identity.from_str(
        ssh_ed25519_private_to_age_identity(key_file.read_text())
    )
    assert str(identity.to_public()) == ssh_ed25519_to_age_recipient(public_text)


def test_private_key_forms_and_refusals() -> None:
    key, public_line, _ = new_key()
    expected = ssh_ed25519_to_age_recipient(public_line)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter22"),
    ).decode()
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for pem, password in ((locked, b"hunter22"), (pkcs8, None)):
        identity = ssh_ed25519_private_to_age_identity(pem, password=password)
        assert str(pyrage.x25519.Identity.from_str(identity).to_public()) == expected
    with pytest.raises(InvalidSshKey, match="cannot be loaded"):
        ssh_ed25519_private_to_age_identity(locked)  # no password given
    with pytest.raises(InvalidSshKey, match="cannot be loaded"):
        ssh_ed25519_private_to_age_identity("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(InvalidSshKey, match="not an Ed25519 key"):
        ssh_ed25519_private_to_age_identity(rsa_pem)


# --- parsing ------------------------------------------------------------------------------------


def test_keyscan_output_yields_the_ed25519_key_per_host() -> None:
    _, node3_line, _ = new_key()
    _, node1_line, _ = new_key()
    node3_blob, node1_blob = node3_line.split()[1], node1_line.split()[1]
    keyscan = (
        "# tp-node3:22 SSH-2.0-OpenSSH_9.6\n"
        "tp-node3 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7\n"
        "# tp-node3:22 SSH-2.0-OpenSSH_9.6\n"
        "tp-node3 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI\n"
        f"tp-node3 ssh-ed25519 {node3_blob}\n"
        "\n"
        f"[10.0.0.11]:2222 ssh-ed25519 {node1_blob}\n"
    )
    keys = parse_ssh_public_keys(keyscan)
    assert [(key.host, key.blob) for key in keys] == [
        ("tp-node3", node3_blob),
        ("[10.0.0.11]:2222", node1_blob),
    ]
    assert keys[0].line == f"ssh-ed25519 {node3_blob}"


def test_authorized_keys_pub_and_known_hosts_lines() -> None:
    _, line, _ = new_key()
    blob = line.split()[1]
    text = (
        f'restrict,command="colmena apply --on tp-node3" ssh-ed25519 {blob} labbot@lab\n'
        f"no-pty ssh-ed25519 {blob}\n"
        f"ssh-ed25519 {blob} root@tp-node3\n"
        f"@cert-authority *.lab ssh-ed25519 {blob}\n"
        f"sk-ssh-ed25519@openssh.com {blob} fido\n"
        f"# ssh-ed25519 {blob} commented out\n"
    )
    keys = parse_ssh_public_keys(text)
    assert [(key.host, key.comment) for key in keys] == [
        (None, "labbot@lab"),
        (None, ""),
        (None, "root@tp-node3"),
        ("*.lab", ""),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("tp-node3 ssh-ed25519", "no key after it"),
        ("tp-node3 ssh-ed25519 AAAA!!!!", "not valid base64"),
        ("tp-node3 ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7", "not ssh-ed25519"),
        ("tp-node3 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "truncated"),
    ],
)
def test_a_broken_ed25519_entry_names_its_line(line: str, reason: str) -> None:
    with pytest.raises(InvalidSshKey, match=rf"Line 2 .*{reason}"):
        parse_ssh_public_keys("# header\n" + line + "\n")


def test_a_small_order_point_is_refused() -> None:
    # y = 1 encodes the neutral element: well-formed, but no usable X25519 key.
    blob = "AAAAC3NzaC1lZDI1NTE5AAAAIAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with pytest.raises(InvalidSshKey, match="not a valid curve point"):
        ssh_ed25519_to_age_recipient(f"ssh-ed25519 {blob}")
    code, out, err = run_cli(f"ssh-ed25519 {blob}\n")
    assert (code, out) == (2, "")
    assert "curve point" in err


def test_recipient_for_a_line_needs_exactly_one_key() -> None:
    _, first, _ = new_key()
    _, second, _ = new_key()
    with pytest.raises(InvalidSshKey, match="found 2"):
        ssh_ed25519_to_age_recipient(first + "\n" + second)
    with pytest.raises(InvalidSshKey, match="found 0"):
        ssh_ed25519_to_age_recipient("tp-node3 ssh-rsa AAAAB3NzaC1yc2E")


# --- CLI ----------------------------------------------------------------------------------------


def run_cli(text: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = ssh_to_age_main(io.StringIO(text), stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_cli_prints_one_recipient_per_distinct_key() -> None:
    _, node3, _ = new_key()
    _, node1, _ = new_key()
    blob3 = node3.split()[1]
    text = f"tp-node3 ssh-ed25519 {blob3}\n10.0.0.13 ssh-ed25519 {blob3}\n{node1}\n"
    code, out, err = run_cli(text)
    assert code == 0, err
    assert out.splitlines() == [
        ssh_ed25519_to_age_recipient(node3),
        ssh_ed25519_to_age_recipient(node1),
    ]


def test_cli_fails_when_no_ed25519_key_is_given() -> None:
    code, out, err = run_cli("# tp-node3:22 SSH-2.0-OpenSSH_9.6\ntp-node3 ssh-rsa AAAAB3Nza\n")
    assert (code, out) == (1, "")
    assert "no ssh-ed25519 public key" in err


def test_cli_reports_a_broken_key() -> None:
    code, out, err = run_cli("tp-node3 ssh-ed25519 AAAA!!!!\n")
    assert (code, out) == (2, "")
    assert "Line 1" in err
