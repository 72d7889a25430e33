"""NixOS and Nix commands of the simulated node: nixos-version, nix-env, nix-store, readlink, ...

Output formats follow the real tools (nix-env's `%4d   YYYY-MM-DD HH:MM:SS   (current)` lines,
`nixos-version --json` as compact sorted JSON); `switch-to-configuration` lives in `activation`.
"""

from __future__ import annotations

import json
import time

from labsim.nodes.invocation import Invocation
from labsim.nodes.rootfs import CURRENT_SYSTEM, SYSTEM_PROFILE, Generation
from labsim.nodes.storepaths import STORE_DIR, code_name

IMPORT_STREAM_MAGIC = "labsim-nar-export 1"


def nixos_version(inv: Invocation) -> int:
    """`nixos-version [--json|--revision|--configuration-revision|--kernel-version]`."""
    info = inv.root.system_info(CURRENT_SYSTEM)
    if info is None:
        inv.warn("nixos-version: /run/current-system is not a NixOS system")
        return 1
    flag = inv.argv[1] if len(inv.argv) > 1 else ""
    if flag == "--json":
        payload: dict[str, str] = {
            "nixosVersion": info.nixos_version,
            "nixpkgsRevision": info.nixpkgs_revision,
        }
        if info.configuration_revision:
            payload["configurationRevision"] = info.configuration_revision
        inv.say(json.dumps(payload, sort_keys=True, separators=(",", ":")))
    elif flag in ("--hash", "--revision"):
        inv.say(info.nixpkgs_revision)
    elif flag == "--configuration-revision":
        if not info.configuration_revision:
            # Wording inferred: nixos-version.sh fails when the revision is unset.
            inv.warn("nixos-version: configuration revision is unknown")
            return 1
        inv.say(info.configuration_revision)
    elif flag == "--kernel-version":
        inv.say(info.kernel_version)
    elif flag == "--specialisations":
        pass
    else:
        inv.say(f"{info.nixos_version} ({code_name(info.nixos_version)})")
    return 0


def nixos_rebuild(inv: Invocation) -> int:
    """`nixos-rebuild list-generations [--json]` (run on the node, nixos-rebuild-ng's format)."""
    args = inv.argv[1:]
    if not args or args[0] != "list-generations":
        inv.warn("nixos-rebuild: labsim simulates only 'list-generations' on the node")
        return 1
    rows = []
    for gen in reversed(inv.root.generations()):
        info = inv.root.system_info(gen.path)
        rows.append(
            {
                "generation": gen.number,
                "date": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(gen.created)),
                "nixosVersion": info.nixos_version if info else "Unknown",
                "kernelVersion": info.kernel_version if info else "Unknown",
                "configurationRevision": (info.configuration_revision or "") if info else "",
                "specialisations": [],
                "current": gen.current,
            }
        )
    if "--json" in args:
        inv.say(json.dumps(rows, indent=2))
        return 0
    inv.say("Generation  Build-date           NixOS version                Kernel   Current")
    for row in rows:
        mark = "*" if row["current"] else ""
        inv.say(
            f"{row['generation']:<11} {row['date']:<20} {row['nixosVersion']:<28} "
            f"{row['kernelVersion']:<8} {mark}"
        )
    return 0


