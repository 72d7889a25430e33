"""HTTP mode: Slack posts to /slack/events; only correctly signed requests are handled."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.store import AuditKind
from labsim.lab import LAB_CHANNEL, Lab

SIGNING_SECRET = "labsim-signing-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_signed_requests_only(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABSIM_SIGNING_SECRET", SIGNING_SECRET)
    port = free_port()
    lab.config_overrides["slack"] = {
        "mode": "http",
        "signing_secret": {"env": "LABSIM_SIGNING_SECRET"},
        "http_port": port,
    }
    body = urlencode(
        {
            "command": "/lab",
            "text": "whoami",
            "user_id": lab.users.admin,
            "channel_id": LAB_CHANNEL,
            "team_id": "T0LAB",
            "trigger_id": "trigger-http-1",
            "response_url": f"{lab.slack.api_url.removesuffix('api/')}webhook/none",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
    }
    url = f"http://127.0.0.1:{port}/slack/events"
    async with lab.bot() as bot, aiohttp.ClientSession() as http:
        forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
        async with http.post(url, data=body, headers=forged) as response:
            assert response.status == 401
        for malformed in (
            {**headers, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": signature},
            {**headers, "X-Slack-Request-Timestamp": "", "X-Slack-Signature": signature},
            {**headers, "X-Slack-Signature": "v0=not-hex"},
            {"Content-Type": "application/x-www-form-urlencoded"},
        ):
            async with http.post(url, data=body, headers=malformed) as response:
                assert response.status == 401, malformed
        assert await bot.store.audit_entries() == []  # a forged request changes nothing
        async with http.post(
            url, data=body, headers={**headers, "X-Slack-Signature": signature}
        ) as response:
            assert response.status == 200
        await bot.tasks.wait_idle()
        entries = await bot.store.audit_entries()
        assert [e.kind for e in entries][:1] == [AuditKind.command]
        assert entries[0].user_id == lab.users.admin and entries[0].text == "whoami"
