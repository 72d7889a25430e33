"""judge_ci: how statuses, check runs and required checks fold into one CI verdict."""

from __future__ import annotations

from bot.integrations.github_ci import (
    CheckRunState,
    CiVerdict,
    StatusContext,
    judge_ci,
    latest_check_runs,
)

SHA = "a" * 40


def test_neutral_and_skipped_check_runs_pass() -> None:
    runs = [
        CheckRunState("lint", "completed", "neutral"),
        CheckRunState("docs", "completed", "skipped"),
        CheckRunState("build", "completed", "success"),
    ]
    state = judge_ci(SHA, "pending", [], runs, ["build", "lint"])
    assert state.verdict is CiVerdict.green and state.required_ok


def test_any_unfinished_check_keeps_the_verdict_pending() -> None:
    state = judge_ci(
        SHA,
        "success",
        [StatusContext("ci/hydra", "success")],
        [CheckRunState("build", "queued")],
        [],
    )
    assert state.verdict is CiVerdict.pending
    assert state.required_ok, "nothing is required"


def test_error_statuses_and_bad_conclusions_fail() -> None:
    for status, run in [
        (StatusContext("ci", "error"), CheckRunState("x", "completed", "success")),
        (StatusContext("ci", "success"), CheckRunState("x", "completed", "cancelled")),
        (StatusContext("ci", "success"), CheckRunState("x", "completed", "action_required")),
    ]:
        assert judge_ci(SHA, "failure", [status], [run], []).verdict is CiVerdict.failing


def test_a_name_reported_twice_counts_with_its_worse_outcome() -> None:
    state = judge_ci(
        SHA,
        "success",
        [StatusContext("build", "success")],
        [CheckRunState("build", "completed", "failure")],
        ["build"],
    )
    assert (state.verdict, state.failing_required, state.failing) == (
        CiVerdict.failing,
        ("build",),
        ("build",),
    )


def test_missing_required_checks_are_pending_not_green() -> None:
    state = judge_ci(SHA, "success", [StatusContext("ci", "success")], [], ["build", "ci"])
    assert (state.verdict, state.missing_required) == (CiVerdict.pending, ("build",))
    assert not state.required_ok
    assert judge_ci(SHA, "pending", [], [], []).verdict is CiVerdict.no_checks


def test_latest_check_runs_keeps_the_newest_of_each_name() -> None:
    runs = latest_check_runs(
        [
            (7, CheckRunState("build", "completed", "failure")),
            (9, CheckRunState("build", "in_progress")),
            (8, CheckRunState("build", "completed", "success")),
            (3, CheckRunState("audit", "completed", "success")),
        ]
    )
    assert [(r.name, r.status) for r in runs] == [("audit", "completed"), ("build", "in_progress")]
