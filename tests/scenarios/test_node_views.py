"""Read-only views of a node: `/lab logs` (its journal over SSH, bounded, hostile input kept to
one argv element) and `/lab generations`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jobflow import approval_message, ask, press, start, wait_final

from bot.app import LabBot
from labsim.lab import LAB_CHANNEL, Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with Lab(full=True) as lab:
        yield lab


async def test_the_journal_of_a_node_and_one_unit(lab: Lab, bot: LabBot) -> None:
    whole = await ask(lab, lab.users.operator, "logs tp-node3")
    assert whole.text.startswith("Journal of tp-node3, 4 lines:")
    assert "tp-node3 k3s[1234]: Starting k3s v1.30.6+k3s1" in whole.text
    unit = await ask(lab, lab.users.operator, "logs tp-node3 k3s.service --grep KUBELET")
    assert "--cgroup-driver" not in unit.text  # upper case: journalctl matches it exactly
    assert unit.text == "No journal lines for tp-node3 k3s.service (is the unit name right?)."
    smart = await ask(
        lab, lab.users.operator, "logs tp-node3 k3s.service --grep kubelet --since 2h"
    )
    assert smart.text.startswith("Journal of tp-node3 k3s.service, 1 line:")
    assert "Running kubelet --cgroup-driver=systemd" in smart.text
    viewer = await ask(lab, lab.users.viewer, "logs tp-node3")
    assert "needs the operator role" in viewer.text


async def test_hostile_text_reaches_journalctl_as_one_argument(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    node = lab.cluster["tp-node3"]
    node.log("k3s.service", "<!channel> evil <@U0ADMIN001>")
    reply = await ask(lab, lab.users.operator, "logs tp-node3 --grep '$(reboot); echo pwned'")
    assert reply.text.startswith("No journal lines for tp-node3")
    [sent] = [c for c in node.commands_received() if c.startswith("journalctl") and "grep" in c]
    assert "'--grep=$(reboot); echo pwned'" in sent  # quoted: one argv element, no shell
    shown = await ask(lab, lab.users.operator, "logs tp-node3 --grep evil")
    assert "<!channel>" not in shown.text and "&lt;!channel&gt;" in shown.text  # never pings


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("logs tp-node3 -x.service", "is not a unit name"),
        ("logs tp-node3 --lines 5000", "give 1 to 2000"),
        ("logs tp-node3 --since yesterday", "`--since yesterday` is not valid"),
        ("logs tp-node9", "`tp-node9` is not a node I know"),
    ],
)
async def test_bad_input_is_refused_and_reads_nothing(
    lab: Lab, bot: LabBot, text: str, words: str
) -> None:
    assert lab.cluster is not None
    before = len(lab.cluster["tp-node3"].commands_received())
    reply = await ask(lab, lab.users.operator, text)
    assert words in reply.text, reply.text
    assert len(lab.cluster["tp-node3"].commands_received()) == before


async def test_a_long_journal_comes_as_a_file_with_its_tail_inline(lab: Lab, bot: LabBot) -> None:
    assert lab.cluster is not None
    for i in range(120):
        lab.cluster["tp-node3"].log("k3s.service", f"line {i:03d}")
    reply = await ask(lab, lab.users.operator, "logs tp-node3 k3s.service --lines 200")
    assert reply.text.startswith("Journal of tp-node3 k3s.service: 122 lines; the whole is")
    assert "line 119" in reply.text and "line 050" not in reply.text
    [log] = await lab.slack.wait_for(lambda: lab.slack.files() or None)
    assert b"line 000" in log.content and b"line 119" in log.content
    assert log.channel == LAB_CHANNEL and log.thread_ts is not None


async def test_generations_list_dates_versions_current_and_booted(lab: Lab, bot: LabBot) -> None:
    reply = await ask(lab, lab.users.viewer, "generations tp-node3")
    lines = reply.text.splitlines()
    assert lines[0] == "*Generations of tp-node3* (newest last):"
    assert [line.split(" · ")[0] for line in lines[1:]] == ["• *1*", "• *2*", "• *3*"]
    assert lines[3].endswith("· *current, booted*") and "NixOS 24.11." in lines[3]
    assert "Reboot pending" not in reply.text


async def test_restart_a_unit_after_approval_then_its_state_and_journal(
    lab: Lab, bot: LabBot
) -> None:
    assert lab.cluster is not None
    node = lab.cluster["tp-node3"]
    job_id = await start(lab, lab.users.operator, "restart tp-node3 k3s.service")
    approval = await approval_message(lab, job_id)
    assert "*Plan*: `systemctl restart k3s.service` on tp-node3 (it is active now)." in (
        approval.all_text()
    )
    assert not [c for c in node.commands_received() if "systemctl restart" in c]
    await press(lab, lab.users.operator, approval, "labbot:approve")  # approvals.restart: self
    text = await wait_final(lab, job_id, f"Job {job_id} succeeded")
    assert "k3s.service on tp-node3 is active after the restart." in text
    assert "k3s[1234]: Running kubelet" in text  # its last journal lines
    assert "sudo -n -- systemctl restart k3s.service" in node.commands_received()


async def test_restart_refuses_a_bad_unit_and_a_viewer(lab: Lab, bot: LabBot) -> None:
    bad = await ask(lab, lab.users.operator, "restart tp-node3 -k3s.service")
    assert "is not a unit name" in bad.text
    viewer = await ask(lab, lab.users.viewer, "restart tp-node3 k3s.service")
    assert "needs the operator role" in viewer.text
    assert await bot.jobs.jobs.recent() == []
