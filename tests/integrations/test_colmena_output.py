"""colmena's plain-mode output parser: colmena 0.4.0's own examples, both prefix styles, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import messages
from bot.integrations.colmena_output import (
    ColmenaOutput,
    ExitMeaning,
    Goal,
    JobLine,
    LogLevel,
    LogLine,
    Phase,
    ProgressEvent,
    Stage,
    StrayLine,
    exit_meaning,
    names_in_list,
    parse_line,
    parse_output,
)

WEB = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-web-1-24.11.20250101.abcdef0"
DB = "/nix/store/dddddddddddddddddddddddddddddddd-nixos-system-db-1-24.11.20250101.abcdef0"

# colmena 0.4.0 output, example A (0.4.0, one node, switch).
EXAMPLE_A = f"""\
[INFO ] Using configuration: /srv/infra/hive.nix
[INFO ] Enumerating nodes...
[INFO ] Selected 1 out of 3 hosts.
web-1 | Evaluating web-1
web-1 | Evaluated web-1
web-1 | Building web-1
web-1 | these 3 derivations will be built:
web-1 |   /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-etc.drv
web-1 | building '/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-etc.drv'...
web-1 | {WEB}
web-1 | Built "{WEB}"
web-1 | Pushing system closure
web-1 | copying 3 paths...
web-1 | Pushed system closure
web-1 | No pre-activation keys to upload
web-1 | Activating system profile
web-1 | activating the configuration...
web-1 | setting up /etc...
web-1 | Activation successful
web-1 | No post-activation keys to upload
      | All done!
""".splitlines()

# colmena 0.4.0 output, example B (0.4.0, two nodes, db-1's activation fails with exit 4).
EXAMPLE_B = f"""\
[INFO ] Using configuration: /srv/infra/hive.nix
[INFO ] Enumerating nodes...
[INFO ] Selected 2 out of 5 hosts.
(...) | Evaluating web-1 and db-1
(...) | Evaluated web-1 and db-1
web-1 | Building web-1
 db-1 | Building db-1
web-1 | Built "{WEB}"
 db-1 | Built "{DB}"
 db-1 | Activating system profile
 db-1 | activating the configuration...
 db-1 | warning: the following units failed: myapp.service
 db-1 | × myapp.service - My App
 db-1 |      Active: failed (Result: exit-code) since Thu 2025-01-02 10:00:00 UTC; 1s ago
web-1 | Activation successful
 db-1 | Activation failed: Child process exited with error code: 4
web-1 | No post-activation keys to upload
      | Failed: Child process exited with error code: 4
