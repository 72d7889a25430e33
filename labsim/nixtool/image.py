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
from labsim.nodes.storepaths import nixos_version_for, store_path

DEFAULT_IMAGE_SIZE = 2 * 1024 * 1024
SECTOR = 512


@dataclass(frozen=True)
class ImageBuild:
    """What `nix build` produced (or would produce) for an image attribute."""

    attribute: str
    out_path: str
    image_name: str
    messages: list[str]
    build_log: list[str]
    drv: str


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
    return ImageBuild(attribute, out, image_name, messages, lines, drv)


def _zstd_available() -> bool:
    try:
        importlib.import_module("zstandard")
    except ImportError:
        return False
    return True


def image_bytes(plan: ImageBuild, size: int) -> bytes:
    """A deterministic disk image: an MBR-ish header naming the build, then filler sectors."""
    header = f"LABSIM-SD-IMAGE\n{plan.attribute}\n{plan.out_path}\n".encode()
    seed = hashlib.sha256(plan.out_path.encode()).digest()
    body = bytearray(max(size, SECTOR * 4))
    body[: len(header)] = header
    body[SECTOR - 2 : SECTOR] = b"\x55\xaa"
    for offset in range(SECTOR, len(body), SECTOR):
        body[offset : offset + 32] = seed
    return bytes(body)


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
