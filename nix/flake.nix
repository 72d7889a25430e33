# The lab's infra flake: NixOS configurations and the colmena hive for every non-deferred node
# of ./inventory.json, and the pre-baked CM4 image. labbot (its package and NixOS module) comes
# from the `labbot` input, never copied here. Made with `nix flake init -t <labbot>#infra`; the
# first step after that is `nix flake lock`. See ./README.md.
{
  description = "Turing Pi 2 lab: NixOS nodes, colmena hive, CM4 image and labbot";

  inputs = {
    # A supported NixOS release (26.05 is maintained until the end of 2026).
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nixos-generators = {
      url = "github:nix-community/nixos-generators";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # The colmena CLI must match this input (its `lib.makeHive` schema); use the CLI from this
    # flake's dev shell (`nix develop`), not nixpkgs' 0.4.0. The repository moved to
    # nix-community/colmena; GitHub redirects the old name. Not following our nixpkgs: the CLI
    # is built against the nixpkgs colmena itself was tested with.
    colmena.url = "github:zhaofengli/colmena";
    # labbot itself: its package and services.labbot. Point it at where labbot lives.
    labbot = {
      url = "github:OWNER/labbot";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.colmena.follows = "colmena";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      sops-nix,
      nixos-generators,
      colmena,
      labbot,
    }:
    let
      inherit (nixpkgs) lib;

      # Nodes and addresses, shared with labbot (it reads the same inventory.json).
      inventory = import ./lib/inventory.nix { };
      nodeSystem = "aarch64-linux";

      # `nixos-version --json` then reports the commit a node runs (zhaofengli/colmena 0.4.0);
      # a dirty tree gives `<rev>-dirty`, an unversioned path null.
      revisionModule = {
        system.configurationRevision = self.rev or self.dirtyRev or null;
      };

      # One list of modules per node, used by both nixosConfigurations and the hive, so
      # `nixos-rebuild` and `colmena apply` build the same system.
      nodeModules =
        name:
        let
          node = inventory.nodes.${name};
        in
        [
          sops-nix.nixosModules.sops
          (./hardware + "/${node.module}.nix")
          ./hosts/common.nix
          (./hosts + "/${name}.nix")
          revisionModule
        ];
      nodeArgs = name: {
        inherit inventory;
        node = inventory.nodes.${name};
      };

      workstations = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ];
      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
    in
    {
      # Deferred nodes (inventory `deferred: true`, the RK1s) are listed but never built.
      nixosConfigurations = lib.genAttrs inventory.active (
        name:
        lib.nixosSystem {
          system = nodeSystem;
          specialArgs = nodeArgs name;
          modules = nodeModules name;
        }
      );

      # The colmena hive. Not a hive.nix with `import <nixpkgs>`: that is impure and fails
      # under flake evaluation (there is no NIX_PATH), and would build against whatever channel
      # the deployer has; flakes must pass the pinned input instead (zhaofengli/colmena 0.4.0).
      # Deployment targets come from the inventory rather than hand-written addresses.
      colmena = {
        meta = {
          description = "Turing Pi 2 lab";
          nixpkgs = import nixpkgs { system = nodeSystem; };
          nodeSpecialArgs = lib.genAttrs inventory.active nodeArgs;
        };
      }
      // lib.genAttrs inventory.active (name: {
        imports = nodeModules name;
        deployment = inventory.deployment.${name};
      });
      colmenaHive = colmena.lib.makeHive self.outputs.colmena;

      packages = lib.recursiveUpdate (lib.genAttrs linuxSystems (system: {
        labbot = labbot.packages.${system}.labbot;
      })) {
        # The bootstrap image, `nix build .#cm4-image` (built for aarch64-linux, e.g.
        # on nix-darwin's linux-builder).
        ${nodeSystem}.cm4-image = nixos-generators.nixosGenerate {
          system = nodeSystem;
          modules = [
            ./hardware/cm4.nix
            ./images/base.nix
            revisionModule
          ];
          format = "sd-aarch64";
        };
      };

      # services.labbot from the labbot input (its package and colmena by default).
      nixosModules.labbot = labbot.nixosModules.labbot;
      nixosModules.default = self.nixosModules.labbot;

      # `nix develop`: the matching colmena CLI, sops, age and ssh-to-age.
      devShells = lib.genAttrs workstations (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          default = pkgs.mkShell {
            packages = [
              colmena.packages.${system}.colmena
              pkgs.sops
              pkgs.age
              pkgs.ssh-to-age
            ];
          };
        }
      );
    };
}
