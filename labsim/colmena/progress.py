"""colmena's plain-mode (non-TTY) output: log lines, `label | text` job lines, failure summaries.

Follows colmena 0.4.0's output (from colmena's `src/job.rs`, `src/progress/plain.rs` and
`src/troubleshooter.rs`): all of it on stderr, label right-aligned to max(5, longest node name),
`(...)` for multi-node jobs, empty label for the meta job. Logging flavour: 0.4.0 (`[INFO ] `,
RUST_LOG defaults to info) or main (` INFO `, defaults to error only).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import TextIO

_LEVELS = {"error": 1, "warn": 2, "info": 3, "debug": 4, "trace": 5}
LOG_CONTEXT_LINES = 20


class JobKind(Enum):
    """colmena job types (`JobType` in src/job.rs)."""

    META = "meta"
    EVALUATE = "evaluate"
    BUILD = "build"
    PUSH = "push"
    UPLOAD_KEYS = "upload-keys"
    ACTIVATE = "activate"
    EXECUTE = "execute"
    CREATE_GC_ROOTS = "create-gc-roots"


_FAILED_VERB = {
    JobKind.EVALUATE: "Evaluation failed",
    JobKind.BUILD: "Build failed",
    JobKind.PUSH: "Push failed",
    JobKind.UPLOAD_KEYS: "Key upload failed",
    JobKind.ACTIVATE: "Activation failed",
}
_SUMMARY = {
    JobKind.EVALUATE: "Failed to evaluate {}",
    JobKind.BUILD: "Failed to build {}",
    JobKind.PUSH: "Failed to push system closure to {}",
    JobKind.UPLOAD_KEYS: "Failed to upload keys to {}",
    JobKind.ACTIVATE: "Failed to deploy to {}",
}


def describe_node_list(nodes: list[str]) -> str:
    """`a`, `a and b`, `a, b, and c`, or `a, b, and N other nodes` (~40 chars), as colmena does."""
    rough_limit, other_len = 40, len(", and XX other nodes")
    total = len(nodes)
    if total == 0:
        return "some node(s)"
    text = ""
    for index, node in enumerate(nodes):
        nxt = nodes[index + 1] if index + 1 < total else None
        if text:
            text += (", and " if total > 2 else " and ") if nxt is None else ", "
        text += node
        if nxt is None:
            break
        remaining_nodes = total - (index + 1)
        if len(nxt) + other_len >= rough_limit - len(text):
            if remaining_nodes == 1:
                text += f", and {nxt}"
            else:
                text += f", and {remaining_nodes} other nodes"
            break
    return text


@dataclass
class Job:
    """One colmena job and the events it recorded (replayed when it fails)."""

    kind: JobKind
    nodes: list[str]
    state: str = "waiting"
    events: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        """Node name, `(...)` for multi-node jobs, empty for the meta job."""
        if self.kind is JobKind.META:
            return ""
        return self.nodes[0] if len(self.nodes) == 1 else "(...)"


class Output:
    """Prints colmena's stderr: log lines with level prefixes and job lines with labels."""

    def __init__(
        self, stream: TextIO | None = None, *, flavor: str = "0.4.0", rust_log: str | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.flavor = flavor
        default = "info" if flavor == "0.4.0" else "error"
        level = (rust_log or default).split(",")[0].split("=")[-1].strip().lower()
        self.level = _LEVELS.get(level, _LEVELS[default])
        self.label_width = 5
        self.jobs: list[Job] = []
        self.meta = Job(JobKind.META, [], state="running")

    def raw(self, text: str) -> None:
        """An unprefixed line (child processes that inherit stderr, hints)."""
        self.stream.write(text + "\n")
        self.stream.flush()

    def log(self, level: str, text: str) -> None:
        """A log line (`[INFO ] …` on 0.4.0, ` INFO …` on main) if RUST_LOG lets it through."""
        if _LEVELS[level] > self.level:
            return
        name = level.upper()
        prefix = f"[{name:<5}] " if self.flavor == "0.4.0" else f"{name:>5} "
        self.raw(prefix + text)

    def hint_label_width(self, names: list[str]) -> None:
        """Grow the label column to the longest node name."""
        self.label_width = max([self.label_width, *(len(n) for n in names)])

    def line(self, job: Job, text: str) -> None:
        """A `label | text` line."""
        self.raw(f"{job.label:>{self.label_width}} | {text}")

    # -- job events --------------------------------------------------------------------------

    def create(self, kind: JobKind, nodes: list[str]) -> Job:
        """Register a job (waiting)."""
        job = Job(kind, list(nodes))
        job.events.append(" created)")
        self.jobs.append(job)
        return job

    def running(self, job: Job, text: str) -> None:
        """Move to Running and print the job's running text (colmena prints it even when empty)."""
        job.state = "running"
        job.events.append("   state) Running")
        self.line(job, text)

    def child(self, job: Job, text: str, *, stdout: bool = False) -> None:
        """A child process line, printed under the job's label."""
        job.events.append(f"  {'stdout' if stdout else 'stderr'}) {text}")
        self.line(job, text)

    def message(self, job: Job, text: str) -> None:
        """A message from colmena itself about the job."""
        job.events.append(f" message) {text}")
        self.line(job, text)

    def success(self, job: Job, text: str) -> None:
        """Succeed with a custom message (printed)."""
        job.state = "succeeded"
        job.events.append(f" success) {text}")
        self.line(job, text)

    def noop(self, job: Job, text: str) -> None:
        """Succeed without doing anything (plain mode still prints the text)."""
        job.state = "succeeded"
        job.events.append(f"    noop) {text}")
        self.line(job, text)

    def failure(self, job: Job, error: str) -> None:
        """Fail the job with a ColmenaError text."""
        job.state = "failed"
        job.error = error
        job.events.append(f" failure) {error}")
        verb = _FAILED_VERB.get(job.kind, "Failed")
        self.line(job, f"{verb}: {error}")

    def finish(self, error: str | None) -> None:
        """End the meta job, replay failed jobs' logs, print the troubleshooter's last lines."""
        if error is None:
            self.meta.state = "succeeded"
            self.line(self.meta, "All done!")
            return
        self.meta.state = "failed"
        self.meta.events.append(f" failure) {error}")
        self.line(self.meta, f"Failed: {error}")
        for job in [*self.jobs, self.meta]:
            if job.state != "failed":
                continue
            if job.kind is JobKind.META:
                summary = "Failed to complete requested operation"
            else:
                template = _SUMMARY.get(job.kind, "Failed to complete job on {}")
                summary = template.format(describe_node_list(job.nodes))
            tail = job.events[-LOG_CONTEXT_LINES:]
            self.log("error", f"{summary} - Last {len(tail)} lines of logs:")
            for event in tail:
                self.log("error", event)
        self.fatal(error)

    def fatal(self, error: str, *, child_failure: bool = True) -> None:
        """`run_wrapped`'s closing lines for an operation that failed."""
        self.log("error", "-----")
        self.log("error", f"Operation failed with error: {error}")
        if child_failure:
            self.raw(
                "Hint: Backtrace available - Use `RUST_BACKTRACE=1` environment variable "
                "to display a backtrace"
            )
