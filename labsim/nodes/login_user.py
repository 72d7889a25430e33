"""Make a configured SSH user name (e.g. `deploy`) resolvable for the simulated nodes' sshd.

sshd only accepts users that `getpwnam()` knows, and every simulated node's sshd runs as the
current user. When the name is the current user nothing is done. Otherwise, when running as root
on a host whose NSS consults systemd (`passwd: files systemd`, Debian's default with
libnss-systemd), we add a JSON user record under `/run/userdb/` (systemd's drop-in user database,
volatile, gone at reboot) that aliases the name to uid 0 with no usable password. sshd then accepts
key logins for it and runs the node shell as root, which reads `$USER` to tell `deploy` from
`root` (so `sudo` matters inside the simulation). Records are left in place on purpose: several
test processes may share one. This module must not be used outside the simulated lab.
"""

from __future__ import annotations

import json
import os
import pwd
import re
from pathlib import Path

USERDB_DIR = Path("/run/userdb")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


class LoginUserError(RuntimeError):
    """Raised when the requested SSH user name cannot be made to work on this host."""


def current_user() -> str:
    """The name of the user this process (and so every simulated sshd) runs as."""
    return pwd.getpwuid(os.geteuid()).pw_name


def ensure_login_user(name: str, userdb_dir: Path = USERDB_DIR) -> None:
    """Make sure sshd (running as the current user) accepts logins as `name`."""
    if not _NAME.match(name):
        raise LoginUserError(f"{name!r} is not a valid user name for the simulated nodes")
    if name == current_user():
        return
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is not None:
        if entry.pw_uid == os.geteuid():
            return
        raise LoginUserError(
            f"user {name} exists on this host with uid {entry.pw_uid}; the simulated nodes run "
            f"as uid {os.geteuid()} and can only accept that uid — use user={current_user()!r}"
        )
    if os.geteuid() != 0:
        raise LoginUserError(
            f"SSH user {name!r} needs root to be aliased; run as root or use "
            f"user={current_user()!r}"
        )
    _write_record(name, userdb_dir)
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise LoginUserError(
            f"wrote a user record for {name!r} to {userdb_dir} but NSS does not see it "
            "(is libnss-systemd installed and 'systemd' listed for passwd in /etc/nsswitch.conf?)"
        ) from None


def _write_record(name: str, userdb_dir: Path) -> None:
    userdb_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "userName": name,
        "uid": 0,
        "gid": 0,
        "realName": "labsim simulated node login",
        "homeDirectory": "/",
        "shell": "/bin/sh",
        "disposition": "regular",
    }
    # "*" (no password) rather than the default "!*": sshd treats "!" as a locked account.
    privileged = {"privileged": {"hashedPassword": ["*"]}}
    _atomic_write(userdb_dir / f"{name}.user", json.dumps(record), 0o644)
    _atomic_write(userdb_dir / f"{name}.user-privileged", json.dumps(privileged), 0o600)


def _atomic_write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
