"""UART read/write of the BMC emulator (turing-machines/bmcd)."""

from __future__ import annotations

from typing import Any

from labsim.bmc import BmcEmulator


async def read_uart(api: Any, node: int, extra: str = "") -> str:
    reply = await api.get(f"opt=get&type=uart&node={node}{extra}")
    assert reply.status == 200
    assert list(reply.json()["response"][0]) == ["uart"]
    text: str = reply.json()["response"][0]["uart"]
    return text


async def test_read_returns_whole_buffer_without_draining(api: Any, bmc: BmcEmulator) -> None:
    bmc.uart_write(1, b"U-Boot 2024.01\r\n")
    bmc.uart_write(1, b"login: ")

    first = await read_uart(api, 1)
    second = await read_uart(api, 1)

    assert first == "U-Boot 2024.01\r\nlogin: "
    assert second == first
    assert await read_uart(api, 0) == ""  # node=1 is slot 2, slot 1 stays empty


async def test_ring_buffer_keeps_the_last_16_kib(api: Any, bmc: BmcEmulator) -> None:
    data = bytes(ord("a") + i % 26 for i in range(20_000))
    bmc.uart_write(2, data)

    text = await read_uart(api, 2)

    assert text == data[-16384:].decode()


async def test_invalid_bytes_become_replacement_chars(api: Any, bmc: BmcEmulator) -> None:
    bmc.uart_write(0, b"ok \xff\xfe done")

    assert await read_uart(api, 0) == "ok \ufffd\ufffd done"
    assert await read_uart(api, 0, "&encoding=utf16") == b"ok \xff\xfe done".decode(
        "utf-16-le", errors="replace"
    )


async def test_write_appends_crlf_and_reports_the_line(api: Any, bmc: BmcEmulator) -> None:
    lines: list[tuple[int, str]] = []
    bmc.on_uart_line(lambda node, line: lines.append((node, line)))

    reply = await api.get("opt=set&type=uart&node=3&cmd=uname%20-a%3B%20echo%20%2Bok")

    assert reply.json() == {"response": [{"result": "ok"}]}
    assert bmc.uart_input(3) == b"uname -a; echo +ok\r\n"
    assert bmc.uart_sent(3) == ["uname -a; echo +ok"]
    assert lines == [(3, "uname -a; echo +ok")]


async def test_uart_errors(api: Any) -> None:
    no_cmd = await api.get("opt=set&type=uart&node=0")
    bad_encoding = await api.get("opt=get&type=uart&node=0&encoding=latin1")

    assert (no_cmd.status, no_cmd.json()["response"][0]["result"]) == (
        400,
        "Missing `cmd` parameter",
    )
    assert bad_encoding.status == 400
    assert bad_encoding.json()["response"][0]["result"].startswith("Invalid `encoding` parameter")


async def test_buffer_is_lost_when_bmcd_restarts(api: Any, bmc: BmcEmulator) -> None:
    bmc.uart_write(0, b"before restart")

    await bmc.restart()
    await api.login()

    assert await read_uart(api, 0) == ""
