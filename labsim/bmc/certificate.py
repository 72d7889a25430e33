"""Self-signed TLS identity of the emulated BMC, shaped like the one the real BMC generates.

Generates keys in memory only; it never reads or writes the real BMC's PEM files.
"""

from __future__ import annotations

import datetime
import hashlib
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: Subject CN of the certificate made by the BMC's `generate_self_signedx509.sh`.
BMC_CERT_COMMON_NAME = "Turing-Pi self signed"


@dataclass(frozen=True)
class TlsIdentity:
    """A certificate and its private key, both PEM text, plus the DER SHA-256 fingerprint.

    Example: ``aiohttp.Fingerprint(bytes.fromhex(identity.sha256_fingerprint))`` pins it.
    """

    cert_pem: str
    key_pem: str
    sha256_fingerprint: str


def generate_identity(
    *, common_name: str = BMC_CERT_COMMON_NAME, key_size: int = 2048
) -> TlsIdentity:
    """Create a self-signed RSA certificate (the real BMC uses RSA-4096; smaller is faster)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        # Validity period of the real script is not documented; ten years is illustrative.
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return TlsIdentity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
    )


def server_ssl_context(identity: TlsIdentity) -> ssl.SSLContext:
    """Build a TLS ≥1.2 server context (bmcd uses OpenSSL's Mozilla-intermediate profile)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl can only load a chain from files: write them to a private temporary directory.
    with tempfile.TemporaryDirectory(prefix="labsim-bmc-tls-") as directory:
        cert_path = Path(directory) / "bmcd_cert.pem"
        key_path = Path(directory) / "bmcd_key.pem"
        cert_path.write_text(identity.cert_pem)
        key_path.write_text(identity.key_pem)
        key_path.chmod(0o600)
        context.load_cert_chain(cert_path, key_path)
    return context
