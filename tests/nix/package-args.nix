# What packaging/pkgs/labbot.nix passes to buildPythonApplication, evaluated offline with stand-ins
# for `lib` and `python3Packages` built from builtins (tests/nix/test_nix_package.py).
# `withPyrage` models a nixpkgs that has (or lacks) the optional pyrage package.
{
  src,
  withPyrage ? true,
  setuptoolsVersion ? "75.1.0",
}:
let
  inherit (builtins) attrNames filter listToAttrs;
  filterAttrs =
    pred: set:
    listToAttrs (
      map (name: {
        inherit name;
        value = set.${name};
      }) (filter (name: pred name set.${name}) (attrNames set))
    );
  lib = {
    inherit filterAttrs;
    inherit (builtins) attrNames attrValues;
    importTOML = path: builtins.fromTOML (builtins.readFile path);
    cleanSourceWith = args: args;
    cleanSourceFilter = _path: _type: true;
    removePrefix =
      prefix: s:
      let
        n = builtins.stringLength prefix;
      in
      if builtins.substring 0 n s == prefix then builtins.substring n (-1) s else s;
    splitString = sep: s: filter builtins.isString (builtins.split sep s);
    hasSuffix =
      suffix: s:
      let
        n = builtins.stringLength suffix;
        m = builtins.stringLength s;
      in
      m >= n && builtins.substring (m - n) n s == suffix;
    optionalString = cond: s: if cond then s else "";
    versionOlder = a: b: builtins.compareVersions a b < 0;
    makeBinPath = packages: builtins.concatStringsSep ":" (map (p: "${p}/bin") packages);
    licenses.mit = "MIT";
    platforms.linux = [ "linux" ];
  };
  deps = import ../../packaging/pkgs/labbot-deps.nix;
  # Every attribute labbot-deps.nix names exists, as its own name; pyrage only if asked.
  named = listToAttrs (
    map (attr: {
      name = attr;
      value = attr;
    }) (builtins.attrValues deps.dependencies ++ (if withPyrage then builtins.attrValues deps.optional else [ ]))
  );
  python3Packages = named // {
    buildPythonApplication = args: args;
    setuptools = {
      version = setuptoolsVersion;
    };
    wheel = "wheel";
    greenlet = "greenlet";
    sqlalchemy = {
      pname = "sqlalchemy";
      optional-dependencies.asyncio = [ "greenlet" ];
    };
  };
  args = import ../../packaging/pkgs/labbot.nix {
    inherit lib python3Packages src;
    sops = "/nix/store/sops";
  };
  root = toString src;
in
{
  inherit (args)
    pname
    version
    pyproject
    pythonRelaxDeps
    pythonRemoveDeps
    makeWrapperArgs
    pythonImportsCheck
    postPatch
    meta
    ;
  dependencies = map (d: if builtins.isAttrs d then d.pname else d) args.dependencies;
  sourceName = args.src.name;
  kept = map (rel: args.src.filter "${root}/${rel}" "regular") [
    "pyproject.toml"
    "README.md"
    "bot/cli.py"
    "handlers/__init__.py"
    "labsim/lab.py"
    "tests/bot/test_parser.py"
    ".venv/bin/python"
    "bot/__pycache__"
    "bot/cli.cpython-311.pyc"
    "nix/flake.nix"
  ];
}
