# The repository's own flake.nix outputs, evaluated offline with stand-in inputs
# (./labbot-flake.nix), so a test can see which file builds labbot and from which `src`, and
# what its NixOS module sets.
{ root }:
let
  flake = import ./labbot-flake.nix { inherit root; };
  inherit (flake) outputs;
in
{
  inputs = builtins.attrNames (import (root + "/flake.nix")).inputs;
  package = outputs.packages.x86_64-linux.labbot;
  checks = builtins.attrNames outputs.checks.x86_64-linux;
  template = toString outputs.templates.infra.path;
  modules = builtins.attrNames outputs.nixosModules;
  module = flake.describeModule outputs.nixosModules.labbot "aarch64-linux";
}
