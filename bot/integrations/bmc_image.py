"""OS images for flashing through a BMC: what the BMC is told (name, size, sha256) and the bytes.

Must not load an image into memory: files are read in chunks in a worker thread, and `.zst`
images are decompressed as a stream with the `zstandard` package.

Size of a `.zst` image: the BMC needs the exact number of bytes it will receive, which is the
*decompressed* size. `prepare_image` takes it from a first full decompression pass rather than
from the zstd frame header, because the header's content size is optional (absent when the
compressor read a pipe) and covers one frame only, and because that same pass yields the
sha256 of the decompressed bytes, which the BMC checks. The upload then verifies both again
while streaming (see `BmcClient.upload`), so a file changed in between is caught.

An image named `*.xz` is sent as is: the BMC itself decompresses it (reference §3.6).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from bot.integrations.bmc_errors import FlashImageError

CHUNK_BYTES = 512 * 1024
"""Read size; the BMC writes to the module with 512 KiB buffers."""

ZSTD_SUFFIX = ".zst"


class ImageSource(StrEnum):
    """Where the BMC gets the image bytes from."""

    upload = "upload"
    url = "url"
    on_bmc = "on_bmc"


@dataclass(frozen=True)
class FlashImage:
    """An image to flash: a local file labbot uploads, a URL, or a file already on the BMC.

    Example::

        image = await prepare_image(Path("nixos-rk1.img.zst"))   # name "nixos-rk1.img"
        image = FlashImage.from_url("https://example.org/os.img.xz", sha256="ab…")
        image = FlashImage.on_bmc("/mnt/sdcard/os.img")

    `size` and `sha256` describe the bytes the BMC receives (decompressed for `.zst`).
    """

    source: ImageSource
    name: str
    size: int | None = None
    sha256: str | None = None
    path: Path | None = None
    zstd: bool = False

    @classmethod
    def from_url(cls, url: str, *, sha256: str | None = None) -> FlashImage:
        """An image the BMC downloads itself (firmware 2.1+); the server must send Content-Length."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"image URL must start with http:// or https://, got {url!r}")
        return cls(ImageSource.url, url, sha256=_check_sha256(sha256))

    @classmethod
    def on_bmc(cls, path: str) -> FlashImage:
        """An image already on the BMC, e.g. on its SD card under /mnt/sdcard."""
        if not path.startswith("/"):
            raise ValueError(f"a file on the BMC needs an absolute path, got {path!r}")
        return cls(ImageSource.on_bmc, path)


async def prepare_image(path: Path, *, expected_sha256: str | None = None) -> FlashImage:
    """Measure a local image in one pass: size and sha256 of what will be sent.

    `expected_sha256` is the hash of the file as stored (e.g. from a release manifest); a
    mismatch raises `FlashImageError`. Runs in a worker thread; not interruptible mid-file.
    """
    expected = _check_sha256(expected_sha256)
    zstd = path.name.endswith(ZSTD_SUFFIX)
    name = path.name.removesuffix(ZSTD_SUFFIX) if zstd else path.name
    if not name:
        raise FlashImageError(f"Image {path} has no file name left once .zst is removed.")
    size, sent_sha256, file_sha256 = await asyncio.to_thread(_measure, path, zstd)
    if expected is not None and expected != file_sha256:
        raise FlashImageError(
            f"Image {path} has sha256 {file_sha256}, not the expected {expected}; download it "
            "again."
        )
    return FlashImage(ImageSource.upload, name, size, sent_sha256, path, zstd)


async def read_image(image: FlashImage, chunk_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The bytes to upload for an `upload` image, decompressed for `.zst`, in chunks."""
    if image.source is not ImageSource.upload or image.path is None:
        raise ValueError(f"image {image.name} is not a local file to upload")
    path = image.path
    stream = await asyncio.to_thread(_open, path, image.zstd)
    try:
        while chunk := await asyncio.to_thread(_read, stream, path, chunk_bytes):
            yield chunk
    finally:
        stream.close()


def _measure(path: Path, zstd: bool) -> tuple[int, str, str]:
    """(size sent, sha256 of what is sent, sha256 of the file as stored)."""
    file_hash = hashlib.sha256()
    sent_hash = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as raw:
            hashing = cast(BinaryIO, _HashingReader(raw, file_hash))
            with _decompressing(hashing) if zstd else raw as stream:
                while chunk := _read(stream, path, CHUNK_BYTES):
                    sent_hash.update(chunk)
                    size += len(chunk)
    except OSError as error:
        raise FlashImageError(f"Image {path} cannot be read: {error.strerror}.") from None
    if not zstd:
        return size, sent_hash.hexdigest(), sent_hash.hexdigest()
    return size, sent_hash.hexdigest(), file_hash.hexdigest()


def _open(path: Path, zstd: bool) -> BinaryIO:
    try:
        raw = path.open("rb")
    except OSError as error:
        raise FlashImageError(f"Image {path} cannot be opened: {error.strerror}.") from None
    return _decompressing(raw, closefd=True) if zstd else raw


def _decompressing(raw: BinaryIO, *, closefd: bool = False) -> BinaryIO:
    """A reader of the decompressed bytes; all frames of the file, bounded memory."""
    return zstandard.ZstdDecompressor().stream_reader(
        raw, read_size=CHUNK_BYTES, read_across_frames=True, closefd=closefd
    )


def _read(stream: BinaryIO, path: Path, size: int) -> bytes:
    try:
        return stream.read(size)
    except zstandard.ZstdError as error:
        raise FlashImageError(
            f"Image {path} is not a valid zstd file ({error}); download it again."
        ) from None
    except OSError as error:
        raise FlashImageError(f"Image {path} cannot be read: {error.strerror}.") from None


class _HashingReader:
    """Passes reads through while hashing them (the compressed file, for `.zst`)."""

    def __init__(self, raw: BinaryIO, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._digest.update(chunk)
        return chunk


def _check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if len(lowered) != 64 or any(c not in "0123456789abcdef" for c in lowered):
        raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
    return lowered
