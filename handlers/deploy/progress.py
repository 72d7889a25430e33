"""A deploy's progress per node: one table line per node (state, generation), replaced in place.

Must not talk to Slack: it sets the title and the board of the job's live output
(`JobRun.stream`), which the stream refreshes within Slack's limits and keeps in the final
message. With one node the title alone says it (`Job 7 output: tp-node3 activating`), as it
always did; with more, the title counts the states and the board holds the table, so 24 nodes
read as 24 lines that change, not 24 interleaved streams (the log keeps every line).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.integrations.colmena import ProgressCallback
from bot.job_run import JobRun
from handlers.deploy import messages


@dataclass
class _Row:
    state: str = "waiting"
    generation: str = ""


class NodeProgress:
    """The nodes of one deploy job and where each is; see the module docstring."""

    def __init__(self, run: JobRun, names: Sequence[str]) -> None:
        self._run = run
        self._rows = {name: _Row() for name in names}

    @property
    def table(self) -> bool:
        """Whether the table is shown (more than one node)."""
        return len(self._rows) > 1

    def state(self, name: str, state: str) -> None:
        """Node `name` is now in `state` (e.g. `health gate`, `healthy`)."""
        self._rows[name].state = state
        self._show()

    def generation(self, name: str, before: int, after: int | None = None) -> None:
        """Node `name` was on generation `before` (and is on `after` now, once known)."""
        shown = str(before) if after in (None, before) else f"{before} → {after}"
        self._rows[name].generation = shown
        if self.table:  # one node's title shows no generation
            self._show()

    def colmena(self, built_is_done: bool = False) -> ProgressCallback:
        """colmena's phases, as its output shows them, into the table (or the title). In a
        `colmena build`, `done` means built."""

        def moved(node: str, phase: str) -> None:
            if node in self._rows:
                self.state(node, "built" if built_is_done and phase == "done" else phase)

        return moved

    def _show(self) -> None:
        if not self.table:
            if not self._run.has_output:  # as before: one node's title follows colmena's output
                return
            stream, job_id = self._run.stream, self._run.job.id
            states = {name: row.state for name, row in self._rows.items()}
            stream.set_title(messages.deploy_progress(job_id, states))
            return
        stream, job_id = self._run.stream, self._run.job.id
        counts = Counter(row.state for row in self._rows.values())
        stream.set_title(messages.deploy_progress_counts(job_id, len(self._rows), counts))
        rows = [(name, row.state, row.generation) for name, row in self._rows.items()]
        stream.set_board(messages.deploy_table(rows))
