"""Problem sentences of the digest's snapshot: the outside text in them is escaped once, where
the sentence is built, and a snapshot stored before that is escaped as it is read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from status_config import minimal_config
from store_databases import Databases

from bot.config import Config
from bot.integrations.git import GitError
from bot.redact import escape_mrkdwn
from bot.store import Store
from bot.store_schema import DigestSnapshotRow
from handlers.status import drift, messages
from handlers.status.digest_report import build_report
from handlers.status.digest_store import DigestStore
from handlers.status.lab_facts import (
    STORED,
    BoardFacts,
    DriftFacts,
    LabSnapshot,
    NodeFacts,
    RenovateFacts,
)

HOSTILE = "<!channel> <@U123> <https://evil|x> &"
ESCAPED = escape_mrkdwn(HOSTILE)
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def _config(flake_dir: Path) -> Config:
    return minimal_config(colmena={"flake_dir": str(flake_dir)})


def inert(text: str) -> None:
    assert "<!channel>" not in text and "<@U123>" not in text and "<https://evil" not in text
    assert "&amp;lt;" not in text and "&amp;amp;" not in text


def test_a_nodes_stderr_is_escaped_in_its_sentence() -> None:
    sentence = messages.digest_node_said_nothing(HOSTILE)
    assert sentence == f"it answered with nothing readable ({ESCAPED})"
    shown = messages.digest_reason_unreachable(sentence, None)  # embedded as it is
    assert ESCAPED in shown
    inert(shown)


async def test_a_failed_build_is_escaped_once_where_drift_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def head(self: object) -> str:
        raise GitError("rev-parse", HOSTILE)  # git's stderr, as the checkout reports it

    monkeypatch.setattr(drift.InfraCheckout, "head", head)
    built = await drift.build_checkout(_config(tmp_path), ["tp-node1"], NOW)
    assert built.problem == f"git rev-parse failed for the infra repo: {ESCAPED}."
    line = messages.drift_unknown(built.problem)
    assert line.endswith(f"did not build: git rev-parse failed for the infra repo: {ESCAPED}.")
    inert(line)


def _raw_snapshot() -> LabSnapshot:
    """A snapshot whose problems hold outside text raw, as labbot stored them before."""
    return LabSnapshot(
        taken_at=NOW,
        nodes=(
            NodeFacts(
                name="tp-node1", board="turingpi", slot=1, problem=HOSTILE, power_problem=HOSTILE
            ),
        ),
        boards=(BoardFacts(name="turingpi", bmc="turingpi", problem=HOSTILE),),
        renovate=RenovateFacts(problem=HOSTILE),
        drift=DriftFacts(problem=HOSTILE),
    )


def test_a_snapshot_stored_before_problems_were_escaped_is_escaped_as_it_is_read() -> None:
    old = _raw_snapshot().model_dump(mode="json", exclude={"problems_escaped"})
    read = LabSnapshot.model_validate(old, context=STORED)
    [node], [board] = read.nodes, read.boards
    assert node.problem == node.power_problem == board.problem == ESCAPED
    assert read.renovate is not None and read.renovate.problem == ESCAPED
    assert read.drift is not None and read.drift.problem == ESCAPED
    # A snapshot stored since is read as it was written: escaped once, not twice.
    again = LabSnapshot.model_validate_json(read.model_dump_json(), context=STORED)
    assert again == read
    # Built in code (not read back), nothing is touched.
    assert LabSnapshot.model_validate(old).nodes[0].problem == HOSTILE


async def test_the_digest_store_reads_an_old_snapshot_escaped(
    databases: Databases, tmp_path: Path
) -> None:
    store = await Store.open(databases.new())
    try:
        old = _raw_snapshot().model_dump_json(exclude={"problems_escaped"})
        async with store.sessions() as session:
            session.add(DigestSnapshotRow(taken_at=NOW, facts=old))
            await session.commit()
        latest = await DigestStore(store.sessions).latest()
        assert latest is not None and latest.drift is not None
        report = build_report(None, latest, _config(tmp_path))
        shown = "\n".join([*report.problems, messages.drift_unknown(latest.drift.problem)])
        assert ESCAPED in shown
        inert(shown)
    finally:
        await store.close()
