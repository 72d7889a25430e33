"""Drift: nodes whose running system is not what the infra repo builds for them.

The nightly digest builds every node from the infra checkout (`colmena build`; Nix reuses what
it built before, so an unchanged repo costs an evaluation) and compares each built toplevel with
the node's `/run/current-system`. A node that differs is listed with the infra commit it runs
(its `configurationRevision`, `-dirty` when it was deployed from uncommitted changes) and the
commits between that one and the checkout's. `/lab status` builds nothing: it compares the
nodes as they are now with the last digest's build, so a deploy since clears its node at once.

Must not change anything (a build only adds to the Nix store) nor talk to Slack.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.config import Config
from bot.errors import IntegrationError
from bot.integrations.colmena import Colmena
from bot.integrations.git import GitError, run_git
from bot.integrations.infra_checkout import InfraCheckout
from bot.integrations.process import ProcessResult, run_process
from bot.messages.core import outside
from bot.redact import Redactor
from handlers.status.lab_facts import DriftFacts, DriftNode, NodeFacts

SHOWN_COMMITS = 5
MAX_COUNTED = 500  # commits counted behind at most: `git log --max-count`, drift's own bound
_REVISION = re.compile(r"[0-9a-f]{7,64}")
_GIT_TIMEOUT = 30.0


class _Quiet:
    """Runs colmena for the digest: no job, no thread, only the result."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: str | None = None,
        on_line: Any = None,
    ) -> ProcessResult:
        def line(stream: Any, text: str) -> None:
            if on_line is not None:
                on_line(stream, text)

        return await run_process(argv, env=env, cwd=cwd, timeout=timeout, on_line=line)


async def build_checkout(config: Config, nodes: Sequence[str], now: datetime) -> DriftFacts:
    """Build `nodes` from the infra checkout as it is; the built paths, or why not."""
    if config.colmena is None or not nodes:
        return DriftFacts(problem="" if nodes else "no node to build", built_at=now)
    try:
        revision = await InfraCheckout(config.colmena.flake_dir).head()
        built = await Colmena(config.colmena, _Quiet()).build(nodes)
    except (IntegrationError, OSError) as error:  # colmena's or git's words: escaped once, here
        return DriftFacts(problem=outside(str(error)), built_at=now)
    return DriftFacts(revision=revision, built=built, built_at=now)


async def compare(config: Config, build: DriftFacts, nodes: Sequence[NodeFacts]) -> DriftFacts:
    """`build` with the nodes that run something else, and the commits they are behind."""
    if build.problem or build.revision is None:
        return build.model_copy(update={"nodes": ()})
    revision = build.revision
    drifting = [
        n
        for n in nodes
        if n.reachable
        and n.current_system is not None
        and n.name in build.built
        and build.built[n.name] != n.current_system
    ]
    # Nodes deployed together run the same revision: ask git once per revision.
    bases = sorted({base for n in drifting if (base := _base(n.configuration_revision))})
    found = await asyncio.gather(*(_commits_between(config, base, revision) for base in bases))
    behind = dict(zip(bases, found, strict=True))

    def drift_node(node: NodeFacts) -> DriftNode:
        count, commits = behind.get(_base(node.configuration_revision), (None, ()))
        running = node.configuration_revision
        return DriftNode(name=node.name, running_revision=running, behind=count, commits=commits)

    return build.model_copy(update={"nodes": tuple(drift_node(n) for n in drifting)})


def _base(running: str | None) -> str:
    """The commit a configurationRevision names ("" when none, or not a commit id: the node
    said it, so it never reaches git as an option)."""
    base = (running or "").removesuffix("-dirty")
    return base if _REVISION.fullmatch(base) else ""


async def _commits_between(
    config: Config, base: str, head: str
) -> tuple[int | None, tuple[str, ...]]:
    """How many commits `head` has that `base` lacks, and the newest few; (None, ()) when
    `base` is not a commit of the checkout (a system from elsewhere)."""
    assert config.colmena is not None
    try:
        log = await run_git(
            ["log", f"--max-count={MAX_COUNTED}", "--format=%h %s", f"{base}..{head}"],
            operation="list commits",
            cwd=config.colmena.flake_dir,
            timeout=_GIT_TIMEOUT,
            redactor=Redactor(),
        )
    except GitError:
        return None, ()
    lines = [line.strip() for line in log.stdout if line.strip()]
    return len(lines), tuple(lines[:SHOWN_COMMITS])
