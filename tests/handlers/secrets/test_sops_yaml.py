"""Tests for handlers/secrets/sops_yaml.py: adding and removing recipients without disturbing the rest."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.integrations.age_keys import bech32_encode
from handlers.secrets.sops_yaml import (
    SopsYamlError,
    add_recipient,
    recipients,
    remove_recipient,
    replace_recipient,
    rule_files,
)


def recipient(seed: int) -> str:
    """A valid, deterministic age recipient."""
    return bech32_encode("age", bytes([seed]) * 32)


ADMIN, NODE3, NODE1, NODE2 = (recipient(n) for n in (1, 3, 11, 12))

# The plan's Phase 5 layout (note the age items sit at the same column as `age:`).
PLAN = f"""\
keys:
  - &admin {ADMIN}     # Your personal age key
  - &node3 {NODE3}     # Node 3's age key (generated on node)
creation_rules:
  - path_regex: secrets/secrets\\.yaml$
    key_groups:
      - age:
        - *admin
        - *node3
"""

TWO_RULES = f"""\
# sops-nix recipients; managed by labbot (reviewed PRs)
keys:
    -   &admin {ADMIN}
    -   &node3 {NODE3}  # CM4, slot 3

creation_rules:
    # cluster-wide secrets
    -   path_regex: secrets/secrets\\.yaml$
        key_groups:
            -   age:
                    -   *admin
                    -   *node3
    -   path_regex: secrets/admin\\.yaml$
        key_groups:
            -   age:
                    -   *admin
"""


def resolved_age_lists(text: str) -> dict[str, list[list[str]]]:
    """Each rule's age lists with aliases resolved, by an independent YAML loader."""
    document = yaml.safe_load(text)
    return {
        rule["path_regex"]: [group["age"] for group in rule["key_groups"]]
        for rule in document["creation_rules"]
    }


def test_queries_read_the_plan_layout() -> None:
    assert recipients(PLAN) == {"admin": ADMIN, "node3": NODE3}
    assert rule_files(PLAN) == [r"secrets/secrets\.yaml$"]


def test_add_inserts_two_lines_and_leaves_every_other_line_alone() -> None:
    result = add_recipient(PLAN, "node1", NODE1, "all")
    old, new = PLAN.splitlines(), result.splitlines()
    assert new == [*old[:3], f"  - &node1 {NODE1}", *old[3:], "        - *node1"]
    assert recipients(result) == {"admin": ADMIN, "node3": NODE3, "node1": NODE1}
    assert resolved_age_lists(result) == {r"secrets/secrets\.yaml$": [[ADMIN, NODE3, NODE1]]}


def test_add_then_remove_restores_the_text_exactly() -> None:
    for text in (PLAN, TWO_RULES, PLAN.rstrip("\n"), PLAN.replace("\n", "\r\n")):
        added = add_recipient(text, "node1", NODE1, "all")
        assert added != text
        assert remove_recipient(added, "node1") == text


def test_other_indentation_and_comments_are_kept() -> None:
    result = add_recipient(TWO_RULES, "node2", NODE2, [r"secrets/secrets\.yaml$"])
    assert f"    -   &node2 {NODE2}\n" in result
    assert "                    -   *node2\n" in result
    assert set(TWO_RULES.splitlines()) <= set(result.splitlines())
    assert len(result.splitlines()) == len(TWO_RULES.splitlines()) + 2
    assert resolved_age_lists(result) == {
        r"secrets/secrets\.yaml$": [[ADMIN, NODE3, NODE2]],
        r"secrets/admin\.yaml$": [[ADMIN]],
    }


def test_crlf_line_endings_are_kept() -> None:
    result = add_recipient(PLAN.replace("\n", "\r\n"), "node1", NODE1, "all")
    assert "\n" not in result.replace("\r\n", "")
    assert f"  - &node1 {NODE1}\r\n" in result


def test_remove_drops_the_key_and_every_alias() -> None:
    with_node1 = add_recipient(TWO_RULES, "node1", NODE1, "all")
    result = remove_recipient(with_node1, "node3")
    assert "node3" not in result
    assert "# CM4, slot 3" not in result  # the removed key's own comment goes with it
    assert "# sops-nix recipients; managed by labbot (reviewed PRs)" in result
    assert resolved_age_lists(result) == {
        r"secrets/secrets\.yaml$": [[ADMIN, NODE1]],
        r"secrets/admin\.yaml$": [[ADMIN, NODE1]],
    }
    assert recipients(result) == {"admin": ADMIN, "node1": NODE1}


def test_remove_refuses_to_leave_a_rule_without_recipients() -> None:
    with pytest.raises(SopsYamlError, match="no recipient"):
        remove_recipient(TWO_RULES, "admin")


def test_remove_of_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(SopsYamlError, match="`admin`, `node3`"):
        remove_recipient(PLAN, "node9")


