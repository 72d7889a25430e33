"""The way out to Slack: redact, then fit, on a safe boundary; audit rows redacted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import messages as engine_messages
from bot.blocks import MAX_VIEW_BLOCKS, clip, fit_blocks, section
from bot.outbound import OutboundChat
from bot.redact import Redactor, escape_mrkdwn
from bot.store import AuditKind, Store
from labsim.slack.limits import find_block_problem, validate_blocks


@given(st.text(alphabet="ab`<>&;| \n*", max_size=400), st.integers(min_value=8, max_value=120))
def test_clip_never_cuts_inside_an_entity_a_link_or_a_code_span(text: str, limit: int) -> None:
    escaped = escape_mrkdwn(text)  # what labbot posts: entities, no raw < >
    cut = clip(escaped, limit)

    assert len(cut) <= limit
    if cut != escaped:
        body = cut.removesuffix("\n```").removesuffix("`").removesuffix("…")
        assert escaped.startswith(body)
        tail = body[body.rfind("&") :] if "&" in body else ""
        assert not tail or ";" in tail  # no half entity such as `&am`
        assert cut.count("```") % 2 == 0
        assert cut.replace("```", "").count("`") % 2 == 0


def test_clip_drops_a_cut_mention_or_link_whole() -> None:
    assert clip("see <https://example.com|the plan> now", 20) == "see …"


def test_a_secret_is_redacted_in_its_escaped_form_too() -> None:
    secret = "p&ss<w>rd-123"
    redactor = Redactor([secret])
    assert redactor.redact(f"typed {escape_mrkdwn(secret)}") == "typed [redacted:secret]"


class RecordingChat:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[dict[str, Any]] | None]] = []

    async def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> str:  # fmt: skip
        self.sent.append((text, blocks))
        return "1.0"

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        background: bool = False,
    ) -> None:
        self.sent.append((text, blocks))

    async def refresh(self, channel: str, ts: str, render: Callable[[], str]) -> None:
        self.sent.append((render(), None))

    async def upload(self, channel: str, thread_ts: str, path: Path, title: str) -> None:
        self.sent.append((title, None))

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        self.sent.append((text, None))

    async def permalink(self, channel: str, ts: str) -> str | None:
        return None

    async def publish_home(self, user: str, blocks: list[dict[str, Any]]) -> None:
        self.sent.append(("", blocks))


async def test_outbound_redacts_then_fits_every_message() -> None:
    inner = RecordingChat()
    chat = OutboundChat(inner, Redactor(["turing"]))
    full = section("turing " * 428)  # 2,996 characters: within the limit before redaction

    await chat.post("C1", "password turing", [full])
    await chat.update("C1", "1.0", "turing", [full])
    await chat.ephemeral("C1", "U1", "turing")

    for text, blocks in inner.sent:
        assert "turing" not in text
        if blocks is not None:
            assert validate_blocks(blocks) is None
            assert "turing" not in str(blocks)
            assert len(blocks[0]["text"]["text"]) <= 3000


def test_fit_blocks_keeps_every_block_within_its_limits() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 400}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 5000}]},
        *[section("s") for _ in range(60)],
    ]
    fitted = fit_blocks(blocks)
    assert len(fitted) == 50
    assert validate_blocks(fitted) is None


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite")
    yield opened
    await opened.close()


async def test_every_audit_row_is_redacted_before_it_is_stored(store: Store) -> None:
    token = "ghp_" + "A" * 36
    store.redact_audit = Redactor().redact  # the app sets the bot-wide redactor
    await store.audit(
        AuditKind.reply, user_id="U1", channel_id="C1", command="uart-send",
        text=f"uart send tp-node3 {token}", detail=f"job 3 succeeded: typed {token}",
    )  # fmt: skip
    [row] = await store.audit_entries()
    assert token not in row.text and token not in row.detail
    assert "[redacted:github-token]" in row.text


def test_outside_text_in_message_functions_is_escaped() -> None:
    from bot.integrations.bmc_failures import explain_flash_error
    from handlers.bmc import messages as bmc_messages
    from handlers.deploy import messages as deploy_messages
    from handlers.secrets import messages as secrets_messages
    from handlers.status import messages as status_messages

    hostile = "<!here> <@U0HOSTILE1>"
    # An error's sentence keeps bmcd's words raw (bot.errors); the message escapes them once.
    explained = explain_flash_error("tp1", 3, f"Failed to http file request error: {hostile}")
    assert hostile in explained
    texts = [
        bmc_messages.flash_failed("tp-node3", explained),
        bmc_messages.flash_plan_failed("tp-node3", hostile),
        bmc_messages.flash_power_on_failed("tp-node3", hostile),
        bmc_messages.power_status_board("b", "bmc", [], hostile),
        engine_messages.integration_failed(hostile),
        bmc_messages.ssh_view("unreachable", hostile),
        status_messages.digest_detail_system(f"24.11 {hostile}", 4, None, None),
        status_messages.digest_change_generation("tp-node3", 3, 4, hostile),
        status_messages.digest_detail_units("degraded", [f"a{hostile}.service"]),
        deploy_messages.activation_failed("activation", hostile, 4, [hostile]),
        deploy_messages.gate_units_failed("tp-node3", [hostile]),
        deploy_messages.deploy_apply_failed(hostile),
        deploy_messages.deploy_recheck_failed(hostile),
        deploy_messages.rollback_impossible(hostile),
        deploy_messages.rollback_recheck_failed(hostile),
        deploy_messages.rollback_apply_failed(hostile),
        deploy_messages.closure_diff_summary([(hostile, [hostile], [])], 0),
        deploy_messages.closure_diff_unavailable(hostile),
        # Longhorn's words stay raw in the error and are escaped once where it is shown.
        deploy_messages.reboot_unreachable(
            "tp-node3", deploy_messages.reboot_longhorn_unreadable("tp-node3", hostile)
        ),
        deploy_messages.reboot_recheck_failed(hostile),
        secrets_messages.sops_pr_failed("b", hostile),
        secrets_messages.sops_open_prs_unknown(hostile),
        secrets_messages.sops_host_key_unreadable("tp-node3", "/etc/ssh/k.pub", hostile),
        status_messages.status_not_posted(hostile),
    ]
    for text in texts:
        assert "<!here>" not in text and "<@U0HOSTILE1>" not in text, text
        assert "&lt;!here&gt;" in text and "&amp;lt;" not in text, text


async def test_a_home_tab_is_redacted_and_fitted_to_a_views_100_blocks() -> None:
    inner = RecordingChat()
    chat = OutboundChat(inner, Redactor(["turing"]))
    await chat.publish_home("U1", [section(f"turing {i}") for i in range(130)])
    [(_, blocks)] = inner.sent
    assert blocks is not None and len(blocks) == MAX_VIEW_BLOCKS  # a message would keep 50
    assert "turing" not in str(blocks) and "[redacted:secret] 99" in str(blocks)
    problem = find_block_problem(
        blocks, max_blocks=MAX_VIEW_BLOCKS, root="/view/blocks", text_limit=None
    )
    assert problem is None
