"""Renovate card rendering: what a card shows, which buttons it has, and Slack's limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.integrations.flake_lock import ChangeKind, InputChange
from bot.integrations.github_ci import CheckRunState, StatusContext, judge_ci
from handlers.renovate import card_blocks
from handlers.renovate import messages as renovate_messages
from handlers.renovate.cards import CardState, CardView
from handlers.renovate.pull_request import ChangeSource, RenovateCard, UpdateRow
from labsim.slack import validate_blocks

HEAD = "1" * 40
OPENED = datetime(2025, 1, 14, 19, 41, tzinfo=UTC)


def facts(**changes: object) -> RenovateCard:
    ci = judge_ci(
        HEAD,
        "success",
        [StatusContext("ci/hydra", "success", "Build succeeded")],
        [CheckRunState("nix flake check", "completed", "success")],
        ["nix flake check"],
    )
    card = RenovateCard(
        number=7,
        title="chore(deps): update nixpkgs digest to 3f0a8ac",
        url="https://github.com/homelab/thelab-infra/pull/7",
        author="renovate[bot]",
        branch="renovate/nixpkgs-digest",
        head_sha=HEAD,
        base_ref="main",
        state="open",
        merged=False,
        mergeable=True,
        mergeable_state="clean",
        ci=ci,
        changes=(
            InputChange(
                "nixpkgs",
                ChangeKind.updated,
                "NixOS/nixpkgs",
                "2ba7ed360044969a6a6f42128715692a8df49042",
                "3f0a8ac0cfd1e1e3a0b8a4b1b7f0f3e1a2b3c4d5",
                datetime(2025, 1, 14, tzinfo=UTC),
                datetime(2025, 1, 21, tzinfo=UTC),
            ),
        ),
        table=(),
        change_source=ChangeSource.flake_lock,
        lock_problem=None,
        created_at=OPENED,
        gathered_at=OPENED + timedelta(hours=5),
    )
    return replace(card, **changes)  # type: ignore[arg-type]


def view(card: RenovateCard | None = None, **fields: object) -> CardView:
    base = CardView(
        facts=card or facts(),
        token="tok",
        state=CardState.open,
        deploy_targets="all",
        required_checks=("nix flake check",),
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def text_of(out: list[dict[str, object]]) -> str:
    parts: list[str] = []
    for block in out:
        for key in ("text",):
            value = block.get(key)
            if isinstance(value, dict):
                parts.append(str(value["text"]))
        for element in block.get("elements", []) or []:  # type: ignore[attr-defined]
            if isinstance(element, dict) and isinstance(element.get("text"), (str, dict)):
                text = element["text"]
                parts.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(parts)


def buttons(out: list[dict[str, object]]) -> list[tuple[str, str, str]]:
    found = []
    for block in out:
        if block["type"] == "actions":
            for element in block["elements"]:  # type: ignore[attr-defined]
                found.append((element["text"]["text"], element["action_id"], element["value"]))
    return found


def test_open_card_shows_changes_ci_mergeability_age_and_three_buttons() -> None:
    out = card_blocks.renovate_card(view())
    assert validate_blocks(out) is None
    text = text_of(out)
    assert "Renovate PR #7: chore(deps): update nixpkgs digest to 3f0a8ac" in text
    assert "<https://github.com/homelab/thelab-infra/pull/7|PR #7>" in text
    assert "(open 5 h)" in text and "<!date^1736883660^" in text
    assert "• *nixpkgs* (NixOS/nixpkgs) `2ba7ed3` (2025-01-14) → `3f0a8ac` (2025-01-21)" in text
    assert "*CI* :white_check_mark: green (combined status: success)" in text
    assert ":white_check_mark: `nix flake check` (required): success" in text
    assert ":white_check_mark: `ci/hydra`: success: Build succeeded" in text
    assert "*Mergeable*: :large_green_circle: yes (clean)" in text
    assert buttons(out) == [
        ("Approve & merge", "labbot:renovate-merge", "tok"),
        ("Merge & deploy all", "labbot:renovate-deploy", "tok"),
        ("Skip", "labbot:renovate-skip", "tok"),
    ]


def test_skipped_busy_and_undeployable_cards_drop_buttons() -> None:
    skipped = card_blocks.renovate_card(view(skipped_by="U0OPER0001"))
    assert [b[0] for b in buttons(skipped)] == ["Approve & merge", "Merge & deploy all"]
    assert "Skipped by <@U0OPER0001> at `1111111`" in text_of(skipped)
    busy = card_blocks.renovate_card(view(job_id=12))
    assert buttons(busy) == [] and "Being merged by job 12" in text_of(busy)
    no_deploy = card_blocks.renovate_card(view(deploy_targets=None))
    assert [b[0] for b in buttons(no_deploy)] == ["Approve & merge", "Skip"]


def test_merged_and_closed_cards_have_no_buttons() -> None:
    merged = card_blocks.renovate_card(
        view(facts(state="closed", merged=True), state=CardState.merged)
    )
    assert buttons(merged) == [] and "Merged" in text_of(merged)
    assert "Mergeable" not in text_of(merged)
    closed = card_blocks.renovate_card(view(facts(state="closed"), state=CardState.closed))
    assert buttons(closed) == [] and "Closed without merging" in text_of(closed)
    assert (
        renovate_messages.renovate_card_text(7, "t", "green", "merged")
        == "Renovate PR #7 merged: t"
    )


def test_pr_body_table_and_nothing_known() -> None:
    table = (UpdateRow("nixpkgs", None, None, "digest", "abc1234 -> def5678", None, None, None),)
    out = card_blocks.renovate_card(
        view(facts(changes=(), table=table, change_source=ChangeSource.pr_body))
    )
    assert "(the PR description)" in text_of(out)
    assert "• *nixpkgs* digest: abc1234 -&gt; def5678"  # outside text, escaped in text_of(out)
    none = card_blocks.renovate_card(
        view(
            facts(
                changes=(),
                change_source=ChangeSource.none,
                lock_problem="the pull request does not change flake.lock",
            )
        )
    )
    assert "Could not tell what changes: the pull request does not change flake.lock" in text_of(
        none
    )


def test_pending_and_missing_required_checks_are_named() -> None:
    ci = judge_ci(
        HEAD,
        "pending",
        [],
        [CheckRunState("lint", "completed", "failure"), CheckRunState("build", "queued")],
        ["nix flake check"],
    )
    text = text_of(card_blocks.renovate_card(view(facts(ci=ci, mergeable=None))))
    assert "*CI* :x: failing (combined status: pending); failing: `lint`" in text
    assert "required but not reported: `nix flake check`" in text
    assert ":hourglass_flowing_sand: `build`: queued" in text and ":x: `lint`: failure" in text
    assert "not known yet" in text


def test_a_huge_card_stays_within_slack_limits() -> None:
    many = tuple(
        InputChange(
            f"input-{i}-" + "x" * 80,
            ChangeKind.updated,
            "owner/" + "r" * 100,
            f"{i:040x}",
            f"{i + 1:040x}",
            OPENED,
            OPENED,
        )
        for i in range(80)
    )
    runs = [CheckRunState(f"check-{i}-" + "c" * 90, "completed", "failure") for i in range(60)]
    ci = judge_ci(HEAD, "failure", [], runs, [])
    out = card_blocks.renovate_card(view(facts(title="T" * 400, changes=many, ci=ci)))
    assert validate_blocks(out) is None
    text = text_of(out)
    assert text.count(" more (see the pull request)") == 2  # changes and checks both cut
    assert "*input-0-" in text and "`check-0-" in text


NO_DEADLINE = settings(deadline=None, max_examples=40)


@NO_DEADLINE
@given(
    title=st.text(max_size=500),
    names=st.lists(st.text(min_size=1, max_size=300), max_size=40),
    checks=st.lists(st.text(min_size=1, max_size=300), max_size=40),
    description=st.text(max_size=2000),
    state=st.sampled_from(list(CardState)),
)
def test_any_card_is_accepted_by_slack(
    title: str, names: list[str], checks: list[str], description: str, state: CardState
) -> None:
    changes = tuple(
        InputChange(n, ChangeKind.added, n, None, "a" * 40, None, OPENED) for n in names
    )
    ci = judge_ci(
        HEAD,
        "pending",
        [StatusContext(c, "error", description) for c in checks],
        [CheckRunState(c, "in_progress") for c in checks],
        checks[:3],
    )
    out = card_blocks.renovate_card(view(facts(title=title, changes=changes, ci=ci), state=state))
    assert validate_blocks(out) is None


def test_review_body_names_the_approver_without_markup() -> None:
    sha = "a" * 40
    assert renovate_messages.renovate_review_body("U0OPER0001", "ops.alice", sha) == (
        f"Approved in Slack by `ops.alice` (Slack user U0OPER0001) through labbot, for head {sha}."
    )
    # A username is the user's own text: no @-mention or markdown reaches GitHub.
    body = renovate_messages.renovate_review_body("U0OPER0001", "@octocat **now** <x>", sha)
    assert body.startswith("Approved in Slack by `octocatnowx` (Slack user U0OPER0001)")
    assert renovate_messages.renovate_review_body("U0OPER0001", "", sha).startswith(
        "Approved in Slack by Slack user U0OPER0001 through labbot"
    )
