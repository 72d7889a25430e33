"""`Outside`: text from outside labbot escapes itself when a message embeds it."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bot.messages.core import outside
from bot.outside_text import Outside, plain_text
from bot.redact import escape_mrkdwn

HOSTILE = "<!channel> <@U0HOSTILE1> <https://evil.example|click me> & more"


def test_an_f_string_escapes_it_without_being_asked() -> None:
    title = Outside(HOSTILE)
    message = f"Renovate PR #7: *{title}* ({title:>5})"
    assert "<" not in message and ">" not in message
    assert "&lt;!channel&gt;" in message and "&amp; more" in message


def test_it_is_the_text_itself_everywhere_but_a_message() -> None:
    title = Outside(HOSTILE)
    assert title == HOSTILE and title.raw == HOSTILE and type(title.raw) is str
    assert plain_text(title) == HOSTILE  # a plain_text field shows it as typed
    assert json.loads(json.dumps({"t": title})) == {"t": HOSTILE}
    assert ["git", "checkout", title][2] == HOSTILE


@given(st.text())
def test_escaped_exactly_once_whichever_way_it_is_embedded(text: str) -> None:
    value = Outside(text)
    assert f"{value}" == escape_mrkdwn(text)
    assert outside(value) == escape_mrkdwn(text)  # the explicit call does not escape twice
    assert "<" not in f"{value}" and ">" not in f"{value}"
