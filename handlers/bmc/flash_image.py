"""The image a flash writes — built with nix, a file on labbot's host, or a URL — and its digest.

Must not flash or power anything; it only finds, builds and measures images for `handlers/flash`.

1. No IMAGE: `nix build <flake>#packages.aarch64-linux.<attribute>` (attribute per module from
   `flash.image_attributes`), streamed into the job's thread, the output kept alive by an
   out-link under the state directory; the image is the output's `sd-image/*.img[.zst]`.
2. A path: must be a regular file under one of `flash.image_dirs` (symlinks resolved).
3. A URL: labbot reads it once to learn its size and sha256; the BMC downloads it itself and
   checks that sha256, so what is flashed is what was approved.
4. Every image is measured (`prepare_image`: size and sha256 of the bytes the BMC receives,
   decompressed for `.zst`); the approval is bound to that digest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.config import Config, Node
from bot.errors import IntegrationError
from bot.integrations.bmc_image import FlashImage, ImageSource, prepare_image
from bot.integrations.image_download import measure_url
from bot.integrations.process import Stream
from bot.integrations.tool_env import tool_environment
from bot.job_run import JobRun
from handlers.bmc import messages

NIX_SYSTEM = "aarch64-linux"
IMAGE_SUFFIXES = (".img", ".img.zst", ".img.xz", ".raw", ".raw.zst", ".raw.xz")
URL_PREFIXES = ("https://", "http://")
URL_READ_TIMEOUT_SECONDS = 60.0


class ImageBuildFailed(IntegrationError):
    """Raised when `nix build` fails or its output holds no image file.

    Unlike other errors (`bot.errors`), its text is one of labbot's own mrkdwn sentences
    (`handlers.bmc.messages`), which escaped any outside name in it, so it is shown as it is."""


class ImagePlan(BaseModel):
    """The approved image: where its bytes come from, and their size and sha256 as sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["upload", "url"]
    location: str  # a path on labbot's host, or the URL
    name: str  # the name the BMC is told
    size: int
    sha256: str
    zstd: bool = False
    file_size: int | None = None  # on disk, with mtime_ns: a changed file voids the approval
    mtime_ns: int | None = None
    built_from: str | None = None  # the flake attribute, when labbot built it

    def flash_image(self) -> FlashImage:
        """The `FlashImage` the BMC client flashes."""
        if self.source == "url":
            return FlashImage.from_url(self.location, sha256=self.sha256)
        return FlashImage(
            ImageSource.upload, self.name, self.size, self.sha256, Path(self.location), self.zstd
        )


def image_argument_problem(config: Config, image: str) -> str | None:
    """Why IMAGE cannot be flashed (checked before a job starts), or None."""
    if image.startswith(URL_PREFIXES):
        if image.endswith(".zst"):
            return messages.flash_url_zstd(image)
        return None
    if not image.startswith("/"):
        return messages.flash_image_form(image)
    if _allowed_file(config, Path(image)) is None:
        return messages.flash_image_not_allowed(image, [str(d) for d in config.flash.image_dirs])
    return None


def build_problem(config: Config, node: Node) -> str | None:
    """Why labbot cannot build an image for `node` (no IMAGE given), or None."""
    if config.flash.image_attributes.get(node.module) is None:
        return messages.flash_no_image_attribute(node.name, node.module.value)
    if _flake_dir(config) is None:
        return messages.flash_no_flake()
    return None


async def resolve_image(run: JobRun, node: Node, image: str | None) -> ImagePlan:
    """Build, find or measure the image; raises `IntegrationError` subclasses with a sentence."""
    config = run.config
    if image is not None and image.startswith(URL_PREFIXES):
        await run.stream.write(messages.flash_measuring_url(image))
        remote = await measure_url(image, timeout=URL_READ_TIMEOUT_SECONDS, cancel=run.cancel)
        return ImagePlan(
            source="url", location=image, name=image, size=remote.size, sha256=remote.sha256
        )
    built_from = None
    if image is None:
        path, built_from = await build_image(run, node)
    else:
        allowed = _allowed_file(config, Path(image))
        if allowed is None:
            raise ImageBuildFailed(
                messages.flash_image_not_allowed(image, [str(d) for d in config.flash.image_dirs])
            )
        path = allowed
    await run.stream.write(messages.flash_measuring(str(path)))
    measured = await prepare_image(path)
    stat = path.stat()
    return ImagePlan(
        source="upload",
        location=str(path),
        name=measured.name,
        size=measured.size or 0,
        sha256=measured.sha256 or "",
        zstd=measured.zstd,
        file_size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        built_from=built_from,
    )


async def build_image(run: JobRun, node: Node) -> tuple[Path, str]:
    """`nix build` the node's image; returns the image file and the attribute built."""
    config = run.config
    problem = build_problem(config, node)
    flake = _flake_dir(config)
    if problem is not None or flake is None:
        raise ImageBuildFailed(problem or messages.flash_no_flake())
    attribute = f"packages.{NIX_SYSTEM}.{config.flash.image_attributes[node.module]}"
    link = config.storage.state_dir / "images" / node.name  # a GC root until the next build
    link.parent.mkdir(parents=True, exist_ok=True)
    outputs: list[str] = []

    def output(stream: Stream, text: str) -> None:
        if stream is Stream.stdout and text.strip():
            outputs.append(text.strip())

    argv = [
        config.flash.nix_binary,
        "build",
        f"{flake}#{attribute}",
        "--print-out-paths",
        "--out-link",
        str(link),
        "-L",
    ]
    result = await run.run(
        argv, env=tool_environment(), timeout=config.flash.build_timeout_seconds, on_line=output
    )
    if not result.ok or not outputs:
        raise ImageBuildFailed(
            messages.flash_build_failed(attribute, result.exit_code, result.timed_out)
        )
    return find_image_file(Path(outputs[-1]), attribute), attribute


def find_image_file(output: Path, attribute: str) -> Path:
    """The disk image in a build output: the output itself, or one under `sd-image/`."""
    if output.is_file():
        return output
    for directory in (output / "sd-image", output):
        if directory.is_dir():
            found = sorted(
                p for p in directory.iterdir() if p.is_file() and p.name.endswith(IMAGE_SUFFIXES)
            )
            if found:
                return found[0]
    raise ImageBuildFailed(messages.flash_build_no_image(attribute, str(output)))


def image_changed(plan: ImagePlan) -> str | None:
    """Why the approved image no longer matches the file on disk, or None."""
    if plan.source != "upload":
        return None  # the BMC checks the URL's bytes against the approved sha256
    try:
        stat = os.stat(plan.location)
    except OSError:
        return messages.flash_image_gone(plan.location)
    if (stat.st_size, stat.st_mtime_ns) != (plan.file_size, plan.mtime_ns):
        return messages.flash_image_changed(plan.location)
    return None


def _allowed_file(config: Config, path: Path) -> Path | None:
    """The resolved path if it is a regular file inside an allowed directory, else None."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file():
        return None
    for directory in config.flash.image_dirs:
        try:
            root = directory.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if resolved.is_relative_to(root):
            return resolved
    return None


def _flake_dir(config: Config) -> Path | None:
    if config.flash.flake_dir is not None:
        return config.flash.flake_dir
    return config.colmena.flake_dir if config.colmena is not None else None
