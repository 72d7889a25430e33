# The repository's own flake.nix outputs, evaluated offline with stand-in inputs: `callPackage`
# returns what it was called with, so a test can see which file builds labbot and from which
# `src`.
{ root }:
let
  inherit (import ./stand-in-lib.nix) genAttrs;
  pkgsFor = system: {
    callPackage = file: args: {
      file = toString file;
      src = toString args.src;
    };
    inherit system;
    stdenv.hostPlatform.system = system;
  };
  nixpkgs = {
    lib = { inherit genAttrs; };
    legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
  };
  colmena.packages = genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: {
    colmena = "colmena-from-input";
  });
  self = outputs // {
    outPath = root;
  };
  outputs = (import (root + "/flake.nix")).outputs { inherit self nixpkgs colmena; };
in
{
  inputs = builtins.attrNames (import (root + "/flake.nix")).inputs;
  package = outputs.packages.x86_64-linux.labbot;
  checks = builtins.attrNames outputs.checks.x86_64-linux;
  template = toString outputs.templates.infra.path;
  modules = builtins.attrNames outputs.nixosModules;
}
