"""The simulated node's login shell: what every SSH command to a simulated node runs.

It reads `SSH_ORIGINAL_COMMAND` (or lines on stdin when there is none), splits it like a shell
(`;`, `&&`, `||`, `sudo`, `env`, `sh -c`), and runs the simulated commands. sshd reaches it through
`shell_client.c` and the warm `shell_server` process; `python -m labsim.nodes.shell DIR` runs it
directly. Standard library only: the server imports it once and forks per command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

from labsim.nodes import k3s_commands, nixos_commands, system_commands, systemctl
from labsim.nodes.activation import switch_to_configuration
from labsim.nodes.invocation import Handler, Invocation
from labsim.nodes.nodestate import NodeFiles
from labsim.nodes.rootfs import NodeRoot

COMMAND_LOG = "var/log/labsim-commands.log"
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRECTIONS = {">", ">>", "<", ">&", "&>", "<&", "&>>"}
_SEPARATORS = {";", "&&", "||"}

COMMANDS: dict[str, Handler] = {
    "nixos-version": nixos_commands.nixos_version,
    "nixos-rebuild": nixos_commands.nixos_rebuild,
    "nix-env": nixos_commands.nix_env,
    "nix-store": nixos_commands.nix_store,
    "readlink": nixos_commands.readlink,
    "realpath": nixos_commands.readlink,
    "systemctl": systemctl.systemctl,
    "uptime": system_commands.uptime,
    "cat": system_commands.cat,
    "df": system_commands.df,
    "hostname": system_commands.hostname,
    "journalctl": system_commands.journalctl,
    "sleep": system_commands.sleep,
    "echo": system_commands.echo,
    "whoami": system_commands.whoami,
    "uname": system_commands.uname,
    "true": system_commands.constant(0),
    "false": system_commands.constant(1),
    "cd": system_commands.constant(0),
    "kubectl": k3s_commands.kubectl,
    "k3s": k3s_commands.kubectl,
}


def split_commands(line: str) -> list[tuple[str, list[str]]]:
    """Split a command line into (separator-before, argv) pairs; redirections are dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    result: list[tuple[str, list[str]]] = []
    separator = ";"
    current: list[str] = []
    tokens = list(lexer)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _SEPARATORS:
            if current:
                result.append((separator, current))
            separator, current = token, []
        elif token in _REDIRECTIONS:
            if current and current[-1].isdigit():
                current.pop()
            index += 1
        elif token in ("|", "&"):
            raise ValueError(f"labsim: '{token}' is not simulated")
        else:
            current.append(token)
        index += 1
    if current:
        result.append((separator, current))
    return result


def run_line(line: str, base: Invocation) -> int:
    """Run one command line as bash -c would, returning the last exit status."""
    try:
        commands = split_commands(line)
    except ValueError as exc:
        base.warn(f"bash: {exc}")
        return 2
    status = 0
    for separator, argv in commands:
        if separator == "&&" and status != 0:
            continue
        if separator == "||" and status == 0:
            continue
        status = run_argv(base.with_argv(argv))
        base.out.flush()
    return status


def run_argv(inv: Invocation) -> int:
    """Run one simple command: strip assignments/sudo/env/exec, then dispatch by name."""
    argv = list(inv.argv)
    while argv and _ASSIGNMENT.match(argv[0]):
        argv.pop(0)
    if not argv:
        return 0
    name = argv[0]
    base = name.rsplit("/", 1)[-1]
    if base == "sudo":
        return _sudo(inv.with_argv(argv))
    if base == "env":
        rest = argv[1:]
        while rest and (_ASSIGNMENT.match(rest[0]) or rest[0].startswith("-")):
            rest.pop(0)
        return run_argv(inv.with_argv(rest))
    if base in ("exec", "command", "nohup"):
        return run_argv(inv.with_argv(argv[1:]))
    if base in ("sh", "bash") and len(argv) >= 3 and argv[1] == "-c":
        return run_line(argv[2], inv)
    if name.endswith("/bin/switch-to-configuration"):
        system = inv.root.resolve(name.removesuffix("/bin/switch-to-configuration"), strict=True)
        if system is None or not inv.root.exists(name):
            inv.warn(f"bash: {name}: No such file or directory")
            return 127
        return switch_to_configuration(inv.with_argv(argv), system)
    handler = COMMANDS.get(base)
    if handler is None or ("/" in name and not _plausible_binary(name)):
        inv.warn(f"bash: {name}: command not found")
        return 127
    return handler(inv.with_argv(argv))


def _plausible_binary(path: str) -> bool:
    return path.startswith(("/run/current-system/", "/nix/store/", "/run/wrappers/", "/usr/bin/"))


def _sudo(inv: Invocation) -> int:
    args = inv.argv[1:]
    privileged = True
    interactive = True
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag == "--":
            break
        if flag in ("-n", "--non-interactive"):
            interactive = False
        elif flag in ("-u", "--user") and args:
            privileged = args.pop(0) in ("root", "0", "#0")
        elif flag.startswith("--user="):
            privileged = flag.split("=", 1)[1] in ("root", "0", "#0")
    if not args:
        inv.warn("usage: sudo -h | -K | -k | -V")
        return 1
    if inv.user != "root" and inv.files.load_state().sudo_needs_password:
        return _password_refused(inv, interactive)
    return run_argv(inv.with_argv(args, privileged=privileged))


def _password_refused(inv: Invocation, interactive: bool) -> int:
    """sudo for a user without NOPASSWD, over SSH with no terminal: it cannot ask, so it fails.

    With -n, sudoers refuses before prompting: plugins/sudoers/check.c (MODE_NONINTERACTIVE ->
    log_auth_failure) and plugins/sudoers/logging.c print "a password is required". Without
    -n, src/tgetpass.c finds no /dev/tty under SSH_CONNECTION without SSH_TTY and says so
    first (github.com/sudo-project/sudo). Either way the command does not run and sudo exits 1.
    """
    if interactive:
        inv.warn(
            "sudo: a terminal is required to read the password; either use ssh's -t option "
            "or configure an askpass helper"
        )
    inv.warn("sudo: a password is required")
    return 1


def _log_command(files: NodeFiles, user: str, line: str) -> None:
    log = files.root / COMMAND_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": time.time(), "user": user, "command": line}
    with open(log, "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m labsim.nodes.shell STATE_DIR`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m labsim.nodes.shell STATE_DIR\n")
        return 2
    root = Path(args[0])
    if not (root / "etc/labsim").is_dir():
        sys.stderr.write(f"labsim: {root} is not a simulated node's state directory\n")
        return 2
    files = NodeFiles(root)
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "root"
    hang = files.load_state().hang_seconds
    if hang > 0:
        time.sleep(hang)
    base = Invocation(
        argv=[],
        root=NodeRoot(root),
        files=files,
        user=user,
        privileged=user == "root",
        stdin=sys.stdin.buffer,
        out=sys.stdout,
        err=sys.stderr,
    )
    line = os.environ.get("SSH_ORIGINAL_COMMAND")
    if line is not None:
        _log_command(files, user, line)
        return run_line(line, base)
    status = 0
    for raw in sys.stdin:
        if raw.strip():
            _log_command(files, user, raw.strip())
            status = run_line(raw, base)
    return status


def run_session(argv: list[str] | None = None) -> int:
    """`main`, then flush stdout; a reader that went away gives 141 like bash's SIGPIPE."""
    try:
        code = main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141
    return code


if __name__ == "__main__":
    sys.exit(run_session())