[ERROR] Failed to deploy to db-1 - Last 9 lines of logs:
[ERROR]  created)
[ERROR]    state) Running
[ERROR]   stderr) activating the configuration...
[ERROR]   stderr) warning: the following units failed: myapp.service
[ERROR]  failure) Child process exited with error code: 4
[ERROR] Failed to complete requested operation - Last 1 lines of logs:
[ERROR]  failure) Child process exited with error code: 4
[ERROR] -----
[ERROR] Operation failed with error: Child process exited with error code: 4
Hint: Backtrace available - Use `RUST_BACKTRACE=1` environment variable to display a backtrace
""".splitlines()


def to_main(lines: list[str]) -> list[str]:
    """colmena main's tracing prefixes instead of 0.4.0's env_logger ones."""
    out = []
    for line in lines:
        for old, new in (("[INFO ] ", " INFO "), ("[WARN ] ", " WARN "), ("[ERROR] ", "ERROR ")):
            if line.startswith(old):
                line = new + line[len(old) :]
        out.append(line)
    return out


@pytest.mark.parametrize("flavor", ["0.4.0", "main"])
def test_single_node_switch_succeeds(flavor: str) -> None:
    lines = EXAMPLE_A if flavor == "0.4.0" else to_main(EXAMPLE_A)
    report = parse_output(lines, ["web-1"], Goal.switch)
    assert report.built == {"web-1": WEB}
    assert report.reached == {"web-1"}
    assert report.failures == {}
    assert report.selected == 1
    assert report.unknown() == []


@pytest.mark.parametrize("flavor", ["0.4.0", "main"])
def test_one_of_two_nodes_fails_activation(flavor: str) -> None:
    lines = EXAMPLE_B if flavor == "0.4.0" else to_main(EXAMPLE_B)
    report = parse_output(lines, ["web-1", "db-1"], Goal.switch)
    assert report.reached == {"web-1"}
    failure = report.failures["db-1"]
    assert failure.stage is Stage.activate and not failure.stage.before_activation
    assert failure.exit_code == 4
    assert report.failed_units == {"db-1": ("myapp.service",)}
    assert report.built == {"web-1": WEB, "db-1": DB}
    assert report.errors == ("Child process exited with error code: 4",)


def test_summary_alone_marks_the_node_failed_with_the_replayed_error() -> None:
    # Only the end-of-run summary names the node (its own job line was lost or never printed).
    lines = [
        "[ERROR] Failed to push system closure to web-1 - Last 2 lines of logs:",
        "[ERROR]    state) Running",
        "[ERROR]  failure) Child process exited with error code: 255",
    ]
    report = parse_output(lines, ["web-1", "db-1"], Goal.switch)
    assert report.failures["web-1"].stage is Stage.push
    assert report.failures["web-1"].exit_code == 255
    assert report.unknown() == ["db-1"]


def test_failed_chunk_evaluation_fails_every_node_of_the_chunk() -> None:
    lines = [
        "(...) | Evaluating web-1 and db-1",
        "(...) | error: attribute 'foo' missing",
        "(...) | Evaluation failed: Child process exited with error code: 1",
        "      | Failed: Child process exited with error code: 1",
    ]
    report = parse_output(lines, ["web-1", "db-1", "cache-1"], Goal.switch)
    assert {n: f.stage for n, f in report.failures.items()} == {
        "web-1": Stage.evaluate,
        "db-1": Stage.evaluate,
    }
    assert report.unknown() == ["cache-1"]


def test_build_goal_succeeds_at_built_and_labels_are_right_aligned() -> None:
    lines = [
        "   (...) | Evaluating tp-node1 and tp-node3",
        f'tp-node3 | Built "{WEB}"',
        "tp-node1 | Build failed: Child process exited with error code: 100",
        "         | Failed: Child process exited with error code: 100",
    ]
    report = parse_output(lines, ["tp-node1", "tp-node3"], Goal.build)
    assert report.reached == {"tp-node3"}
    assert report.built == {"tp-node3": WEB}
    assert report.failures["tp-node1"].stage is Stage.build


def test_built_on_target_and_goal_texts() -> None:
    lines = [f'web-1 | Built "{WEB}" on target node', "web-1 | Will be activated next boot"]
    report = parse_output(lines, ["web-1"], Goal.boot)
    assert report.built == {"web-1": WEB} and report.reached == {"web-1"}
    # `Activation successful` is switch's text, not test's: a test run has not reached its goal.
    report = parse_output(["web-1 | Activation successful"], ["web-1"], Goal.test)
    assert report.reached == frozenset()


def test_no_hosts_selected_is_noticed() -> None:
    for line in ("[WARN ] No hosts selected.", " WARN No hosts selected (0 skipped)."):
        assert parse_output([line], ["web-1"], Goal.switch).no_hosts_selected


def test_progress_events_follow_the_phases() -> None:
    output = ColmenaOutput(["web-1"], Goal.switch)
    events = [e for line in EXAMPLE_A if (e := output.feed(line)) is not None]
    assert [e.phase for e in events] == [
        Phase.evaluating,
        Phase.building,
        Phase.built,
        Phase.pushing,
        Phase.pushed,
        Phase.activating,
        Phase.done,
    ]
    assert events[0] == ProgressEvent("web-1", Phase.evaluating)


def test_line_classification() -> None:
    assert parse_line("[WARN ] careful", []) == LogLine(LogLevel.warn, "careful")
    assert parse_line("ERROR  failure) x", []) == LogLine(LogLevel.error, " failure) x")
    assert parse_line("  db-1 | hello | world", ["db-1"]) == JobLine(
        "db-1", "db-1", "hello | world"
    )
    assert parse_line("      | All done!", []) == JobLine("", None, "All done!")
    # A label that is not a selected node is not a job line (e.g. a stray `a | b` from a child).
    assert parse_line("other | x", ["db-1"]) == StrayLine("other | x")
    assert parse_line("warning: Git tree '/srv' is dirty", []) == StrayLine(
        "warning: Git tree '/srv' is dirty"
    )


def test_node_lists() -> None:
    known = ["a", "b", "c", "d"]
    assert names_in_list("a", known) == ["a"]
    assert names_in_list("a and b", known) == ["a", "b"]
    assert names_in_list("a, b, and c", known) == ["a", "b", "c"]
    assert names_in_list("a, b, and 2 other nodes", known) == ["a", "b"]


@pytest.mark.parametrize(
    ("code", "meaning", "words"),
    [
        (0, ExitMeaning.success, "every selected node reached its goal"),
        (1, ExitMeaning.failure, "at least one node failed"),
        (2, ExitMeaning.usage, "rejected its command line"),
        (101, ExitMeaning.panic, "panicked"),
        (7, ExitMeaning.undocumented, "does not document"),
        (-9, ExitMeaning.signal, "killed by signal 9"),
    ],
)
def test_exit_codes_are_each_explained(code: int, meaning: ExitMeaning, words: str) -> None:
    assert exit_meaning(code) is meaning
    assert words in messages.colmena_exit(code)


node_names = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True), max_size=4)
fragments = st.sampled_from(
    [
        "[INFO ] ",
        "[ERROR] ",
        " INFO ",
        "ERROR ",
        " | ",
        "(...)",
        'Built "',
        "Activation failed: ",
        "Failed to deploy to ",
        " - Last 3 lines of logs:",
        " failure) ",
        "error code: ",
        "Evaluating ",
        "Evaluation failed: ",
        "warning: the following units failed: ",
        ", and ",
        "\\",
        '"',
    ]
)
lines = st.lists(
    st.one_of(
        st.text(max_size=80), st.lists(st.one_of(fragments, st.text(max_size=8))).map("".join)
    ),
    max_size=30,
)


@given(node_names, lines, st.sampled_from(list(Goal)))
def test_parser_never_raises(nodes: list[str], text: list[str], goal: Goal) -> None:
    output = ColmenaOutput(nodes, goal)
    for line in text:
        output.feed(line)
        for node in nodes:  # and the labelled form, which exercises the per-node rules
            output.feed(f"{node} | {line}")
    report = output.report()
    assert set(report.reached) <= set(nodes)
    assert set(report.failures) <= set(nodes)
    assert not set(report.reached) & set(report.failures)
    for path in report.built.values():
        assert path.startswith("/nix/store/")
