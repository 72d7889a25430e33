"""A small ext4 file system on a loop device, for store tests that need a real one to fail.

Mounted `errors=remount-ro`, as a root file system usually is: on an I/O error ext4 turns the
whole file system read-only (`emergency_ro`) until it is unmounted, checked and mounted again.
`fail()` triggers exactly that through ext4's own test hook (/sys/fs/ext4/<dev>/
trigger_fs_error, in the kernel's fs/ext4/sysfs.c). Needs root and loop devices (CI runs as
root); `LoopFilesystem.make` raises `Unavailable` with the reason where the machine lacks them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class Unavailable(Exception):
    """This machine cannot mount a loop file system (not root, no loop devices, a container)."""


def _run(*argv: str) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise Unavailable(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


@dataclass
class LoopFilesystem:
    """An ext4 image file mounted at `mountpoint`."""

    image: Path
    mountpoint: Path

    @classmethod
    def make(cls, directory: Path, megabytes: int) -> LoopFilesystem:
        """Create, format and mount a new file system of `megabytes` under `directory`."""
        if os.geteuid() != 0:
            raise Unavailable("mounting needs root")
        for tool in ("mkfs.ext4", "mount", "umount", "e2fsck"):
            if shutil.which(tool) is None:
                raise Unavailable(f"{tool} is not installed")
        fs = cls(directory / "fs.img", directory / "mnt")
        fs.mountpoint.mkdir()
        with fs.image.open("wb") as image:
            image.truncate(megabytes * 1024 * 1024)
        _run("mkfs.ext4", "-q", str(fs.image))
        fs.mount()
        return fs

    @property
    def device(self) -> str:
        """The loop device's name (`loop3`), as /sys/fs/ext4 lists it."""
        return Path(_run("findmnt", "-n", "-o", "SOURCE", str(self.mountpoint))).name

    def mount(self) -> None:
        _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mountpoint))

    def fail(self) -> None:
        """An I/O error as the kernel sees one: the file system turns read-only at once."""
        (Path("/sys/fs/ext4") / self.device / "trigger_fs_error").write_text("1\n")

    @property
    def read_only(self) -> bool:
        """Whether mounted read-only (`emergency_ro`: by ext4 itself after an error)."""
        options = _run("findmnt", "-n", "-o", "OPTIONS", str(self.mountpoint)).split(",")
        return "ro" in options or "emergency_ro" in options

    def repair(self) -> None:
        """What an operator does next: unmount, check and mend, mount again."""
        self.unmount()
        done = subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True, text=True)
        if done.returncode >= 4:  # 1 and 2: errors corrected (e2fsck(8))
            raise RuntimeError(f"e2fsck could not repair the image: {done.stdout}")
        self.mount()

    def unmount(self) -> None:
        _run("umount", str(self.mountpoint))
