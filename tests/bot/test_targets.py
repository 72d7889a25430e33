"""The deploy target resolver: names, globs, @tags, comma lists, `all`, and its refusals."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import messages
from bot.errors import UnknownTarget, UserError
from bot.targets import EmptySelection, EmptyTargetRule, UnknownTag, resolve_targets


@dataclass(frozen=True)
class FakeNode:
    name: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    deferred: bool = False


INVENTORY = (
    FakeNode("tp-node1", ("k3s-agent", "rk1")),
    FakeNode("tp-node2", ("k3s-agent", "rk1"), deferred=True),
    FakeNode("tp-node3", ("k3s-server", "cm4")),
    FakeNode("tp-node4", ("cm4",)),
)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ("tp-node3", ("tp-node3",)),
        ("tp-node3,tp-node1", ("tp-node1", "tp-node3")),  # inventory order
        (" tp-node3 , tp-node1 ", ("tp-node1", "tp-node3")),  # trimmed like colmena
        ("tp-node*", ("tp-node1", "tp-node2", "tp-node3", "tp-node4")),
        ("tp-node[34]", ("tp-node3", "tp-node4")),
        ("tp-node?", ("tp-node1", "tp-node2", "tp-node3", "tp-node4")),
        ("@k3s-*", ("tp-node1", "tp-node2", "tp-node3")),
        ("@cm4,tp-node1", ("tp-node1", "tp-node3", "tp-node4")),
        ("all", ("tp-node1", "tp-node3", "tp-node4")),  # deferred left out
        ("all,tp-node2", ("tp-node1", "tp-node2", "tp-node3", "tp-node4")),  # named: included
        ("tp-node3,tp-node3,@k3s-server", ("tp-node3",)),  # no duplicates
    ],
)
def test_resolves_like_colmena_on(targets: str, expected: tuple[str, ...]) -> None:
    assert resolve_targets(targets, INVENTORY) == expected


def test_unknown_name_lists_the_known_nodes() -> None:
    with pytest.raises(UnknownTarget) as caught:
        resolve_targets("tp-node3,tp-node9", INVENTORY)
    assert str(caught.value) == (
        "`tp-node9` matches no node. Known nodes: `tp-node1`, `tp-node2`, `tp-node3`, `tp-node4`."
    )


def test_unknown_tag_lists_the_known_tags() -> None:
    with pytest.raises(UnknownTag) as caught:
        resolve_targets("@gpu", INVENTORY)
    assert str(caught.value) == messages.unknown_tag(
        "@gpu", ["cm4", "k3s-agent", "k3s-server", "rk1"]
    )
    assert "`@k3s-server`" in str(caught.value)


def test_all_with_only_deferred_nodes_is_an_empty_selection() -> None:
    with pytest.raises(EmptySelection) as caught:
        resolve_targets("all", (FakeNode("tp-node2", deferred=True),))
    assert "selects no node" in str(caught.value) and "`tp-node2`" in str(caught.value)


@pytest.mark.parametrize("targets", ["", " ", "tp-node3,", ",tp-node3", "tp-node1,,tp-node3"])
def test_empty_rules_are_refused(targets: str) -> None:
    with pytest.raises(EmptyTargetRule):
        resolve_targets(targets, INVENTORY)


# `all` is the keyword, never a node name here (the resolver treats it as the keyword).
names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(lambda n: n != "all")
tags = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True)
inventories = st.lists(
    st.builds(FakeNode, names, st.lists(tags, max_size=3).map(tuple), st.booleans()),
    max_size=6,
    unique_by=lambda n: n.name,
)
rule = st.one_of(
    names,
    tags.map(lambda t: "@" + t),
    st.just("all"),
    st.from_regex(r"@?[a-z0-9*?\[\]_-]{1,10}", fullmatch=True),
)


@given(inventories, st.lists(rule, min_size=1, max_size=4))
def test_result_is_a_nonempty_ordered_subset_or_a_user_error(
    inventory: list[FakeNode], rules: list[str]
) -> None:
    try:
        selected = resolve_targets(",".join(rules), inventory)
    except UserError:
        return  # every refusal is a sentence for the user, never a crash
    known = [node.name for node in inventory]
    assert selected, "an empty selection must be refused, not returned"
    assert list(selected) == [name for name in known if name in selected]
    assert len(set(selected)) == len(selected)


@given(inventories, st.lists(rule, min_size=1, max_size=4))
def test_resolving_the_result_again_gives_the_same_nodes(
    inventory: list[FakeNode], rules: list[str]
) -> None:
    try:
        selected = resolve_targets(",".join(rules), inventory)
    except UserError:
        return
    # What goes to colmena's --on is the explicit list; it must select exactly the same nodes.
    assert resolve_targets(",".join(selected), inventory) == selected


@given(inventories)
def test_all_is_every_node_that_is_not_deferred(inventory: list[FakeNode]) -> None:
    expected = tuple(node.name for node in inventory if not node.deferred)
    if not expected:
        with pytest.raises(EmptySelection):
            resolve_targets("all", inventory)
    else:
        assert resolve_targets("all", inventory) == expected


@given(inventories, names)
def test_an_exact_name_selects_only_that_node(inventory: list[FakeNode], name: str) -> None:
    if name in {node.name for node in inventory}:
        assert resolve_targets(name, inventory) == (name,)
    else:
        with pytest.raises(UnknownTarget):
            resolve_targets(name, inventory)
