"""Durable intake: requests are written once, handled once, and forgotten after a while."""

from __future__ import annotations

from datetime import timedelta

from store_databases import Databases

from bot.intake import (
    KEEP_HANDLED,
    ClickRequest,
    CommandRequest,
    Intake,
    IntakeRecords,
    handling,
    request_key,
)
from bot.job_records import now_utc
from bot.store import AuditKind, Store

COMMAND = CommandRequest(user_id="U1", channel_id="C1", text="deploy tp-node3")
CLICK = ClickRequest("U2", "C1", "labbot:approve", "opaque", "1.000", user_name="ann")


async def test_a_request_is_written_once_and_read_back_until_handled(databases: Databases) -> None:
    store = await Store.open(databases.new())
    try:
        records = IntakeRecords(store)
        command = Intake("T1", COMMAND, "https://hooks/1", now_utc())
        click = Intake("T2", CLICK, "https://hooks/2", now_utc())
        assert await records.receive(command) and await records.receive(click)
        assert not await records.receive(command)  # a re-delivery: same trigger_id
        # Each arrival is audited in the same commit, once: the re-delivery added no row.
        audited = [(e.kind, e.command, e.text) for e in await store.audit_entries()]
        assert audited == [
            (AuditKind.command, "", "deploy tp-node3"),
            (AuditKind.click, "labbot:approve", "opaque"),
        ]
        unfinished = await records.unfinished()
        assert [(i.key, i.request, i.response_url) for i in unfinished] == [
            ("T1", COMMAND, "https://hooks/1"),
            ("T2", CLICK, "https://hooks/2"),
        ]
        await records.handled("T1")
        assert [i.key for i in await records.unfinished()] == ["T2"]
        assert not await records.receive(command)  # handled, still known
        assert await records.forget_handled(now_utc() + KEEP_HANDLED + timedelta(minutes=1)) == 1
        assert await records.receive(command)  # long forgotten: Slack never retries that late
    finally:
        await store.close()


async def test_the_request_key_is_known_only_while_handling_it() -> None:
    assert request_key() == ""
    with handling("T9"):
        assert request_key() == "T9"
    assert request_key() == ""