def format_generation(gen: Generation) -> str:
    """One `nix-env --list-generations` line, exactly as nix-env prints it (trailing spaces too)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(gen.created))
    return f"{gen.number:4d}   {stamp}   {'(current)' if gen.current else ''}"


def nix_env(inv: Invocation) -> int:
    """`nix-env -p SYSTEM_PROFILE --list-generations|--set P|--switch-generation N|--rollback`."""
    profile: str | None = None
    operation: str | None = None
    operand: list[str] = []
    dry_run = False
    args = inv.argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-p", "--profile") and i + 1 < len(args):
            profile = args[i + 1]
            i += 2
            continue
        if arg == "--dry-run":
            dry_run = True
        elif arg in ("--list-generations", "--rollback"):
            operation = arg
        elif arg in ("--set", "--switch-generation", "-G") and i + 1 < len(args):
            operation = "--switch-generation" if arg == "-G" else arg
            operand = [args[i + 1]]
            i += 1
        elif arg == "--delete-generations":
            operation = arg
            operand = args[i + 1 :]
            break
        else:
            inv.warn(f"error: labsim: nix-env argument '{arg}' is not simulated")
            return 1
        i += 1
    if operation is None:
        inv.warn("error: no operation specified")
        inv.warn("Try 'nix-env --help' for more information.")
        return 1
    profile = (profile or "").rstrip("/")
    if profile != SYSTEM_PROFILE:
        inv.warn(f"error: labsim simulates only the profile {SYSTEM_PROFILE}, not '{profile}'")
        return 1
    if not inv.privileged:
        inv.warn(f"error: opening lock file '{SYSTEM_PROFILE}.lock': Permission denied")
        return 1
    with inv.files.locked():
        return _nix_env_locked(inv, operation, operand, dry_run)


def _nix_env_locked(inv: Invocation, operation: str, operand: list[str], dry_run: bool) -> int:
    root = inv.root
    gens = root.generations()
    current = root.current_generation()
    if operation == "--list-generations":
        for gen in gens:
            inv.say(format_generation(gen))
        return 0
    if operation == "--set":
        path = operand[0].rstrip("/")
        if not path.startswith(STORE_DIR + "/"):
            inv.warn(f"error: path '{path}' is not in the Nix store")
            return 1
        if not root.has_store_path(path):
            inv.warn(f"error: path '{path}' is not valid")
            return 1
        if not dry_run:
            root.set_profile(path)
        return 0
    if operation == "--delete-generations":
        return _delete_generations(inv, gens, current, operand, dry_run)
    target: int | None
    if operation == "--rollback":
        older = [g.number for g in gens if current is not None and g.number < current]
        if not older:
            inv.warn(f"error: no profile version older than the current ({current or 0}) exists")
            return 1
        target = older[-1]
    else:
        try:
            target = int(operand[0])
        except ValueError:
            inv.warn(f"error: invalid number '{operand[0]}'")
            return 1
        if target not in {g.number for g in gens}:
            inv.warn(f"error: profile version {target} does not exist")
            return 1
    inv.warn(f"switching profile from version {current or 0} to {target}")
    if not dry_run:
        root.switch_generation(target)
    return 0


def _delete_generations(
    inv: Invocation, gens: list[Generation], current: int | None, spec: list[str], dry_run: bool
) -> int:
    if spec == ["old"]:
        doomed = [g.number for g in gens if g.number != current]
    else:
        try:
            wanted = {int(s) for s in spec}
        except ValueError:
            inv.warn(f"error: labsim: generation spec {' '.join(spec)!r} is not simulated")
            return 1
        doomed = [g.number for g in gens if g.number in wanted and g.number != current]
    for number in doomed:
        inv.warn(f"{'would remove' if dry_run else 'removing'} profile version {number}")
        if not dry_run:
            inv.root.delete_generation(number)
    return 0


def nix_store(inv: Invocation) -> int:
    """`nix-store --import` (labsim stream, see `IMPORT_STREAM_MAGIC`) and `--check-validity`."""
    args = inv.argv[1:]
    if args[:1] == ["--import"]:
        return _import(inv)
    if args[:1] == ["--check-validity"]:
        print_invalid = "--print-invalid" in args
        paths = [a for a in args[1:] if not a.startswith("--")]
        for path in paths:
            if inv.root.has_store_path(path.rstrip("/")):
                continue
            if not print_invalid:
                inv.warn(f"error: path '{path}' is not valid")
                return 1
            inv.say(path)
        return 0
    inv.warn(f"error: labsim: nix-store {' '.join(args)} is not simulated")
    return 1


def _import(inv: Invocation) -> int:
    data = inv.stdin.read().decode()
    lines = data.splitlines()
    if not lines or lines[0] != IMPORT_STREAM_MAGIC:
        inv.warn("error: input doesn't look like something created by 'nix-store --export'")
        return 1
    entries = [json.loads(line) for line in lines[1:] if line.strip()]
    trusted = inv.privileged or inv.user in inv.identity.trusted_users
    with inv.files.locked():
        for entry in entries:
            path = str(entry["path"])
            if not path.startswith(STORE_DIR + "/") or "/" in path[len(STORE_DIR) + 1 :]:
                inv.warn(f"error: path '{path}' is not in the Nix store")
                return 1
            if not trusted:
                inv.warn(
                    f"error: cannot add path '{path}' because it lacks a signature by a trusted key"
                )
                return 1
            files = {str(k): str(v) for k, v in dict(entry.get("files", {})).items()}
            inv.root.add_store_path(path, files)
            inv.say(path)
    return 0


def readlink(inv: Invocation) -> int:
    """`readlink [-f|-e|-m] [-n] PATH...` and `realpath PATH...` over the node's filesystem."""
    mode = "raw" if inv.argv[0].endswith("readlink") else "canonical"
    strict = inv.argv[0].endswith("realpath")
    newline = True
    paths = []
    for arg in inv.argv[1:]:
        if arg.startswith("-") and arg != "-":
            letters = set(arg.lstrip("-")) if not arg.startswith("--") else {arg[2:3]}
            if letters & {"f", "c"} or arg == "--canonicalize":
                mode = "canonical"
            if letters & {"e"} or arg == "--canonicalize-existing":
                mode, strict = "canonical", True
            if letters & {"m"}:
                mode, strict = "canonical", False
            if "n" in letters:
                newline = False
            continue
        paths.append(arg)
    status = 0
    for path in paths:
        if mode == "raw":
            text = inv.root.readlink(path)
        else:
            text = inv.root.resolve(path, strict=strict)
        if text is None:
            status = 1
            continue
        inv.out.write(text + ("\n" if newline else ""))
    return status
