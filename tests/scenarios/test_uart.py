"""`/lab uart` end to end: only new console text, the exact approved line, and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jobflow import approval_message, ask, press, start, wait_final

from bot.app import LabBot
from labsim.lab import Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True) as lab:
        yield lab


async def test_reads_show_only_what_is_new(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None and lab.directory is not None
    lab.bmc.uart_write(2, b"U-Boot 2024.01\r\n\x1b[32mStarting kernel ...\x1b[0m\r\n")
    first = await ask(lab, lab.users.admin, "uart tp-node3")
    assert "*Console of `tp-node3`* (slot 3), new since the last read" in first.text
    assert "U-Boot 2024.01\nStarting kernel ...\n" in first.text  # colours and CR gone
    lab.bmc.uart_write(2, b"<@U0ADMIN002> tp-node3 login: ")
    second = await ask(lab, lab.users.admin, "uart tp-node3")
    assert "&lt;@U0ADMIN002&gt; tp-node3 login:" in second.text  # no mention from the console
    assert "U-Boot" not in second.text
    third = await ask(lab, lab.users.admin, "uart tp-node3")
    assert third.text == "Nothing new on `tp-node3`'s console (slot 3) since the last read."
    # The cursor is kept on disk (survives restarts): the last copy of the buffer.
    saved = lab.directory / "state" / "uart" / "tp-node3.console"
    assert saved.read_bytes() == lab.bmc.uart_buffer(2)


async def test_lines_limits_what_is_shown(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    await ask(lab, lab.users.admin, "uart tp-node3")  # the boot log, read once
    lab.bmc.uart_write(2, b"".join(f"line {i}\r\n".encode() for i in range(10)))
    shown = await ask(lab, lab.users.admin, "uart tp-node3 --lines 3")
    assert "line 7\nline 8\nline 9" in shown.text and "line 6" not in shown.text
    assert "7 earlier new line(s) not shown" in shown.text


async def test_send_types_exactly_the_approved_line(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    line = "echo $HOME; ls -l /etc | head -n 3 > /dev/null && true"  # not a shell: all fine
    job_id = await start(lab, lab.users.admin, f"uart send tp-node3 {line}")
    approval = await approval_message(lab, job_id)
    plan = approval.all_text()
    assert "*Type on `tp-node3`'s console* (slot 3 on BMC `turingpi`) exactly this line" in plan
    assert "echo $HOME; ls -l /etc | head -n 3 &gt; /dev/null &amp;&amp; true" in plan
    assert "someone with the admin role" in plan
    assert lab.bmc.uart_sent(2) == []  # nothing typed before the approval
    await press(lab, lab.users.admin2, approval, "labbot:approve")
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert f"Typed the approved line ({len(line)} characters) on `tp-node3`'s console" in text
    assert lab.bmc.uart_sent(2) == [line]
    assert lab.bmc.uart_input(2) == line.encode() + b"\r\n"
    # The node's console echoes it at its login prompt, which takes it as a user name.
    console = await ask(lab, lab.users.admin, "uart tp-node3")
    assert "tp-node3 login: echo $HOME; ls -l /etc | head -n 3 &gt; /dev/null &amp;&amp; true" in (
        console.text
    )
    assert console.text.rstrip("`\n ").endswith("Password:")


async def test_send_refuses_control_characters_and_oversize_lines(lab: Lab, bot: LabBot) -> None:
    assert lab.bmc is not None
    escape = await ask(lab, lab.users.admin, "uart send tp-node3 printf \x1b[2J")
    assert escape.text == "That command contains control characters. Nothing was run."
    tab = await ask(lab, lab.users.admin, "uart send tp-node3 ls\t/etc")
    assert tab.text.startswith("That line contains control characters (tab, escape")
    c1 = await ask(lab, lab.users.admin, "uart send tp-node3 ls \x9b2J")
    assert c1.text.startswith("That line contains control characters")
    long = await ask(lab, lab.users.admin, "uart send tp-node3 " + "x" * 600)
    assert long.text == (
        "That line is 600 characters long; `uart send` types at most 512. Nothing was sent."
    )
    operator = await ask(lab, lab.users.operator, "uart send tp-node3 ls")
    assert operator.text == "`uart send` needs the admin role; you are operator. Nothing was run."
    reader = await ask(lab, lab.users.operator, "uart tp-node3")
    assert reader.text == "`uart` needs the admin role; you are operator. Nothing was run."
    assert lab.bmc.uart_sent(2) == []
    jobs = await bot.jobs.jobs.recent(limit=5)
    assert jobs == []


async def test_the_console_shows_the_boot_at_power_on_and_after_a_power_cycle(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.bmc is not None and lab.cluster is not None
    booted = await ask(lab, lab.users.admin, "uart tp-node3")
    version = lab.cluster["tp-node3"].root.system_info(lab.cluster["tp-node3"].current_system())
    assert version is not None
    assert "Linux version 6." in booted.text
    assert "Machine model: Raspberry Pi Compute Module 4" in booted.text
    welcome = (
        f"&lt;&lt;&lt; Welcome to NixOS {version.nixos_version} (aarch64) - ttyS0 &gt;&gt;&gt;"
    )
    assert welcome in booted.text  # escaped: console text is outside text
    assert booted.text.rstrip("`\n ").endswith("tp-node3 login:")

    lab.bmc.set_power(2, False)
    lab.bmc.set_power(2, True)
    await lab.cluster["tp-node3"].settle()
    again = await ask(lab, lab.users.admin, "uart tp-node3")
    assert "Booting Linux" in again.text and "tp-node3 login:" in again.text


async def test_a_failed_activation_prints_systemds_failure_on_the_console(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.cluster is not None
    await ask(lab, lab.users.admin, "uart tp-node3")  # the boot log, read once
    node = lab.cluster["tp-node3"]
    node.fail_activation(["k3s.service"])
    async with await lab.cluster.connect(node) as ssh:
        result = await ssh.run(
            f"sudo {node.current_system()}/bin/switch-to-configuration test", check=False
        )
    assert result.exit_status == 4
    shown = await ask(lab, lab.users.admin, "uart tp-node3")
    assert "[FAILED] Failed to start k3s service." in shown.text
    assert "See 'systemctl status k3s.service' for details." in shown.text
