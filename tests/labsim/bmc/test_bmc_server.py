"""TLS, routing and reachability of the BMC emulator (turing-machines/bmcd)."""

from __future__ import annotations

import errno
import hashlib
import socket
import ssl
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from labsim.bmc import BmcEmulator


def test_certificate_is_self_signed_with_the_bmc_subject(bmc: BmcEmulator) -> None:
    cert = x509.load_pem_x509_certificate(bmc.cert_pem.encode())

    subject = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert subject == "Turing-Pi self signed"
    assert cert.issuer == cert.subject
    der = cert.public_bytes(serialization.Encoding.DER)
    assert bmc.cert_sha256_fingerprint == hashlib.sha256(der).hexdigest()


async def test_pinned_fingerprint_is_required(
    bmc: BmcEmulator, session: aiohttp.ClientSession
) -> None:
    url = bmc.url + "/api/bmc?opt=get&type=power"

    with pytest.raises(aiohttp.ServerFingerprintMismatch):
        await session.get(url, ssl=aiohttp.Fingerprint(bytes(32)))
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await session.get(url, ssl=ssl.create_default_context())
    async with session.get(url, ssl=False) as unverified:
        assert unverified.status == 401


async def test_unknown_api_path_needs_auth_then_serves_html(bmc: BmcEmulator, connect: Any) -> None:
    helper = connect(bmc)
    anonymous = await helper.request("GET", "/api/bmc/typo")
    await helper.login()
    authenticated = await helper.request("GET", "/api/bmc/typo")

    assert anonymous.status == 401
    assert (authenticated.status, authenticated.content_type) == (200, "text/html")
    assert authenticated.text.startswith("<!doctype html>")


async def test_paths_outside_the_api_serve_the_ui_without_auth(
    bmc: BmcEmulator, connect: Any
) -> None:
    reply = await connect(bmc).request("GET", "/flash", authenticated=False)

    assert (reply.status, reply.content_type) == (200, "text/html")


async def test_flash_routing_matches_raw_substrings(api: Any) -> None:
    # "type=flash" is matched as a substring, so "type=flashy" is routed to the flash handler.
    reply = await api.get("opt=set&type=flashy&node=0")

    assert (reply.status, reply.content_type) == (500, "text/plain")
    assert reply.text == "`type` should equal 'firmware' or 'flash'"


async def test_unreachable_refuses_and_keeps_the_port(api: Any, bmc: BmcEmulator) -> None:
    await bmc.set_unreachable(True)

    with pytest.raises(aiohttp.ClientConnectorError):
        await api.get("opt=get&type=power")
    probe = socket.socket()
    with pytest.raises(OSError) as taken:
        probe.bind(("127.0.0.1", bmc.port))
    probe.close()
    await bmc.set_unreachable(False)
    back = await api.get("opt=get&type=power")

    assert taken.value.errno == errno.EADDRINUSE
    assert back.status == 200  # state (the token) survives a network outage


async def test_stop_releases_the_port(bmc_factory: Any) -> None:
    bmc = await bmc_factory()
    port = bmc.port

    await bmc.stop()

    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()
