# labbot's own flake: the package, the NixOS module (services.labbot), an overlay, a dev shell,
# checks, and the infra flake as a template (`nix flake init -t github:OWNER/labbot#infra`), which
# takes this flake as its `labbot` input: the lab's repository never copies labbot's sources, so
# the two cannot drift.
{
  description = "labbot: Slack chat-ops for a NixOS homelab on a Turing Pi 2";

  inputs = {
    # A supported NixOS release (26.05 is maintained until the end of 2026); Renovate's nix
    # manager proposes the next one through flake.lock.
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # The colmena that services.labbot runs: the CLI that reads the hive schema the infra flake
    # builds with the same input (nixpkgs' colmena 0.4.0 cannot read `colmenaHive`).
    colmena.url = "github:zhaofengli/colmena";
  };

  outputs =
    {
      self,
      nixpkgs,
      colmena,
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # Built from this repository itself: `src` is this flake's own tree.
      labbotFor = pkgs: pkgs.callPackage ./packaging/pkgs/labbot.nix { src = self; };
    in
    {
      packages = forSystems (pkgs: {
        labbot = labbotFor pkgs;
        default = labbotFor pkgs;
      });

      overlays.default = final: _prev: { labbot = labbotFor final; };

      # services.labbot, defaulting to this flake's labbot and colmena.
      nixosModules.labbot =
        { lib, pkgs, ... }:
        let
          system = pkgs.stdenv.hostPlatform.system;
        in
        {
          imports = [ ./packaging/modules/labbot.nix ];
          services.labbot.package = lib.mkDefault self.packages.${system}.labbot;
          services.labbot.colmenaPackage = lib.mkDefault colmena.packages.${system}.colmena;
        };
      nixosModules.default = self.nixosModules.labbot;

      # `nix develop`: Python for the code, and the tools the tests and the lab use.
      devShells = forSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.python311
            pkgs.sops
            pkgs.age
            pkgs.openssh
            pkgs.git
            colmena.packages.${pkgs.stdenv.hostPlatform.system}.colmena
          ];
        };
      });

      checks = forSystems (pkgs: {
        labbot = labbotFor pkgs;
      });

      templates.infra = {
        path = ./nix;
        description = "The lab's infra flake: NixOS nodes, the colmena hive, the CM4 image, labbot";
        welcomeText = ''
          Next: set the `labbot` input's URL to where labbot lives, run `nix flake lock` and
          commit flake.lock (Renovate and labbot need it), then follow README.md.
        '';
      };
      templates.default = self.templates.infra;
    };
}
