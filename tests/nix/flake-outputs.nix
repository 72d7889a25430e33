# nix/flake.nix's outputs, evaluated offline with stand-in inputs built from builtins (there is
# no nixpkgs and no network in the tests). `nixosSystem`, `makeHive` and `nixosGenerate` just
# return their arguments, so tests/nix/test_nix_flake.py can check which nodes are built, from
# which modules, with which deployment targets and configurationRevision. The `labbot` input is
# labbot's own flake at `labbotRoot` (./labbot-flake.nix), with this flake's colmena as its
# `follows` says.
{
  flakeDir,
  rev ? null,
  dirtyRev ? null,
  labbotRoot ? ../..,
}:
let
  inherit (import ./stand-in-lib.nix) genAttrs;
  lib = {
    inherit genAttrs;
    nixosSystem = args: { nixosSystemArgs = args; };
    recursiveUpdate =
      a: b: a // builtins.mapAttrs (name: value: if a ? ${name} then a.${name} // value else value) b;
  };
  nixpkgs = {
    inherit lib;
    legacyPackages = { };
  };
  sops-nix.nixosModules.sops = {
    stubInput = "sops-nix";
  };
  colmena = {
    lib.makeHive = hive: { madeFrom = hive; };
    packages = genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: {
      colmena = "colmena-of-the-infra-flake";
    });
  };
  nixos-generators.nixosGenerate = args: { nixosGenerateArgs = args; };
  labbotFlake = import ./labbot-flake.nix {
    root = labbotRoot;
    inherit colmena;
  };
  labbot = labbotFlake.outputs;

  revision =
    (if rev != null then { inherit rev; } else { })
    // (if dirtyRev != null then { inherit dirtyRev; } else { });
  # As for a real flake, `self` is the outputs plus `outputs`, `outPath` and the revision.
  self = outputs // revision // {
    inherit outputs;
    outPath = flakeDir;
  };
  outputs = (import (flakeDir + "/flake.nix")).outputs {
    inherit
      self
      nixpkgs
      sops-nix
      nixos-generators
      colmena
      labbot
      ;
  };

  # Paths as strings (never copied to the store), input modules by name, the rest as is.
  describe =
    module:
    if builtins.isPath module then
      toString module
    else if module ? stubInput then
      "input:${module.stubInput}"
    else
      module;

  hiveNodes = removeAttrs outputs.colmena [ "meta" ];
in
{
  inputs = builtins.attrNames (import (flakeDir + "/flake.nix")).inputs;
  nixosConfigurations = builtins.mapAttrs (_: c: {
    inherit (c.nixosSystemArgs) system;
    modules = map describe c.nixosSystemArgs.modules;
    node = c.nixosSystemArgs.specialArgs.node;
  }) outputs.nixosConfigurations;
  hive = {
    nodes = builtins.mapAttrs (_: n: {
      imports = map describe n.imports;
      inherit (n) deployment;
    }) hiveNodes;
    nodeSpecialArgs = builtins.mapAttrs (_: a: a.node.name) outputs.colmena.meta.nodeSpecialArgs;
    madeFromColmenaOutput = builtins.attrNames outputs.colmenaHive.madeFrom == builtins.attrNames outputs.colmena;
  };
  labbot = {
    package = outputs.packages.x86_64-linux.labbot;
    module = labbotFlake.describeModule outputs.nixosModules.labbot "aarch64-linux";
  };
  image =
    let
      args = outputs.packages.aarch64-linux.cm4-image.nixosGenerateArgs;
    in
    {
      inherit (args) system format;
      modules = map describe args.modules;
    };
}