@pytest.mark.parametrize("name", ["Node1", "-node1", "_x", "node 1", "", "node1&", "nöde"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(SopsYamlError, match="not a valid key name"):
        add_recipient(PLAN, name, NODE1, "all")


@pytest.mark.parametrize(
    "bad",
    [
        NODE1[:-1] + ("q" if NODE1[-1] != "q" else "p"),  # checksum broken
        "AGE-SECRET-KEY-1" + NODE1[4:].upper(),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        bech32_encode("age", b"\x01" * 16),
    ],
)
def test_bad_recipients_are_refused(bad: str) -> None:
    with pytest.raises(SopsYamlError, match="not an age recipient"):
        add_recipient(PLAN, "node1", bad, "all")


def test_duplicates_are_refused() -> None:
    with pytest.raises(SopsYamlError, match="already used"):
        add_recipient(PLAN, "node3", NODE1, "all")
    with pytest.raises(SopsYamlError, match=r"already in \.sops\.yaml as `node3`"):
        add_recipient(PLAN, "node1", NODE3, "all")
    anchored_rule = PLAN.replace("  - path_regex", "  - &main\n    path_regex")
    with pytest.raises(SopsYamlError, match="already used"):
        add_recipient(anchored_rule, "main", NODE1, "all")


def test_unknown_rule_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SopsYamlError, match=r"Known: `secrets/secrets\\\.yaml\$`"):
        add_recipient(PLAN, "node1", NODE1, ["secrets/other.yaml"])
    with pytest.raises(SopsYamlError, match="list of path_regex"):
        add_recipient(PLAN, "node1", NODE1, r"secrets/secrets\.yaml$")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PLAN.replace("age:\n        - *admin\n        - *node3", "age: [*admin, *node3]"),
            "block",
        ),
        (f"keys: [&admin {ADMIN}]\ncreation_rules:\n  - path_regex: x\n", "block"),
        ("creation_rules: []\n", "no `keys`"),
        (PLAN.replace("key_groups", "groups"), "no key_groups"),
        ("keys: [\n", "not valid YAML"),
        (PLAN + "---\nkeys: []\n", "exactly one"),
    ],
)
def test_unsupported_layouts_are_refused(text: str, message: str) -> None:
    with pytest.raises(SopsYamlError, match=message):
        add_recipient(text, "node1", NODE1, "all")


def test_remove_refuses_aliases_it_cannot_delete_as_a_line() -> None:
    text = PLAN.replace("age:\n        - *admin\n        - *node3", "age: [*admin, *node3]")
    with pytest.raises(SopsYamlError, match="edit it by hand"):
        remove_recipient(text, "node3")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=20, max_value=200), unique=True, min_size=1, max_size=5))
def test_adding_then_removing_in_reverse_restores_the_text(seeds: list[int]) -> None:
    text = TWO_RULES
    history = [text]
    for seed in seeds:
        text = add_recipient(text, f"node-{seed}", recipient(seed), "all")
        history.append(text)
    assert list(recipients(text).values())[-len(seeds) :] == [recipient(s) for s in seeds]
    for seed in reversed(seeds):
        history.pop()
        text = remove_recipient(text, f"node-{seed}")
        assert text == history[-1]


def test_replace_changes_only_the_keys_value_and_the_aliases_follow() -> None:
    new = recipient(33)
    result = replace_recipient(PLAN, "node3", new)

    assert result.splitlines() == [line.replace(NODE3, new) for line in PLAN.splitlines()]
    assert "# Node 3's age key (generated on node)" in result  # the comment stays
    rule = yaml.safe_load(result)["creation_rules"][0]["key_groups"][0]["age"]
    assert rule == [ADMIN, new]  # `*node3` now resolves to the new key


@pytest.mark.parametrize(
    ("name", "new", "problem"),
    [
        ("node9", recipient(33), "No key named `node9` in .sops.yaml. Known: `admin`, `node3`."),
        ("node3", ADMIN, "That recipient is already in .sops.yaml as `admin`."),
        ("node3", "age1notakey", "is not an age recipient"),
    ],
)
def test_replace_refuses_bad_input_and_changes_nothing(name: str, new: str, problem: str) -> None:
    text = PLAN
    with pytest.raises(SopsYamlError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        replace_recipient(text, name, new)
    assert text == PLAN


def test_the_files_own_text_in_a_refusal_is_escaped() -> None:
    """A refusal is a UserError, shown as it is (bot.errors): .sops.yaml's own words in it (the
    YAML parser's quote, a rule's path_regex) are escaped where it is built."""
    hostile = "<!channel>&"
    broken = PLAN + f"  - path_regex: {hostile}\n    key_groups: 3\n"
    with pytest.raises(SopsYamlError) as refused:
        add_recipient(broken, "node1", NODE1, "all")
    assert "rule `&lt;!channel&gt;&amp;` has no key_groups list" in str(refused.value)
    with pytest.raises(SopsYamlError) as unknown:
        add_recipient(broken, "node1", NODE1, [f"x{hostile}"])
    assert "path_regex `x&lt;!channel&gt;&amp;`. Known: " in str(unknown.value)
    assert ", `&lt;!channel&gt;&amp;`." in str(unknown.value)
    with pytest.raises(SopsYamlError) as unparsable:
        add_recipient(f"keys: [{hostile}\n", "node1", NODE1, "all")
    assert "<" not in str(unparsable.value) and "not valid YAML" in str(unparsable.value)
