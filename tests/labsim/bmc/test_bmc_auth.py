"""Authentication of the BMC emulator over HTTPS (turing-machines/bmcd)."""

from __future__ import annotations

import base64
import string
from typing import Any

from labsim.bmc import BmcEmulator

REALM = "Access to Baseboard Management Controller"
POWER = "opt=get&type=power"


async def test_login_returns_token_in_header_and_body(api: Any) -> None:
    reply = await api.login()

    assert reply.status == 200
    body = reply.json()
    assert list(body) == ["id", "name", "description", "username"]
    assert body["name"] == "User Session"
    assert body["description"] == "User Session"
    assert body["username"] == "root"
    assert reply.headers["X-Auth-Token"] == body["id"]
    assert len(body["id"]) == 64
    assert set(body["id"]) <= set(string.ascii_letters + string.digits)


async def test_bearer_token_authorizes_api_calls(api: Any) -> None:
    reply = await api.get(POWER)

    assert reply.status == 200
    assert reply.content_type == "application/json"


async def test_wrong_password_is_403_plain_text(bmc: BmcEmulator, connect: Any) -> None:
    reply = await connect(bmc).login(password="wrong")

    assert reply.status == 403
    assert reply.content_type == "text/plain"
    assert reply.text == "credentials incorrect"


async def test_unparseable_login_body_is_403(bmc: BmcEmulator, connect: Any) -> None:
    reply = await connect(bmc).request(
        "POST", "/api/bmc/authenticate", data="{not json", authenticated=False
    )

    assert reply.status == 403
    assert reply.text.startswith("error trying to parse credentials: ")


async def test_missing_header_is_401_with_basic_challenge(bmc: BmcEmulator, connect: Any) -> None:
    reply = await connect(bmc).get(POWER)

    assert reply.status == 401
    assert reply.text == "no authorization header provided"
    assert reply.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'


async def test_unknown_token_is_401_with_bearer_challenge(bmc: BmcEmulator, connect: Any) -> None:
    reply = await connect(bmc).get(POWER, headers={"Authorization": "Bearer nope"})

    assert reply.status == 401
    assert reply.text == "token nope is not registered"
    assert reply.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}" error="invalid_token" '
        'error_description="token nope is not registered"'
    )


async def test_basic_credentials_are_accepted_per_request(bmc: BmcEmulator, connect: Any) -> None:
    helper = connect(bmc)
    good = base64.b64encode(b"root:turing").decode()
    bad = base64.b64encode(b"root:nope").decode()

    accepted = await helper.get(POWER, headers={"Authorization": f"Basic {good}"})
    refused = await helper.get(POWER, headers={"Authorization": f"Basic {bad}"})

    assert accepted.status == 200
    assert refused.status == 401
    assert refused.text == "credentials incorrect"
    assert refused.headers["WWW-Authenticate"] == f'Basic realm="{REALM}"'


async def test_other_scheme_is_not_supported(api: Any) -> None:
    reply = await api.get(POWER, headers={"Authorization": f"bearer {api.token}"})

    assert reply.status == 401
    assert reply.text == "bearer authentication not supported"
    assert reply.headers["WWW-Authenticate"] == f'realm="{REALM}"'


async def test_fifth_failure_bans_the_peer_for_a_minute(
    bmc_factory: Any, connect: Any, clock: Any
) -> None:
    bmc = await bmc_factory(clock=clock)
    helper = connect(bmc)
    assert (await helper.login()).status == 200

    replies = [await helper.login(password="wrong") for _ in range(5)]

    assert [r.text for r in replies[:4]] == ["credentials incorrect"] * 4
    ban = "Exceeded allowed authentication attempts. Access blocked for 1m"
    assert (replies[4].status, replies[4].text) == (403, ban)
    # While banned even the right password and a valid token are refused.
    right_password = await helper.login()
    api_call = await helper.get(POWER)
    assert (right_password.status, right_password.text) == (403, ban)
    assert (api_call.status, api_call.text) == (401, ban)


async def test_each_failure_past_the_fifth_bans_anew_from_now_doubling(
    bmc_factory: Any, connect: Any, clock: Any
) -> None:
    # bmcd v2.3.4 src/authentication/ban_patrol.rs: deadline = now + 60 s × 2^(n − 5).
    bmc = await bmc_factory(clock=clock)
    helper = connect(bmc)
    for _ in range(5):
        await helper.login(password="wrong")

    clock.advance(61)
    sixth = await helper.login(password="wrong")
    clock.advance(60)
    still_banned = await helper.login()
    refused_while_banned = await helper.login(password="wrong")  # not counted
    clock.advance(61)
    seventh = await helper.login(password="wrong")
    clock.advance(241)
    after_ban = await helper.login()

    assert sixth.text == "Exceeded allowed authentication attempts. Access blocked for 2m"
    assert (still_banned.status, still_banned.text) == (
        403,
        "Exceeded allowed authentication attempts. Access blocked for 1m",
    )
    assert refused_while_banned.text.endswith("Access blocked for 1m")
    # The 7th counted failure, not the 8th: 4 minutes, from now.
    assert seventh.text == "Exceeded allowed authentication attempts. Access blocked for 4m"
    assert after_ban.status == 200


async def test_success_clears_the_failure_count(bmc: BmcEmulator, connect: Any) -> None:
    helper = connect(bmc)
    for _ in range(4):
        await helper.login(password="wrong")
    assert (await helper.login()).status == 200

    replies = [await helper.login(password="wrong") for _ in range(4)]

    assert [r.text for r in replies] == ["credentials incorrect"] * 4


async def test_unknown_tokens_count_towards_the_ban(bmc: BmcEmulator, connect: Any) -> None:
    helper = connect(bmc)
    replies = [
        await helper.get(POWER, headers={"Authorization": f"Bearer bad{i}"}) for i in range(5)
    ]

    assert replies[3].text == "token bad3 is not registered"
    assert replies[4].text.startswith("Exceeded allowed authentication attempts.")


async def test_token_expiry_is_sliding(bmc_factory: Any, connect: Any, clock: Any) -> None:
    bmc = await bmc_factory(clock=clock, token_expires=100)
    helper = connect(bmc)
    await helper.login()

    clock.advance(90)
    first = await helper.get(POWER)
    clock.advance(90)
    second = await helper.get(POWER)
    clock.advance(101)
    expired = await helper.get(POWER)
    again = await helper.get(POWER)

    assert (first.status, second.status) == (200, 200)
    assert (expired.status, expired.text) == (401, "token expired 1m 41s ago")
    assert again.text == f"token {helper.token} is not registered"


async def test_restart_forgets_tokens_and_keeps_the_port(api: Any, bmc: BmcEmulator) -> None:
    url, token = bmc.url, api.token

    await bmc.restart()
    after = await api.get(POWER)
    relogin = await api.login()

    assert bmc.url == url
    assert (after.status, after.text) == (401, f"token {token} is not registered")
    assert relogin.status == 200
    assert (await api.get(POWER)).status == 200


async def test_changed_password_applies_to_login(bmc: BmcEmulator, connect: Any) -> None:
    bmc.set_credentials("root", "n3w")
    helper = connect(bmc)

    assert (await helper.login()).status == 403
    assert (await helper.login(password="n3w")).status == 200
