"""The deploy's progress table: aligned, one line per node, cut with a count past its budget."""

from __future__ import annotations

from handlers.deploy import messages


def test_rows_are_aligned_under_a_header_in_a_code_block() -> None:
    table = messages.deploy_table(
        [("tp-node1", "activating", "3"), ("tp-node10", "healthy", "3 → 4")]
    )
    assert table == (
        "```\n"
        "node       state       generation\n"
        "tp-node1   activating  3\n"
        "tp-node10  healthy     3 → 4\n"
        "```"
    )


def test_a_table_too_long_for_its_message_says_how_many_nodes_it_leaves_to_the_log() -> None:
    rows = [(f"tp-node{i}", "rolled back but unhealthy", "41 → 42") for i in range(1, 101)]
    table = messages.deploy_table(rows)
    assert len(table) <= 1300 and table.startswith("```\nnode ") and table.endswith("\n```")
    shown = [line for line in table.splitlines() if line.startswith("tp-node")]  # width of all 100
    assert shown == [
        f"tp-node{i}".ljust(10) + "  rolled back but unhealthy  41 → 42"
        for i in range(1, len(shown) + 1)
    ]
    assert f"… and {100 - len(shown)} more nodes (every node is in the log)" in table


def test_the_title_counts_the_nodes_in_each_state() -> None:
    title = messages.deploy_progress_counts(7, 24, {"activating": 10, "done": 14})
    assert title == "Job 7 output: 24 nodes: 10 activating, 14 done"
