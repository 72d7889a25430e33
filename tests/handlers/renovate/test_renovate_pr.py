"""Renovate PR bodies: the update table in its usual shapes, and text that is not a table at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.integrations.github import CiState, CiVerdict
from handlers.renovate.pull_request import ChangeSource, RenovateCard, UpdateRow, parse_update_table
from labsim.github import RenovateUpdate, fake_rev, render_pr_body

# A loaded CI machine must not turn slowness into a failure.
NO_DEADLINE = settings(deadline=None)


def _body(update: RenovateUpdate) -> str:
    return render_pr_body(update, repository="homelab/thelab-infra", base_branch="main")


def test_digest_update_table_from_renovate() -> None:
    old, new = fake_rev("old"), fake_rev("new")
    update = RenovateUpdate("nixpkgs", old, new, "https://github.com/NixOS/nixpkgs")
    assert parse_update_table(_body(update)) == [
        UpdateRow(
            package="nixpkgs",
            package_url="https://github.com/NixOS/nixpkgs",
            dep_type=None,
            update="digest",
            change=f"{old[:7]} -> {new[:7]}",
            old=old[:7],
            new=new[:7],
            pending=None,
        )
    ]


def test_lock_file_maintenance_table() -> None:
    update = RenovateUpdate("", "", "", "", lock_file_maintenance=True)
    [row] = parse_update_table(_body(update))
    assert (row.package, row.update, row.change) == (
        None,
        "lockFileMaintenance",
        "All locks refreshed",
    )
    assert (row.old, row.new) == (None, None)


def test_full_column_set_with_links_badges_and_arrows() -> None:
    body = (
        "This PR contains the following updates:\n\n"
        "| Package | Type | Update | Change | Age | Pending |\n"
        "|:---|:---:|---:|---|---|---|\n"
        "| [renovatebot/github-action](https://github.com/renovatebot/github-action) "
        "([changelog](https://example.org/log)) | action | minor | "
        "[`v40.1.0` -> `v40.2.0`](https://renovatebot.com/diffs/npm/x/40.1.0/40.2.0) | "
        "![age](https://developer.mend.io/api/mc/badges/age/x) | `v40.2.1` |\n"
        "| **sops-nix** | flake | digest | `abc1234` → `def5678` | | |\n"
        "\n---\n| not | part | of | it |\n"
    )
    first, second = parse_update_table(body)
    assert (first.package, first.package_url) == (
        "renovatebot/github-action",
        "https://github.com/renovatebot/github-action",
    )
    assert (first.dep_type, first.update, first.old, first.new, first.pending) == (
        "action",
        "minor",
        "v40.1.0",
        "v40.2.0",
        "v40.2.1",
    )
    assert (second.package, second.package_url, second.old, second.new) == (
        "sops-nix",
        None,
        "abc1234",
        "def5678",
    )


def test_tables_without_outer_pipes_and_short_rows_are_read() -> None:
    body = "Package | Change\n--- | ---\nnixpkgs | `a` -> `b`\nhome-manager |\n\n| after | blank |"
    rows = parse_update_table(body)
    assert [(r.package, r.old, r.new) for r in rows] == [
        ("nixpkgs", "a", "b"),
        ("home-manager", None, None),
    ]


def test_escaped_pipes_stay_in_the_cell() -> None:
    body = "| Package | Change |\n|---|---|\n| a\\|b | 1 -> 2 |\n"
    [row] = parse_update_table(body)
    assert (row.package, row.old, row.new) == ("a|b", "1", "2")


def test_other_tables_and_plain_text_give_no_rows() -> None:
    assert parse_update_table("| Name | Value |\n|---|---|\n| x | y |\n") == []
    assert parse_update_table("flake.lock: Update\n\nFlake lock file updates:") == []
    assert parse_update_table("") == []


@NO_DEADLINE
@given(st.text())
def test_arbitrary_text_never_raises(body: str) -> None:
    assert isinstance(parse_update_table(body), list)


table_text = st.lists(
    st.sampled_from(
        [
            "|",
            "||",
            "| Package | Change |",
            "|---|---|",
            "---",
            ":-:",
            "`a` -> `b`",
            "[x](y)",
            "\\|",
        ]
    )
    | st.text(alphabet="|-:`[]()<>\\ ab\n→", max_size=20),
    max_size=12,
).map("\n".join)


@NO_DEADLINE
@given(table_text)
def test_table_like_text_never_raises(body: str) -> None:
    for row in parse_update_table(body):
        assert row.old is None or row.new is not None


def test_card_age_is_measured_when_gathered() -> None:
    created = datetime(2025, 1, 13, 4, 0, tzinfo=UTC)
    ci = CiState("a" * 40, "pending", (), (), CiVerdict.no_checks, (), (), (), ())
    card = RenovateCard(
        number=1,
        title="chore(deps): lock file maintenance",
        url="https://github.com/homelab/thelab-infra/pull/1",
        author="renovate[bot]",
        branch="renovate/lock-file-maintenance",
        head_sha="a" * 40,
        base_ref="main",
        state="open",
        merged=False,
        mergeable=None,
        mergeable_state="unknown",
        ci=ci,
        changes=(),
        table=(),
        change_source=ChangeSource.none,
        lock_problem="flake.lock is missing at the base commit",
        created_at=created,
        gathered_at=created + timedelta(days=2, hours=1),
    )
    assert card.age == timedelta(days=2, hours=1)


def test_tags_nested_to_hide_a_mention_are_all_stripped() -> None:
    body = (
        "| Package | Update | Change |\n|---|---|---|\n"
        "| nix<b>pkgs</b> <@U0HOS<x>TILEBT> | digest | `abc1234` -> `def5678` |\n"
    )
    [row] = parse_update_table(body)
    assert row.package == "nixpkgs"
