"""CI state of a commit as GitHub aggregates it: combined status and latest check runs.

It must not do I/O or shape JSON: it only folds statuses and check runs into outcomes.
"""

from __future__ import annotations

from labsim.github.model import CheckRun, Repository, StatusEntry

STATUS_STATES = ("error", "failure", "pending", "success")
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
_PASSING_CONCLUSIONS = ("success", "neutral", "skipped")


def latest_statuses(repo: Repository, sha: str) -> list[StatusEntry]:
    """The newest status per context for `sha`, newest first (as GitHub lists them)."""
    latest: dict[str, StatusEntry] = {}
    for entry in repo.statuses:
        if entry.sha == sha:
            latest[entry.context] = entry
    return sorted(latest.values(), key=lambda e: e.id, reverse=True)


def combined_state(latest: list[StatusEntry]) -> str:
    """failure if any error/failure; pending if none or any pending; else success (reference §6)."""
    states = {entry.state for entry in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


def latest_check_runs(repo: Repository, sha: str) -> list[CheckRun]:
    """The newest check run per name for `sha` (the API's default `filter=latest`)."""
    latest: dict[str, CheckRun] = {}
    for run in sorted(repo.check_runs.values(), key=lambda r: r.id):
        if run.head_sha == sha:
            latest[run.name] = run
    return sorted(latest.values(), key=lambda r: r.id, reverse=True)


def check_outcome(run: CheckRun) -> str:
    """success / failure / pending for one check run."""
    if run.status != "completed":
        return "pending"
    return "success" if run.conclusion in _PASSING_CONCLUSIONS else "failure"


def context_outcomes(repo: Repository, sha: str) -> dict[str, str]:
    """Every status context and check-run name on `sha` mapped to success/failure/pending."""
    outcomes: dict[str, str] = {}
    for entry in latest_statuses(repo, sha):
        outcomes[entry.context] = {"error": "failure"}.get(entry.state, entry.state)
    for run in latest_check_runs(repo, sha):
        outcomes[run.name] = check_outcome(run)
    return outcomes
