"""The one collector of the lab's state: every node, BMC and source at once, each with a timeout.

Must not judge or render (`handlers/status/digest_report.py`, `bot/blocks.py` do) or let one slow source hold up
the rest: nodes are gathered concurrently behind a bounded semaphore, each source has its own
timeout, and an unreachable node or a failed source becomes a value in the snapshot.

Usage::

    collector = LabSnapshotCollector(config, services, store)
    snapshot = await collector.collect()              # the whole lab, as the digest sees it
    snapshot = await collector.collect(["tp-node3"])  # one node and its board, nothing lab-wide

Sources: each board's BMC (power record, firmware); each node over SSH, one command
(`bot/integrations/node_facts.py`); k3s readiness from a k3s server's `kubectl get nodes`; open Renovate PRs
and their CI; jobs finished in the last 24 h and the last sops rotation from the jobs table;
the nixpkgs lock date from `flake.lock` in `colmena.flake_dir`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot.config import Board, Config, K3sRole, Node
from bot.errors import LabError
from bot.integrations.flake_lock import FlakeLockError, locked_inputs
from bot.integrations.node_facts import ROOT, NodeReport, k3s_script, node_script, parse_report
from bot.integrations.ssh import NodeUnreachable, SshError, SshPool
from bot.job_records import now_utc
from bot.messages.core import outside
from bot.services import Services
from bot.store import Store
from handlers.status import drift, messages
from handlers.status.digest_store import SOPS_ROTATING_KINDS, DigestStore
from handlers.status.lab_facts import (
    BoardFacts,
    DriftFacts,
    JobFacts,
    LabSnapshot,
    NixpkgsFacts,
    NodeFacts,
    PullFacts,
    RenovateFacts,
    SopsFacts,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
RECENT = timedelta(hours=24)
NIXPKGS_INPUT = "nixpkgs"


class _Failed:
    """A source that gave nothing, and why: one mrkdwn sentence, the outside text in it (an
    error's words, a node's stderr) already escaped, as it is stored in the snapshot."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(frozen=True)
class _LabWide:
    renovate: RenovateFacts
    jobs: tuple[JobFacts, ...]
    sops: SopsFacts
    nixpkgs: NixpkgsFacts


