"""What a deploy job asked for (read back from the job) and the plan it asks approval for.

Values only; must not run anything. The plan is the approval's payload: the approval is bound
to exactly these built paths and recorded generations.
"""

from __future__ import annotations

import shlex

from pydantic import BaseModel, ConfigDict

from bot.integrations.colmena_output import Goal
from bot.job_state import Job
from bot.locks import node_target

DEPLOY_GOALS = (Goal.switch, Goal.boot, Goal.test, Goal.dry_activate)


class PlannedNode(BaseModel):
    """One node of the plan: what colmena built for it and what it ran when planned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    built: str
    generation: int
    current_system: str
    profile_system: str


class DeployPlan(BaseModel):
    """The approved payload: goal, the nodes that change, and those already up to date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    goal: Goal
    nodes: list[PlannedNode]
    unchanged: list[str] = []

    def node(self, name: str) -> PlannedNode:
        """The planned node called `name`."""
        return next(n for n in self.nodes if n.name == name)


def job_nodes(job: Job) -> list[str]:
    """The node names a job holds locks for, in order."""
    prefix = node_target("")
    return [t.removeprefix(prefix) for t in job.targets if t.startswith(prefix)]


def plan_only(text: str) -> bool:
    """Whether a (validated) `deploy …` command text asked for `--plan`."""
    try:
        return "--plan" in shlex.split(text)
    except ValueError:
        return False


def requested_goal(text: str) -> Goal:
    """The `--goal` of a (validated) `deploy …` command text; `switch` when absent."""
    try:
        words = shlex.split(text)
    except ValueError:
        return Goal.switch
    for index, word in enumerate(words):
        value = None
        if word == "--goal" and index + 1 < len(words):
            value = words[index + 1]
        elif word.startswith("--goal="):
            value = word.split("=", 1)[1]
        if value is not None:
            return next((g for g in DEPLOY_GOALS if g.value == value), Goal.switch)
    return Goal.switch


def base_system(goal: Goal, current_system: str, profile_system: str) -> str:
    """The system a build is compared with: the boot default for `boot`, else the running one."""
    return profile_system if goal is Goal.boot else current_system
