"""Write the `colmena` and `nix` wrapper scripts that run the labsim doubles.

Each wrapper is a POSIX sh script: it defaults the doubles' environment (SSH_CONFIG_FILE,
LABSIM_NIX_STORE) unless the caller set it, and execs this interpreter on the double's module.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import labsim

STORE_ENV = "LABSIM_NIX_STORE"
SSH_CONFIG_ENV = "SSH_CONFIG_FILE"


def _write_wrapper(path: Path, module: str, defaults: dict[str, str], what: str) -> Path:
    package_parent = Path(labsim.__file__).resolve().parent.parent
    lines = [
        "#!/bin/sh",
        f"# labsim {what} double (written by labsim.colmena.install); not the real tool.",
    ]
    for name, value in defaults.items():
        lines.append(f'if [ -z "${{{name}:-}}" ]; then {name}={shlex.quote(value)}; fi')
        lines.append(f"export {name}")
    parent = shlex.quote(str(package_parent))
    lines.append(f'PYTHONPATH={parent}"${{PYTHONPATH:+:$PYTHONPATH}}"')
    lines.append("export PYTHONPATH")
    lines.append(f'exec {shlex.quote(sys.executable)} -m {module} "$@"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


def install_colmena_double(
    bin_dir: Path, *, ssh_config: Path | None = None, nix_store: Path | None = None
) -> Path:
    """Write `<bin_dir>/colmena`; ssh_config becomes the default SSH_CONFIG_FILE."""
    defaults = {}
    if ssh_config is not None:
        defaults[SSH_CONFIG_ENV] = str(ssh_config)
    if nix_store is not None:
        defaults[STORE_ENV] = str(nix_store)
    return _write_wrapper(bin_dir / "colmena", "labsim.colmena", defaults, "colmena")


def install_nix_double(bin_dir: Path, *, nix_store: Path | None = None) -> Path:
    """Write `<bin_dir>/nix` (the `nix` CLI double)."""
    defaults = {STORE_ENV: str(nix_store)} if nix_store is not None else {}
    return _write_wrapper(bin_dir / "nix", "labsim.nixtool", defaults, "nix")