class LabSnapshotCollector:
    """Gathers `LabSnapshot`s for the digest and `/lab status`; see the module docstring."""

    def __init__(
        self,
        config: Config,
        services: Services,
        store: Store,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._config = config
        self._services = services
        self._records = DigestStore(store.sessions)
        self._clock = clock

    @property
    def disk_paths(self) -> tuple[str, ...]:
        """The paths whose disk use is read on every node: `/` and the Longhorn path."""
        longhorn = self._config.digest.longhorn_path
        return (ROOT,) if longhorn == ROOT else (ROOT, longhorn)

    async def collect(
        self,
        only: Sequence[str] | None = None,
        *,
        build: bool = False,
        last_build: DriftFacts | None = None,
    ) -> LabSnapshot:
        """The lab now; with `only`, just those nodes and their boards (no lab-wide sources).

        Drift (`handlers/status/drift.py`): with `build`, every node is built from the infra
        checkout (the digest); otherwise the nodes are compared with `last_build`, if given."""
        config = self._config
        loop = asyncio.get_running_loop()
        started, taken_at = loop.time(), self._clock()
        wanted = set(only) if only is not None else None
        nodes = [n for n in config.inventory.nodes if wanted is None or n.name in wanted]
        boards = [b for b in config.inventory.boards if b.name in {n.board for n in nodes}]
        servers = [n for n in config.inventory.nodes if n.k3s_role is K3sRole.server]
        extra_k3s = [] if any(n in servers for n in nodes) else servers[:1]
        needs_k3s = any(n.k3s_role is not K3sRole.none for n in nodes)
        pool = self._services.ssh_readers() if config.ssh is not None else None
        gate = asyncio.Semaphore(config.digest.concurrency)
        disks = self.disk_paths
        node_work = asyncio.gather(
            *(
                self._ask(
                    pool,
                    n,
                    gate,
                    node_script(disks, k3s_server=n.k3s_role is K3sRole.server),
                    disks,
                )
                for n in nodes
            )
        )
        k3s_work = asyncio.gather(
            *(self._ask(pool, n, gate, k3s_script(), ()) for n in (extra_k3s if needs_k3s else []))
        )
        board_work = asyncio.gather(*(self._board(b) for b in boards))
        lab_work = self._lab_wide(taken_at) if only is None else _nothing()
        buildable = [n.name for n in nodes if not n.deferred]
        build_work = self._build(buildable, taken_at) if build else _nothing()
        reports, k3s_extra, board_results, lab, built = await asyncio.gather(
            node_work, k3s_work, board_work, lab_work, build_work
        )
        power = {b.name: record for b, (_, record) in zip(boards, board_results, strict=True)}
        readiness = _readiness([*reports, *k3s_extra])
        answered = [*zip(nodes, reports, strict=True), *zip(extra_k3s, k3s_extra, strict=False)]
        cluster = next(
            (
                report.cluster.model_copy(update={"server": node.name})
                for node, report in answered
                if isinstance(report, NodeReport) and report.cluster is not None
            ),
            None,
        )
        node_facts = tuple(
            _node_facts(node, report, power[node.board], readiness)
            for node, report in zip(nodes, reports, strict=True)
        )
        against = built if built is not None else last_build
        return LabSnapshot(
            taken_at=taken_at,
            seconds=round(loop.time() - started, 3),
            partial=only is not None,
            nodes=node_facts,
            boards=tuple(facts for facts, _ in board_results),
            renovate=lab.renovate if lab else None,
            jobs=lab.jobs if lab else None,
            sops=lab.sops if lab else None,
            nixpkgs=lab.nixpkgs if lab else None,
            cluster=cluster,
            drift=await drift.compare(config, against, node_facts) if against else None,
        )

    async def _build(self, nodes: Sequence[str], now: datetime) -> DriftFacts:
        """Every node built from the infra checkout, within the digest's build time limit."""
        seconds = self._config.digest.build_timeout_seconds
        try:
            return await asyncio.wait_for(drift.build_checkout(self._config, nodes, now), seconds)
        except TimeoutError:
            return DriftFacts(problem=messages.drift_build_timed_out(seconds), built_at=now)

    async def _lab_wide(self, now: datetime) -> _LabWide:
        renovate, jobs, sops, nixpkgs = await asyncio.gather(
            self._source("GitHub", self._renovate()),
            self._source("the jobs table", self._records.jobs_finished_since(now - RECENT)),
            self._source("the jobs table", self._records.last_succeeded(SOPS_ROTATING_KINDS)),
            self._source("flake.lock", self._nixpkgs()),
        )
        return _LabWide(
            renovate=(
                RenovateFacts(problem=renovate.reason)
                if isinstance(renovate, _Failed)
                else renovate
            ),
            jobs=() if isinstance(jobs, _Failed) else tuple(jobs),
            sops=_sops_facts(sops),
            nixpkgs=NixpkgsFacts(problem=nixpkgs.reason)
            if isinstance(nixpkgs, _Failed)
            else nixpkgs,
        )

    # --- sources --------------------------------------------------------------------------

    async def _source(self, what: str, work: Awaitable[T]) -> T | _Failed:
        seconds = self._config.digest.source_timeout_seconds
        try:
            return await asyncio.wait_for(work, seconds)
        except TimeoutError:
            return _Failed(messages.digest_source_timed_out(what, seconds))
        except LabError as error:  # its words may be GitHub's or a BMC's
            return _Failed(outside(str(error)))

    async def _ask(
        self,
        pool: SshPool | None,
        node: Node,
        gate: asyncio.Semaphore,
        script: str,
        disk_paths: Sequence[str],
    ) -> NodeReport | _Failed:
        """Run one node's script (all its facts, or only k3s readiness) and read the report."""
        if pool is None:
            return _Failed(messages.digest_ssh_not_configured())
        async with gate:  # the node's timeout starts when its turn comes
            outcome = await self._ssh(pool, node.name, script)
        if isinstance(outcome, _Failed):
            return outcome
        return parse_report(outcome, disk_paths, self._clock())

    async def _ssh(self, pool: SshPool, node: str, script: str) -> str | _Failed:
        seconds = self._config.digest.ssh_timeout_seconds
        try:
            result = await asyncio.wait_for(
                pool.run(node, ["sh", "-c", script], timeout=seconds), seconds
            )
        except TimeoutError:
            return _Failed(messages.digest_node_timed_out(seconds))
        except NodeUnreachable as error:  # the reason may be the node's own disconnect text
            return _Failed(outside(error.reason))
        except SshError as error:
            return _Failed(outside(str(error)))
        if not result.stdout.strip():
            return _Failed(messages.digest_node_said_nothing(result.failure_line[:200]))
        return result.stdout

    async def _board(self, board: Board) -> tuple[BoardFacts, Mapping[int, bool | None] | _Failed]:
        async def read() -> tuple[dict[int, bool | None], str]:
            client = await self._services.bmc(board.name)
            record, info = await asyncio.gather(client.power_status(), client.info())
            return record, info.describe()

        outcome = await self._source(f"BMC {board.bmc}", read())
        if isinstance(outcome, _Failed):
            return BoardFacts(name=board.name, bmc=board.bmc, problem=outcome.reason), outcome
        record, firmware = outcome
        return BoardFacts(name=board.name, bmc=board.bmc, firmware=firmware), record

    async def _renovate(self) -> RenovateFacts:
        if self._config.github is None:
            return RenovateFacts(configured=False)
        client = await self._services.github()
        pulls = await client.list_renovate_prs()

        async def ci(sha: str) -> str:
            try:
                return (await client.ci(sha)).verdict.value
            except LabError:
                return "unknown"

        verdicts = await asyncio.gather(*(ci(p.head_sha) for p in pulls))
        return RenovateFacts(
            pulls=tuple(
                PullFacts(
                    number=p.number,
                    title=p.title,
                    url=p.html_url,
                    ci=verdict,
                    created_at=p.created_at,
                )
                for p, verdict in zip(pulls, verdicts, strict=True)
            )
        )

    async def _nixpkgs(self) -> NixpkgsFacts:
        if self._config.colmena is None:
            return NixpkgsFacts(problem=messages.digest_no_flake_dir())
        path = Path(self._config.colmena.flake_dir) / "flake.lock"
        try:
            text = await asyncio.to_thread(path.read_text)
            found = [i for i in locked_inputs(text) if i.name == NIXPKGS_INPUT]
        except OSError as error:
            return NixpkgsFacts(problem=messages.digest_flake_lock_unreadable(str(path), error))
        except FlakeLockError as error:
            return NixpkgsFacts(problem=outside(str(error)))
        if not found:
            return NixpkgsFacts(problem=messages.digest_no_nixpkgs_input(str(path)))
        return NixpkgsFacts(rev=found[0].rev, locked_at=found[0].last_modified)


def _readiness(reports: Sequence[NodeReport | _Failed]) -> Mapping[str, bool] | None:
    """k3s readiness from the first server that answered with a node list."""
    for report in reports:
        if isinstance(report, NodeReport) and report.k3s_ready is not None:
            return report.k3s_ready
    return None


def _node_facts(
    node: Node,
    report: NodeReport | _Failed,
    power: Mapping[int, bool | None] | _Failed,
    readiness: Mapping[str, bool] | None,
) -> NodeFacts:
    base = NodeFacts(
        name=node.name,
        board=node.board,
        slot=node.slot,
        k3s_role=node.k3s_role.value,
        deferred=node.deferred,
        power=None if isinstance(power, _Failed) else power.get(node.slot),
        power_problem=power.reason if isinstance(power, _Failed) else "",
        k3s_ready=(
            readiness.get(node.name)
            if readiness is not None and node.k3s_role is not K3sRole.none
            else None
        ),
    )
    if isinstance(report, _Failed):
        return base.model_copy(update={"reachable": False, "problem": report.reason})
    return base.model_copy(
        update={
            "reachable": True,
            "nixos_version": report.nixos_version,
            "configuration_revision": report.configuration_revision,
            "generation": report.generation,
            "generation_date": report.generation_date,
            "current_system": report.current_system,
            "boot_id": report.boot_id,
            "uptime_seconds": report.uptime_seconds,
            "load": report.load,
            "system_state": report.system_state,
            "failed_units": report.failed_units,
            "disks": report.disks,
            "reboot_pending": report.reboot_pending,
        }
    )


async def _nothing() -> None:
    return None


def _sops_facts(outcome: JobFacts | _Failed | None) -> SopsFacts:
    if isinstance(outcome, _Failed):
        return SopsFacts(problem=outcome.reason)
    if outcome is None:
        return SopsFacts()
    return SopsFacts(rotated_at=outcome.finished_at, job_id=outcome.id)
