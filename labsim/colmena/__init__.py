"""colmena test double: colmena 0.4.0's CLI and plain-mode output, really deploying to labsim nodes.

Install it as `colmena` with `install_colmena_double(bin_dir, ssh_config=..., nix_store=...)` (or
`SimCluster.write_tools`); it reads node facts from `<hive dir>/inventory.json`.
"""

from __future__ import annotations

from labsim.colmena.install import install_colmena_double, install_nix_double

__all__ = ["install_colmena_double", "install_nix_double"]
