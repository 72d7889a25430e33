"""flake.lock parsing and diffing: real-looking locks, follows paths, and malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.integrations.flake_lock import ChangeKind, FlakeLockError, diff_locks, locked_inputs
from labsim.github import FlakeInput, bump_input, fake_nar_hash, fake_rev, render_flake_lock

# A lock as nix writes it, with a follows path in the root, a tarball and a path input.
LOCK = {
    "nodes": {
        "home-manager": {
            "inputs": {"nixpkgs": ["nixpkgs"]},
            "locked": {
                "lastModified": 1736373539,
                "narHash": "sha256-dinzAqCjenWDxuy+MqUQq0I4zUSfaCvN9rzuCmgMZJY=",
                "owner": "nix-community",
                "repo": "home-manager",
                "rev": "bd65bc3cde04c16755955630b344bc9e35272c56",
                "type": "github",
            },
            "original": {"owner": "nix-community", "repo": "home-manager", "type": "github"},
        },
        "nixpkgs": {
            "locked": {
                "lastModified": 1736883708,
                "narHash": "sha256-uQ+NQ0/xYU0N1CnXsa2zghgNaOPxWpMJXSUJJ9W7140=",
                "owner": "NixOS",
                "repo": "nixpkgs",
                "rev": "eb62e6aa39ea67e0b8018ba8ea077efe65807dc8",
                "type": "github",
            },
            "original": {
                "owner": "NixOS",
                "ref": "nixos-24.11",
                "repo": "nixpkgs",
                "type": "github",
            },
        },
        "root": {
            "inputs": {
                "home-manager": "home-manager",
                "nixpkgs": "nixpkgs",
                "pkgs": ["home-manager", "nixpkgs"],
                "secrets": "secrets",
                "tools": "tools",
            }
        },
        "secrets": {
            "locked": {
                "lastModified": 1,
                "narHash": "sha256-x",
                "path": "./secrets",
                "type": "path",
            },
            "original": {"path": "./secrets", "type": "path"},
        },
        "tools": {
            "locked": {
                "narHash": "sha256-y",
                "type": "tarball",
                "url": "https://example.org/tools-1.2.tar.gz",
            },
            "original": {"type": "tarball", "url": "https://example.org/tools-1.2.tar.gz"},
        },
    },
    "root": "root",
    "version": 7,
}

# A loaded CI machine must not turn slowness into a failure.
NO_DEADLINE = settings(deadline=None)


def _text(lock: dict[str, Any]) -> str:
    return json.dumps(lock, indent=2, sort_keys=True) + "\n"


def test_root_inputs_are_read_with_their_sources() -> None:
    inputs = {i.name: i for i in locked_inputs(_text(LOCK))}
    assert sorted(inputs) == ["home-manager", "nixpkgs", "pkgs", "secrets", "tools"]
    nixpkgs = inputs["nixpkgs"]
    assert (nixpkgs.type, nixpkgs.source, nixpkgs.ref) == ("github", "NixOS/nixpkgs", "nixos-24.11")
    assert nixpkgs.rev == "eb62e6aa39ea67e0b8018ba8ea077efe65807dc8"
    assert nixpkgs.short_rev == "eb62e6a"
    assert nixpkgs.last_modified == datetime(2025, 1, 14, 19, 41, 48, tzinfo=UTC)
    assert nixpkgs.nar_hash is not None and nixpkgs.nar_hash.startswith("sha256-")
    assert inputs["pkgs"].rev == nixpkgs.rev, "a follows path resolves through home-manager"
    assert inputs["tools"].source == "https://example.org/tools-1.2.tar.gz"
    assert (inputs["tools"].rev, inputs["tools"].last_modified) == (None, None)
    assert inputs["secrets"].source == "./secrets"


def test_the_emulators_default_lock_has_the_labs_inputs() -> None:
    names = [i.name for i in locked_inputs(render_flake_lock())]
    assert names == ["nixos-generators", "nixpkgs", "sops-nix"], "nixlib is not a root input"


def test_diff_reports_updated_added_and_removed_inputs() -> None:
    new = json.loads(_text(LOCK))
    new["nodes"]["nixpkgs"]["locked"].update(rev="f" * 40, lastModified=1737000000)
    del new["nodes"]["root"]["inputs"]["tools"]
    new["nodes"]["root"]["inputs"]["extra"] = "extra"
    new["nodes"]["extra"] = {
        "locked": {"owner": "o", "repo": "r", "rev": "e" * 40, "type": "github"},
    }
    changes = {c.name: c for c in diff_locks(_text(LOCK), _text(new))}
    assert sorted(changes) == ["extra", "nixpkgs", "pkgs", "tools"]
    nixpkgs = changes["nixpkgs"]
    assert (nixpkgs.kind, nixpkgs.old_rev, nixpkgs.new_rev) == (
        ChangeKind.updated,
        "eb62e6aa39ea67e0b8018ba8ea077efe65807dc8",
        "f" * 40,
    )
    assert nixpkgs.new_date == datetime.fromtimestamp(1737000000, UTC)
    assert (changes["extra"].kind, changes["extra"].old_rev) == (ChangeKind.added, None)
    assert (changes["tools"].kind, changes["tools"].new_date) == (ChangeKind.removed, None)


def test_bumped_emulator_lock_shows_one_change() -> None:
    old = render_flake_lock()
    new = bump_input(old, "sops-nix", rev=fake_rev("next"))
    [change] = diff_locks(old, new)
    assert (change.name, change.new_rev, change.source) == (
        "sops-nix",
        fake_rev("next"),
        "Mic92/sops-nix",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"nodes": {}, "root": "root"}', "no integer 'version'"),
        ('{"version": 3, "nodes": {}}', "version 3 is not supported"),
        ('{"version": 7, "nodes": {}, "root": "root"}', "root node 'root' is missing"),
        ('{"version": 7, "nodes": {"root": {"inputs": {"a": "b"}}}}', "node 'b' is missing"),
        ('{"version": 7, "nodes": {"root": {"inputs": {"a": ["x"]}}}}', "follows 'x'"),
        (
            '{"version": 7, "nodes": {"root": {"inputs": {"a": "a"}}, '
            '"a": {"locked": {"type": "github", "lastModified": "yesterday"}}}}',
            "'lastModified' is not an integer",
        ),
        (
            '{"version": 7, "nodes": {"root": {"inputs": {"a": "a"}}, '
            '"a": {"locked": {"type": "github", "lastModified": 99999999999999999}}}}',
            "out of range",
        ),
        (
            '{"version": 7, "nodes": {"root": {"inputs": {"a": ["a"]}}}}',
            "loop",
        ),
    ],
)
def test_malformed_locks_raise_a_clear_flake_lock_error(text: str, message: str) -> None:
    with pytest.raises(FlakeLockError, match=message):
        locked_inputs(text)
    assert issubclass(FlakeLockError, ValueError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
names = st.sampled_from(["root", "nixpkgs", "a", "b"])
lock_shaped = st.fixed_dictionaries(
    {
        "version": st.sampled_from([5, 6, 7, 8, "7", None]),
        "root": st.sampled_from(["root", "a", 1]),
        "nodes": st.dictionaries(
            names,
            st.fixed_dictionaries(
                {},
                optional={
                    "inputs": st.dictionaries(
                        names, names | st.lists(names, max_size=3) | json_values
                    ),
                    "locked": st.dictionaries(
                        st.sampled_from(
                            ["type", "rev", "owner", "repo", "lastModified", "narHash"]
                        ),
                        json_values,
                    )
                    | json_values,
                    "original": json_values,
                },
            ),
        ),
    }
)


@NO_DEADLINE
@given(st.text())
def test_arbitrary_text_raises_only_flake_lock_error(text: str) -> None:
    try:
        locked_inputs(text)
    except FlakeLockError:
        pass


@NO_DEADLINE
@given(json_values | lock_shaped)
def test_arbitrary_json_raises_only_flake_lock_error(value: Any) -> None:
    try:
        inputs = locked_inputs(json.dumps(value))
    except FlakeLockError:
        return
    assert diff_locks(json.dumps(value), json.dumps(value)) == []
    assert all(isinstance(i.type, str) for i in inputs)


flake_inputs = st.lists(
    st.builds(
        FlakeInput,
        name=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True).filter(lambda n: n != "root"),
        owner=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True),
        repo=st.from_regex(r"[a-z][a-z.-]{0,8}", fullmatch=True),
        rev=st.text("0123456789abcdef", min_size=40, max_size=40),
        nar_hash=st.text(min_size=1, max_size=10).map(fake_nar_hash),
        last_modified=st.integers(0, 4_000_000_000),
    ),
    max_size=5,
    unique_by=lambda i: i.name,
)


@NO_DEADLINE
@given(flake_inputs)
def test_a_lock_diffed_with_itself_is_empty(inputs: list[FlakeInput]) -> None:
    text = render_flake_lock(inputs)
    assert [i.name for i in locked_inputs(text)] == sorted(i.name for i in inputs)
    assert diff_locks(text, text) == []


@NO_DEADLINE
@given(flake_inputs.filter(bool), st.data())
def test_bumping_one_input_is_the_only_change(
    inputs: list[FlakeInput], data: st.DataObject
) -> None:
    target = data.draw(st.sampled_from(inputs))
    old = render_flake_lock(inputs)
    rev = fake_rev(target.rev)
    [change] = diff_locks(old, bump_input(old, target.name, rev=rev))
    assert (change.name, change.kind, change.old_rev, change.new_rev) == (
        target.name,
        ChangeKind.updated,
        target.rev,
        rev,
    )
