"""nix CLI test double: `nix build` of SD images, `nix store diff-closures`, `nix flake metadata`.

Install it as `nix` with `labsim.colmena.install_nix_double(bin_dir, nix_store=...)`.
"""
