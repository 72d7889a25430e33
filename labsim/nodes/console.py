"""What a simulated node prints on its serial console, and how it answers what is typed there.

The console is a file in the node's state directory, so both the node object (boot, power) and
the node shell (another process: activation) can print to it; the BMC emulator takes what is new
whenever its UART buffer is read (`BmcEmulator.attach_console`). A console sends CR LF line
ends, as a serial line does.

What it prints, and where that comes from:
- At every boot a shortened boot log, the failed units' status lines, then agetty's issue text
  and login prompt. The issue text is nixpkgs' default `services.getty.greetingLine`
  (nixos/modules/services/ttys/getty.nix: `<<< Welcome to ${distroName} ${label} (\\m) - \\l >>>`,
  with `\\m` the machine and `\\l` the tty) written into /etc/issue, then `HOSTNAME login: `.
- A failed unit, at boot or when an activation leaves it failed, as systemd prints job results
  on the console (systemd src/core/job.c): `[FAILED] Failed to start DESCRIPTION.` and
  `See 'systemctl status UNIT' for details.`
- A line typed at the login prompt (`uart send`) is echoed and taken as a user name; login(1)
  then asks `Password: `, whose answer is not echoed, and, since labsim knows no console
  passwords, says `Login incorrect` and prompts again (shadow's login).
"""

from __future__ import annotations

import os
from pathlib import Path

from labsim.nodes.storepaths import code_name
from labsim.nodes.units import describe_unit

CONSOLE_FILE = "console.out"
TTY = "ttyS0"  # the CM4's and RK1's serial console as the Turing Pi's BMC reads it
MACHINE = "aarch64"


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


class NodeConsole:
    """The serial console of one node; `take_new` is for the one reader (the BMC's UART)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / CONSOLE_FILE
        self._read = 0
        self._awaiting_password = False

    def print(self, text: str) -> None:
        """Append `text` (LF line ends become CR LF), from any process."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, _crlf(text))  # one write: whole lines from two processes never mix
        finally:
            os.close(fd)

    def take_new(self) -> bytes:
        """What was printed since the last call."""
        try:
            with self.path.open("rb") as console:
                console.seek(self._read)
                data = console.read()
        except FileNotFoundError:
            return b""
        self._read += len(data)
        return data

    def boot(
        self, hostname: str, module: str, nixos_version: str, kernel: str, failed: list[str]
    ) -> None:
        """A boot (a shortened, illustrative log): kernel and systemd lines, the failed units,
        then the login prompt."""
        release = ".".join(nixos_version.split(".")[:2])
        lines = [
            "",
            "[    0.000000] Booting Linux on physical CPU 0x0000000000",
            f"[    0.000000] Linux version {kernel} (nixbld@localhost) #1-NixOS SMP PREEMPT",
            f"[    0.000000] Machine model: {_MODELS.get(module, module)}",
            "[    2.318845] systemd[1]: Detected architecture arm64.",
            f"Welcome to NixOS {release} ({code_name(nixos_version)})!",
            "[  OK  ] Reached target Multi-User System.",
        ]
        for unit in failed:
            lines += _failed_unit(unit)
        self.print("\n".join(lines) + "\n")
        self.login_prompt(hostname, nixos_version)

    def login_prompt(self, hostname: str, nixos_version: str) -> None:
        """agetty's /etc/issue and prompt (nixpkgs getty.nix's default greeting line)."""
        self._awaiting_password = False
        issue = f"<<< Welcome to NixOS {nixos_version} ({MACHINE}) - {TTY} >>>"
        self.print(f"\n{issue}\n\n\n{hostname} login: ")

    def failed_units(self, units: list[str]) -> None:
        """systemd's console lines for units an activation left failed."""
        self.print("\n".join(line for unit in units for line in _failed_unit(unit)) + "\n")

    def typed(self, line: str, hostname: str, nixos_version: str) -> None:
        """A line typed on the console (`uart send`), answered as agetty and login(1) would."""
        if not self._awaiting_password:
            self.print(f"{line}\nPassword: ")
            self._awaiting_password = True
            return
        self.print("\n\nLogin incorrect\n")
        self.login_prompt(hostname, nixos_version)


# The device tree `model` the kernel prints. CM4: the Raspberry Pi firmware writes the board and
# its revision into the tree it hands the kernel ("Raspberry Pi Compute Module 4 Rev 1.0"; the
# mainline .dts files name only their carrier board). RK1: Linux
# arch/arm64/boot/dts/rockchip/rk3588-turing-rk1.dts, `model = "Turing Machines RK1"`.
_MODELS = {"cm4": "Raspberry Pi Compute Module 4 Rev 1.0", "rk1": "Turing Machines RK1"}


def _failed_unit(unit: str) -> list[str]:
    return [
        f"[FAILED] Failed to start {describe_unit(unit)}.",
        f"See 'systemctl status {unit}' for details.",
    ]
