# labbot's own flake.nix (this repository's root) evaluated as a flake input is: its outputs,
# given stand-ins for what needs nixpkgs (`callPackage` returns which file it was called with and
# on which `src`) and a colmena input (the infra flake passes its own, as `follows` does).
{
  root,
  colmena ? {
    packages = (import ./stand-in-lib.nix).genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: {
      colmena = "colmena-from-input";
    });
  },
}:
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
  self = outputs // {
    outPath = root;
  };
  outputs = (import (root + "/flake.nix")).outputs { inherit self nixpkgs colmena; };
in
{
  inherit outputs;
  # What a NixOS module from the flake sets on a machine of `system`: the files it imports and
  # services.labbot's package and colmena (`mkDefault` stands in as the value itself).
  describeModule =
    module: system:
    let
      set = module {
        lib.mkDefault = value: value;
        pkgs.stdenv.hostPlatform.system = system;
      };
    in
    {
      imports = map toString set.imports;
      inherit (set.services.labbot) package colmenaPackage;
    };
}
