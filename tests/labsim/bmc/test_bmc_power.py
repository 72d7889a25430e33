"""Power, node numbering, errors and info calls of the BMC emulator (reference §3.1–3.4, §5)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from labsim.bmc import BmcEmulator


def power_log(bmc: BmcEmulator) -> list[tuple[int, bool, str]]:
    events: list[tuple[int, bool, str]] = []
    bmc.on_power_change(lambda node, on, reason: events.append((node, on, reason)))
    return events


async def power_status(api: Any) -> dict[str, str]:
    reply = await api.get("opt=get&type=power")
    result: dict[str, str] = reply.json()["response"][0]["result"][0]
    return result


async def test_node3_parameter_powers_slot_index_2(api: Any, bmc: BmcEmulator) -> None:
    events = power_log(bmc)

    reply = await api.get("opt=set&type=power&node3=1")

    assert reply.status == 200
    assert reply.text == '{"response":[{"result":"ok"}]}'
    assert await power_status(api) == {"node1": "0", "node2": "0", "node3": "1", "node4": "0"}
    assert [bmc.power_state(n) for n in range(4)] == [False, False, True, False]
    assert events == [(2, True, "api")]


async def test_power_status_envelope_is_exact(api: Any) -> None:
    reply = await api.get("opt=get&type=power")

    assert reply.json() == {
        "response": [{"result": [{"node1": "0", "node2": "0", "node3": "0", "node4": "0"}]}]
    }


async def test_several_nodes_in_one_call(api: Any, bmc: BmcEmulator) -> None:
    await api.get("opt=set&type=power&node1=1&node2=1&node4=1")
    events = power_log(bmc)

    await api.get("opt=set&type=power&node2=0&node4=1")

    assert await power_status(api) == {"node1": "1", "node2": "0", "node3": "0", "node4": "1"}
    assert events == [(1, False, "api")]


async def test_reset_uses_0_based_value_and_skips_bookkeeping(api: Any, bmc: BmcEmulator) -> None:
    events = power_log(bmc)

    reply = await api.get("opt=set&type=reset&node=1")

    assert reply.json() == {"response": [{"result": "ok"}]}
    assert events == [(1, False, "reset"), (1, True, "reset")]
    assert bmc.power_state(1) is True
    assert (await power_status(api))["node2"] == "0"  # reset does not update the bookkeeping


async def test_node_value_is_truncated_to_u8(api: Any, bmc: BmcEmulator) -> None:
    events = power_log(bmc)

    reply = await api.get("opt=set&type=reset&node=256")

    assert reply.status == 200
    assert events[-1] == (0, True, "reset")


async def test_node_parameter_errors(api: Any) -> None:
    cases = {
        "opt=set&type=reset": "Missing `node` parameter",
        "opt=set&type=reset&node=one": "Parameter `node` is not a number",
        "opt=set&type=reset&node=4": "Parameter `node` is out of range 0..3 of node IDs",
        "opt=set&type=reset&node=-1": "Parameter `node` is out of range 0..3 of node IDs",
    }
    for query, message in cases.items():
        reply = await api.get(query)
        assert (reply.status, reply.json()) == (400, {"response": [{"result": message}]}), query


async def test_power_value_errors(api: Any) -> None:
    invalid = await api.get("opt=set&type=power&node1=on")
    no_nodes = await api.get("opt=set&type=power")

    assert invalid.status == 400
    assert invalid.json()["response"][0]["result"] == "Invalid value `on` for parameter `node1`"
    assert no_nodes.status == 500
    assert no_nodes.json()["response"][0]["result"].startswith("Failed to set power state: ")


async def test_opt_and_type_errors(api: Any) -> None:
    replies = {
        "type=power": "Missing `opt` parameter",
        "opt=put&type=power": "Missing `opt` parameter",
        "opt=get": "Missing `type` parameter",
        "opt=get&type=bogus": "Invalid `type` parameter bogus",
        "opt=get&type=reset": "Invalid `type` parameter reset",
    }
    for query, message in replies.items():
        reply = await api.get(query)
        assert (reply.status, reply.json()["response"][0]["result"]) == (400, message), query


async def test_wrong_bookkeeping_knob(api: Any, bmc: BmcEmulator) -> None:
    bmc.set_recorded_power(1, True)

    assert (await power_status(api))["node2"] == "1"
    assert bmc.power_state(1) is False
    bmc.fail_power_status_read()
    assert set((await power_status(api)).values()) == {"Unknown"}


async def test_restart_reapplies_recorded_power(api: Any, bmc: BmcEmulator) -> None:
    bmc.set_recorded_power(3, True)
    events = power_log(bmc)

    await bmc.restart()

    assert events == [(3, True, "restart")]
    assert bmc.power_state(3) is True


async def test_other_info_fields_of_bmcd_2_3_4(api: Any) -> None:
    reply = await api.get("opt=get&type=other")

    info = reply.json()["response"][0]["result"]
    assert isinstance(info, list)
    assert info[0]["api"] == "1.1"
    assert info[0]["version"] == "2.3.4"
    assert (info[0]["ip"], info[0]["mac"]) == ("Unknown", "Unknown")
    assert info[0]["build_version"] == "2.1.0"


async def test_about_is_an_object_and_info_lists_addresses(api: Any) -> None:
    about = (await api.get("opt=get&type=about")).json()["response"][0]["result"]
    info = (await api.get("opt=get&type=info")).json()["response"][0]["result"]

    assert isinstance(about, dict)
    assert (about["api"], about["version"], about["hostname"]) == ("1.1", "2.3.4", "turingpi")
    assert info["ip"][0] == {"device": "br0", "ip": "127.0.0.1", "mac": info["ip"][0]["mac"]}
    assert [s["name"] for s in info["storage"]] == ["BMC", "SD card"]


async def test_node_info_set_and_get(api: Any, bmc: BmcEmulator) -> None:
    await api.get("opt=set&type=power&node2=1")

    posted = await api.request(
        "POST",
        "/api/bmc?opt=set&type=node_info",
        data=json.dumps({"Node2": {"name": "tp-node2", "module_name": "RK1"}}),
        headers={"Content-Type": "application/json"},
    )
    infos = (await api.get("opt=get&type=node_info")).json()["response"][0]["result"]

    assert (posted.status, posted.text) == (200, "")
    assert infos[1]["name"] == "tp-node2"
    assert infos[1]["module_name"] == "RK1"
    assert isinstance(infos[1]["power_on_time"], int)
    assert infos[0] == {"name": None, "module_name": None, "power_on_time": None, "uart_baud": None}


async def test_deprecated_nodeinfo(api: Any) -> None:
    get = await api.get("opt=get&type=nodeinfo")
    put = await api.get("opt=set&type=nodeinfo")

    assert get.json()["response"][0]["result"] == [{"node1": 0, "node2": 0, "node3": 0, "node4": 0}]
    assert put.status == 501


async def test_bmc_reboot_cuts_power_and_restarts_bmcd(api: Any, bmc: BmcEmulator) -> None:
    await api.get("opt=set&type=power&node1=1")
    old_token = api.token
    events = power_log(bmc)
    restarted = asyncio.Event()

    def on_change(node: int, on: bool, reason: str) -> None:
        if reason == "restart":
            restarted.set()

    bmc.on_power_change(on_change)

    reply = await api.get("opt=set&type=reboot")
    await asyncio.wait_for(restarted.wait(), 10)
    await bmc.set_unreachable(False)  # takes the lifecycle lock: returns once bmcd is back
    after = await api.get("opt=get&type=power")

    assert reply.json() == {"response": [{"result": "ok"}]}
    assert events == [(0, False, "bmc_reboot"), (0, True, "restart")]
    assert (after.status, after.text) == (401, f"token {old_token} is not registered")


async def test_usb_mode_bits(api: Any) -> None:
    await api.get("opt=set&type=usb&node=1&mode=5")
    usb = (await api.get("opt=get&type=usb")).json()["response"][0]["result"][0]
    invalid = await api.get("opt=set&type=usb&node=1&mode=3")

    assert (usb["mode"], usb["node"], usb["route"]) == ("Device", "Node 2", "Bmc")
    assert invalid.status == 500


async def test_an_injected_read_failure_answers_bmcds_error_envelope_then_stops(
    api: Any, bmc: BmcEmulator
) -> None:
    bmc.fail_reads("power", "Failed to read power: <!channel>", count=1)

    failed = await api.get("opt=get&type=power")
    assert failed.status == 500
    assert failed.text == '{"response":[{"result":"Failed to read power: <!channel>"}]}'
    assert (await api.get("opt=set&type=power&node1=1")).status == 200  # only reads fail
    assert await power_status(api) == {"node1": "1", "node2": "0", "node3": "0", "node4": "0"}
