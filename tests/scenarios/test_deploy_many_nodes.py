"""`/lab deploy all` on eight nodes over two boards: one table line per node, updated in place;
the nodes are gated at once; the log as a file."""

from __future__ import annotations

import re

import psutil
from deploylab import TWO_NODES, boards_lab, deploy_lab, sim_node
from jobflow import approval_message, press, root_of, start, wait_final

from bot.job_state import JobState
from labsim.colmena.knobs import KNOB_FILE
from labsim.lab import LAB_CHANNEL


def table_rows(text: str) -> dict[str, list[str]]:
    """The progress table's rows (node: [state, generation]) from a message's text."""
    found = re.search(r"```\nnode +state +generation\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, text
    rows = [re.split(r"  +", line.strip()) for line in found.group(1).splitlines()]
    return {row[0]: row[1:] for row in rows}


async def test_eight_nodes_are_gated_at_once_shown_a_line_each_and_logged_as_a_file() -> None:
    async with boards_lab(8) as (lab, _bot):
        names = [f"tp-node{i}" for i in range(1, 9)]
        job_id = await start(lab, lab.users.operator, "deploy all")
        approval = await approval_message(lab, job_id)
        sim_node(lab, "tp-node6").fail_activation(["k3s.service"])
        server = sim_node(lab, "tp-node1")  # the k3s server, first in line
        server.set_k3s_ready(False)  # holds its health gate, polling, until k3s is Ready
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        thread_ts = root_of(lab, job_id).ts

        def others_judged_while_the_server_waits() -> bool:
            # Gated one node after another, every node would wait behind tp-node1.
            for message in lab.slack.thread(LAB_CHANNEL, thread_ts):
                if "```\nnode " in message.text:
                    rows = table_rows(message.text)
                    judged = [rows[n][0] in ("healthy", "rolled back (healthy)") for n in names[1:]]
                    return rows["tp-node1"][0] == "health gate" and all(judged)
            return False

        await lab.slack.wait_for(others_judged_while_the_server_waits, timeout=60)
        server.set_k3s_ready(True)
        await wait_final(lab, job_id, f"Job {job_id} rolled back", timeout=90)
        thread = lab.slack.thread(LAB_CHANNEL, thread_ts)
        [final] = [m.text for m in thread if f"Job {job_id} rolled back" in m.text]
        # The verdict counts; the one node that is not healthy gets its line.
        assert "8 nodes deployed: 7 healthy, 1 rolled back (healthy)." in final
        assert "*tp-node6*: generation 3 → 4, rolled back (healthy), back on generation 3" in final
        # The table, in the same message: every node once, with its end state and generation.
        expected = {name: ["healthy", "3 → 4"] for name in names}
        expected["tp-node6"] = ["rolled back (healthy)", "3"]
        assert table_rows(final) == expected
        assert "Recorded before building: the generation of each of the 8 nodes" in "\n".join(
            m.text for m in thread
        )
        # Nothing per node in the thread besides the table: no message names one node alone.
        assert not [m for m in thread if m.text.startswith(tuple(f"{n}:" for n in names))]
        # The whole log, with every node's colmena output, as a file in the thread.
        [log] = await lab.slack.wait_for(
            lambda: (
                [f for f in lab.slack.files() if f.thread_ts == thread_ts and "log" in f.title]
                or None
            ),
            timeout=15,
        )
        assert log.title == f"Job {job_id} output log"
        text = log.content.decode()
        for name in names:
            assert f"{name} | Activating system profile" in text
            assert f"{name}: health gate" in text
        assert sim_node(lab, "tp-node3").current_generation() == 4
        assert sim_node(lab, "tp-node6").current_generation() == 3


def colmena_processes(hive: str) -> list[str]:
    """Command lines of the colmena double's processes running on `hive`."""
    lines = (" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
    return [line for line in lines if "labsim.colmena" in line and hive in line]


async def test_a_node_unreachable_at_the_recheck_voids_the_approval_and_stops_the_build() -> None:
    async with deploy_lab(TWO_NODES) as (lab, bot):
        job_id = await start(lab, lab.users.operator, "deploy tp-node*")
        approval = await approval_message(lab, job_id)
        # The rebuild takes a while; the nodes are read meanwhile, and tp-node1 cannot be.
        (lab.flake_dir / KNOB_FILE).write_text('{"build_delay": 30}')
        await sim_node(lab, "tp-node1").ssh_down()
        await press(lab, lab.users.operator2, approval, "labbot:approve")
        text = await wait_final(lab, job_id, f"Job {job_id} cancelled", timeout=20)
        assert f"Approval for job {job_id} is void: the check before applying failed" in text
        assert "tp-node1 is unreachable over SSH" in text
        job = await bot.jobs.jobs.get(job_id)
        assert job is not None and job.state is JobState.cancelled
        assert sim_node(lab, "tp-node3").current_generation() == 3  # nothing was applied
        assert colmena_processes(str(lab.flake_dir)) == []  # the rebuild did not go on
