"""A commit's CI as labbot sees it: statuses and check runs folded into one verdict.

Must not call GitHub: the client fills `StatusContext`/`CheckRunState` and `judge_ci` decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class CiVerdict(StrEnum):
    """The overall CI state of a commit."""

    green = "green"
    pending = "pending"
    failing = "failing"
    no_checks = "no_checks"


class CheckOutcome(StrEnum):
    """What one status context or check run means for the verdict."""

    success = "success"
    pending = "pending"
    failing = "failing"


# GitHub counts neutral and skipped check runs as passing for required checks.
_PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})


@dataclass(frozen=True)
class StatusContext:
    """One commit status (the latest for its context), as in the combined status."""

    context: str
    state: str
    description: str | None = None
    target_url: str | None = None

    @property
    def outcome(self) -> CheckOutcome:
        """success/pending map through; failure and error are failing."""
        if self.state == "success":
            return CheckOutcome.success
        if self.state == "pending":
            return CheckOutcome.pending
        return CheckOutcome.failing


@dataclass(frozen=True)
class CheckRunState:
    """One check run (the latest of its name): status queued/in_progress/completed, conclusion."""

    name: str
    status: str
    conclusion: str | None = None
    details_url: str | None = None

    @property
    def outcome(self) -> CheckOutcome:
        """Pending until completed; then success/neutral/skipped pass and the rest fail."""
        if self.status != "completed":
            return CheckOutcome.pending
        if self.conclusion in _PASSING_CONCLUSIONS:
            return CheckOutcome.success
        return CheckOutcome.failing


@dataclass(frozen=True)
class CiState:
    """A commit's CI: the combined status, each context and check run, and the verdict.

    Example: ``if state.verdict is CiVerdict.green and not state.missing_required: merge``.
    """

    sha: str
    combined_state: str
    statuses: tuple[StatusContext, ...]
    check_runs: tuple[CheckRunState, ...]
    verdict: CiVerdict
    missing_required: tuple[str, ...]
    failing_required: tuple[str, ...]
    pending_required: tuple[str, ...]
    failing: tuple[str, ...]

    @property
    def required_ok(self) -> bool:
        """Whether every required check reported success."""
        return not (self.missing_required or self.failing_required or self.pending_required)


def latest_check_runs(runs: Iterable[tuple[int, CheckRunState]]) -> list[CheckRunState]:
    """Keep the newest run (highest id) of each name, in name order."""
    newest: dict[str, tuple[int, CheckRunState]] = {}
    for run_id, run in runs:
        kept = newest.get(run.name)
        if kept is None or run_id > kept[0]:
            newest[run.name] = (run_id, run)
    return [newest[name][1] for name in sorted(newest)]


def judge_ci(
    sha: str,
    combined_state: str,
    statuses: Sequence[StatusContext],
    check_runs: Sequence[CheckRunState],
    required: Sequence[str],
) -> CiState:
    """Fold statuses and check runs into a `CiState`, given the names of the required checks.

    A name reported both as a status and as a check run counts with its worse outcome.
    """
    outcomes: dict[str, CheckOutcome] = {}
    rank = {CheckOutcome.success: 0, CheckOutcome.pending: 1, CheckOutcome.failing: 2}
    for name, outcome in [(s.context, s.outcome) for s in statuses] + [
        (r.name, r.outcome) for r in check_runs
    ]:
        if name not in outcomes or rank[outcome] > rank[outcomes[name]]:
            outcomes[name] = outcome
    missing = tuple(name for name in required if name not in outcomes)
    failing_required = tuple(n for n in required if outcomes.get(n) is CheckOutcome.failing)
    pending_required = tuple(n for n in required if outcomes.get(n) is CheckOutcome.pending)
    failing = tuple(sorted(n for n, o in outcomes.items() if o is CheckOutcome.failing))
    if failing:
        verdict = CiVerdict.failing
    elif missing or CheckOutcome.pending in outcomes.values():
        verdict = CiVerdict.pending
    elif not outcomes:
        verdict = CiVerdict.no_checks
    else:
        verdict = CiVerdict.green
    return CiState(
        sha=sha,
        combined_state=combined_state,
        statuses=tuple(statuses),
        check_runs=tuple(check_runs),
        verdict=verdict,
        missing_required=missing,
        failing_required=failing_required,
        pending_required=pending_required,
        failing=failing,
    )
