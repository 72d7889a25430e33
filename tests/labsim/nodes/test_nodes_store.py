"""Store path hashing (checked against real Nix), node filesystem layout and command parsing."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from labsim.nodes.invocation import Invocation
from labsim.nodes.nixos_commands import format_generation
from labsim.nodes.nodestate import NodeFiles, NodeIdentity, default_mounts
from labsim.nodes.rootfs import Generation, NodeRoot
from labsim.nodes.shell import run_line, split_commands
from labsim.nodes.storepaths import (
    SystemClosure,
    build_system,
    nix_base32,
    split_name_version,
    store_hash,
)


def test_nix_base32_matches_nix_hash() -> None:
    # `nix-hash --type sha256 --to-base32 <sha256 of the empty string>`
    digest = hashlib.sha256(b"").digest()
    assert nix_base32(digest) == "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"


def test_store_hash_folds_like_nix_hash_truncate() -> None:
    # `printf labsim-seed > f; nix-hash --flat --type sha256 --truncate --base32 f`
    assert store_hash("labsim-seed") == "vhmma3wdj2x20anrn32b3sa21ldxvj5p"


def test_split_name_version_like_nix() -> None:
    assert split_name_version("nixos-system-tp-node3-24.11.20250101.abcdef0") == (
        "nixos-system-tp-node3",
        "24.11.20250101.abcdef0",
    )
    assert split_name_version("etc") == ("etc", "")


def system(node: str, content: str = "abc", *, k3s: bool = True) -> SystemClosure:
    return build_system(
        node,
        content_hash=content,
        release="24.11",
        last_modified_date="20250101",
        nixpkgs_revision="abcdef0123",
        configuration_revision=None,
        k3s=k3s,
    )


def test_system_closure_is_deterministic_and_round_trips() -> None:
    first = system("tp-node3")
    assert first == system("tp-node3")
    assert first.toplevel != system("tp-node1").toplevel
    assert first.toplevel != system("tp-node3", "other content").toplevel
    assert SystemClosure.from_json(first.to_json()) == first
    assert any(p.pname == "k3s" for p in first.packages)
    assert not any(p.pname == "k3s" for p in system("tp-node3", k3s=False).packages)


def test_generation_line_has_nix_env_padding() -> None:
    line = format_generation(Generation(41, "/nix/store/x", 1714557600.0, True))
    assert line.startswith("  41   ") and line.endswith("   (current)")
    assert format_generation(Generation(7, "/nix/store/x", 1714557600.0, False)).endswith("   ")


def test_profile_links_are_relative_and_reuse_identical_newest(tmp_path: Path) -> None:
    root = NodeRoot(tmp_path)
    closures = [system("n", str(i), k3s=False) for i in range(2)]
    root.seed(closures, [1.0e9, 1.1e9])
    assert [g.number for g in root.generations()] == [1, 2]
    link = tmp_path / "nix/var/nix/profiles/system-2-link"
    assert not Path(str(link.readlink())).is_absolute()
    assert root.readlink("/nix/var/nix/profiles/system-2-link") == closures[1].toplevel
    assert root.set_profile(closures[1].toplevel) == 2  # same as newest: no new generation
    assert root.set_profile(closures[0].toplevel) == 3
    assert root.boot_default() == closures[1].toplevel


def test_command_lines_split_like_a_shell(tmp_path: Path) -> None:
    assert split_commands("a b && c 'd e' 2>&1; f || g") == [
        (";", ["a", "b"]),
        ("&&", ["c", "d e"]),
        (";", ["f"]),
        ("||", ["g"]),
    ]
    files = NodeFiles(tmp_path)
    files.write_identity(
        NodeIdentity("n", 1, "cm4", (), None, "deploy", ("root",), default_mounts("cm4"))
    )
    out, err = io.StringIO(), io.StringIO()
    base = Invocation([], NodeRoot(tmp_path), files, "deploy", False, io.BytesIO(), out, err)
    assert run_line("false && echo no; echo yes || echo never; sh -c 'hostname'", base) == 0
    assert out.getvalue() == "yes\nn\n"
