"""`nix build <flake>#packages.aarch64-linux.<image>` of the nix double: a small SD image file.

The output lives in the local store (`LABSIM_NIX_STORE`, a host directory ending in /nix/store):
`<hash>-nixos-sd-image-<version>-aarch64-linux.img/sd-image/nixos-sd-image-….img.zst` when the
`zstandard` module is importable, otherwise an uncompressed `….img` (nixos-generators compresses
by default; the double cannot without zstandard). Same checkout → same path and bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from labsim.colmena.build import derivation_path, local_path
from labsim.colmena.hive import content_hash, nixpkgs_lock
from labsim.nodes.storepaths import SystemClosure, build_system, nixos_version_for, store_path

DEFAULT_IMAGE_SIZE = 2 * 1024 * 1024
SECTOR = 512
#: Where the image says which system it holds (the simulated rootfs), after the boot sector.
SYSTEM_MARK = b"LABSIM-SYSTEM\n"
#: An image's own hostname: nixos-generators' images set none, so NixOS calls itself "nixos".
IMAGE_HOSTNAME = "nixos"


@dataclass(frozen=True)
class ImageBuild:
    """What `nix build` produced (or would produce) for an image attribute."""

    attribute: str
    out_path: str
    image_name: str
    messages: list[str]
    build_log: list[str]
    drv: str
    system: SystemClosure  # what a module flashed with the image boots: generation 1


def plan_image(flake_dir: Path, attribute: str) -> ImageBuild:
    """Derive the image's store path and build log from the checkout and attribute."""
    lock = nixpkgs_lock(flake_dir)
    version = nixos_version_for(lock.release, lock.date, lock.revision)
    name = f"nixos-sd-image-{version}-aarch64-linux.img"
    seed = f"{content_hash(flake_dir)}:{attribute}"
    out = store_path(seed, name)
    drv = derivation_path(name, out)
    short = name.removesuffix(".img")
    compressed = _zstd_available()
    image_name = name + (".zst" if compressed else "")
    messages = [
        "these 4 derivations will be built:",
        f"  {derivation_path('ext4-fs.img' + ('.zst' if compressed else ''), out)}",
        f"  {derivation_path('closure-info', out)}",
        f"  {derivation_path('firmware', out)}",
        f"  {drv}",
        f"building '{derivation_path('closure-info', out)}'...",
        f"building '{drv}'...",
    ]
    lines = [
        f"{short}> Creating filesystem with 1048576 4k blocks and 262144 inodes",
        f"{short}> Allocating group tables: done",
        f"{short}> Writing inode tables: done",
        f"{short}> Copying files into the device: done",
        f"{short}> Writing superblocks and filesystem accounting information: done",
        f"{short}> Resizing to minimum allowed size",
        f"{short}> 1+0 records in",
        f"{short}> 1+0 records out",
    ]
    if compressed:
        lines.append(f"{short}> zstd -T0 --rm {name}")
    system = build_system(
        IMAGE_HOSTNAME,
        content_hash=seed,
        release=lock.release,
        last_modified_date=lock.date,
        nixpkgs_revision=lock.revision,
        configuration_revision=None,
        k3s=False,
    )
    return ImageBuild(attribute, out, image_name, messages, lines, drv, system)


def _zstd_available() -> bool:
    try:
        importlib.import_module("zstandard")
    except ImportError:
        return False
    return True


def image_bytes(plan: ImageBuild, size: int) -> bytes:
    """A deterministic disk image: an MBR-ish header naming the build, the system it holds,
    then filler sectors."""
    header = f"LABSIM-SD-IMAGE\n{plan.attribute}\n{plan.out_path}\n".encode()
    system = SYSTEM_MARK + plan.system.to_json().encode() + b"\n"
    seed = hashlib.sha256(plan.out_path.encode()).digest()
    system_sectors = -(-len(system) // SECTOR)
    body = bytearray(max(size, SECTOR * (2 + system_sectors)))
    body[: len(header)] = header
    body[SECTOR - 2 : SECTOR] = b"\x55\xaa"
    body[SECTOR : SECTOR + len(system)] = system
    for offset in range(SECTOR * (1 + system_sectors), len(body), SECTOR):
        body[offset : offset + 32] = seed
    return bytes(body)


def system_in_image(head: bytes) -> SystemClosure | None:
    """The system an image built by the nix double holds, read from its first bytes; None for
    any other image (labsim cannot tell what it would boot)."""
    start = head.find(SYSTEM_MARK, SECTOR, SECTOR * 2)
    if start != SECTOR:
        return None
    end = head.find(b"\n", start + len(SYSTEM_MARK))
    if end < 0:
        return None
    try:
        return SystemClosure.from_json(head[start + len(SYSTEM_MARK) : end].decode())
    except (ValueError, KeyError, TypeError):
        return None


def realise_image(plan: ImageBuild, store_dir: Path) -> tuple[Path, bool]:
    """Write the output into the local store if missing; return (host path, freshly built)."""
    host = local_path(store_dir, plan.out_path)
    image = host / "sd-image" / plan.image_name
    if image.is_file():
        return host, False
    size = int(os.environ.get("LABSIM_NIX_IMAGE_SIZE", DEFAULT_IMAGE_SIZE))
    data = image_bytes(plan, size)
    if plan.image_name.endswith(".zst"):
        zstandard = importlib.import_module("zstandard")
        data = zstandard.ZstdCompressor().compress(data)
    image.parent.mkdir(parents=True, exist_ok=True)
    tmp = image.with_name(image.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(image)
    support = host / "nix-support"
    support.mkdir(exist_ok=True)
    product = f"file sd-image {plan.out_path}/sd-image/{plan.image_name}\n"
    (support / "hydra-build-products").write_text(product)
    return host, True
