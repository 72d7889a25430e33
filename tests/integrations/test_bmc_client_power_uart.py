"""BMC client power and UART calls against the emulator: slot numbering, status, console diffs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_bmc_kit import open_client, pinned

from bot.integrations.bmc import BmcClient
from bot.integrations.bmc_errors import BmcCommandFailed
from bot.integrations.bmc_uart import UartReader
from labsim.bmc import BmcEmulator


@pytest.fixture
async def bmc() -> AsyncIterator[BmcEmulator]:
    async with BmcEmulator() as emulator:
        yield emulator


@pytest.fixture
async def client(bmc: BmcEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BmcClient]:
    async with open_client(pinned(bmc), monkeypatch) as (connected, _):
        yield connected


async def test_slot_three_is_emulator_node_two(bmc: BmcEmulator, client: BmcClient) -> None:
    await client.power(3, True)
    assert [bmc.power_state(node) for node in range(4)] == [False, False, True, False]
    bmc.set_power(0, True)
    assert await client.power_status() == {1: True, 2: False, 3: True, 4: False}
    await client.power(3, False)
    assert not bmc.power_state(2)


async def test_reset_power_cycles_the_right_slot(bmc: BmcEmulator, client: BmcClient) -> None:
    changes: list[tuple[int, bool, str]] = []
    bmc.on_power_change(lambda node, on, reason: changes.append((node, on, reason)))
    await client.reset(4)
    assert changes == [(3, False, "reset"), (3, True, "reset")]
    assert (await client.power_status())[4] is False  # reset does not update the bookkeeping


async def test_bad_slot_is_refused_before_asking(client: BmcClient) -> None:
    with pytest.raises(ValueError, match="slot must be 1–4"):
        await client.power(0, True)


async def test_unknown_power_state_is_none(bmc: BmcEmulator, client: BmcClient) -> None:
    bmc.fail_power_status_read()
    assert await client.power_status() == {1: None, 2: None, 3: None, 4: None}


async def test_power_status_is_bookkeeping(bmc: BmcEmulator, client: BmcClient) -> None:
    bmc.set_recorded_power(1, True)  # as after a failed flash (BMC-Firmware #226)
    assert (await client.power_status())[2] is True
    assert not bmc.power_state(1)


async def test_uart_reader_shows_only_new_text(bmc: BmcEmulator, client: BmcClient) -> None:
    reader = UartReader(client)
    bmc.uart_write(2, b"[    0.000] booting\n")
    assert await reader.read_new(3) == "[    0.000] booting\n"
    bmc.uart_write(2, b"login: ")
    assert await reader.read_new(3) == "login: "
    assert await reader.read_new(3) == ""
    assert await reader.read_new(1) == ""  # another slot, another cursor


async def test_uart_reader_across_ring_buffer_wrap(bmc: BmcEmulator, client: BmcClient) -> None:
    reader = UartReader(client)
    bmc.uart_write(0, b"".join(b"early %05d\n" % n for n in range(900)))  # 10.8 KB
    await reader.read_new(1)
    later = b"".join(b"later %05d\n" % n for n in range(700))  # total passes 16 KiB
    bmc.uart_write(0, later)
    assert len(bmc.uart_buffer(0)) == 16 * 1024
    assert await reader.read_new(1) == later.decode()


async def test_uart_send_types_one_line(bmc: BmcEmulator, client: BmcClient) -> None:
    await client.uart_send(3, "systemctl status k3s --no-pager")
    assert bmc.uart_sent(2) == ["systemctl status k3s --no-pager"]
    assert bmc.uart_input(2) == b"systemctl status k3s --no-pager\r\n"  # the BMC adds CR LF
    with pytest.raises(ValueError, match="one line"):
        await client.uart_send(3, "a\nb")


async def test_uart_read_is_whole_buffer(bmc: BmcEmulator, client: BmcClient) -> None:
    bmc.uart_write(3, b"abc")
    assert await client.uart_read(4) == "abc"
    assert await client.uart_read(4) == "abc"  # bmcd 2.3 does not drain


async def test_api_error_envelope_is_a_command_failure(client: BmcClient) -> None:
    with pytest.raises(BmcCommandFailed) as caught:
        await client._get([("opt", "get"), ("type", "bogus")], "read bogus")
    assert caught.value.status == 400
    assert "Invalid `type` parameter bogus" in str(caught.value)
