"""The Renovate cards table: one card per PR, tokens per head sha, skips bound to a head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from store_databases import Databases

from bot.store import Store
from handlers.renovate.cards import CardShown, CardState, RenovateCards, card_token

HEAD = "a" * 40
NEXT = "b" * 40


@pytest.fixture
async def cards(databases: Databases) -> AsyncIterator[RenovateCards]:
    store = await Store.open(databases.new())
    try:
        yield RenovateCards(store.sessions)
    finally:
        await store.close()


def shown(head: str, card_id: str, ts: str = "1.000100") -> CardShown:
    return CardShown(ts, card_token(card_id, head), head, "green", "clean", CardState.open, "d")


async def test_a_pr_is_claimed_once_even_by_concurrent_checks(cards: RenovateCards) -> None:
    results = await asyncio.gather(*(cards.claim(12, "C0LAB00001") for _ in range(5)))
    claimed = [r for r in results if r is not None]
    assert len(claimed) == 1
    assert claimed[0].message_ts == "" and claimed[0].state is CardState.open
    assert await cards.by_pr(12) == claimed[0]
    assert await cards.claim(13, "C0LAB00001") is not None


async def test_the_token_names_the_card_only_while_it_shows_that_head(
    cards: RenovateCards,
) -> None:
    card = await cards.claim(12, "C0LAB00001")
    assert card is not None
    await cards.record_shown(card.id, shown(HEAD, card.id))
    first = await cards.by_token(card_token(card.id, HEAD))
    assert first is not None and (first.head_sha, first.message_ts) == (HEAD, "1.000100")
    await cards.record_shown(card.id, shown(NEXT, card.id))
    assert await cards.by_token(card_token(card.id, HEAD)) is None
    assert await cards.by_token(card_token(card.id, NEXT)) is not None
    assert card_token(card.id, HEAD) != card_token("other", HEAD)


async def test_skip_holds_only_for_the_head_it_was_pressed_on(cards: RenovateCards) -> None:
    card = await cards.claim(12, "C0LAB00001")
    assert card is not None
    await cards.record_shown(card.id, shown(HEAD, card.id))
    assert not await cards.skip(card.id, NEXT, "U0OPER0001")  # the card shows another head
    assert await cards.skip(card.id, HEAD, "U0OPER0001")
    skipped = await cards.get(card.id)
    assert skipped is not None and skipped.skipped and skipped.skipped_by == "U0OPER0001"
    await cards.record_shown(card.id, shown(NEXT, card.id))
    moved = await cards.get(card.id)
    assert moved is not None and not moved.skipped


async def test_merge_job_and_states(cards: RenovateCards) -> None:
    card = await cards.claim(12, "C0LAB00001")
    other = await cards.claim(14, "C0LAB00001")
    assert card is not None and other is not None
    await cards.set_job(card.id, 3)
    assert (await cards.get(card.id)).job_id == 3  # type: ignore[union-attr]
    await cards.record_shown(
        other.id,
        CardShown("2.0", "t", HEAD, "green", "unknown", CardState.merged, "d"),
    )
    assert [c.pr_number for c in await cards.in_state(CardState.open)] == [12]
    assert [c.pr_number for c in await cards.in_state(CardState.merged)] == [14]
