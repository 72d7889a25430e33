# The lab's infra flake (seed/turing-pi-nixos-plan.md, Phases 3-7): NixOS configurations and
# the colmena hive for every non-deferred node of ./inventory.json, the pre-baked CM4 image,
# and labbot (package + NixOS module). See ./README.md for how to use it.
{
  description = "Turing Pi 2 lab: NixOS nodes, colmena hive, CM4 image and labbot";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";
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
  };

  outputs =
    {
      self,
      nixpkgs,
      sops-nix,
      nixos-generators,
      colmena,
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

      # The colmena hive. Fix to the plan's hive.nix: `import <nixpkgs>` is impure and fails
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
        # From this repository's root when the flake is used in place (`?dir=nix`); the
        # separate thelab-infra repository takes labbot as an input instead.
        labbot = nixpkgs.legacyPackages.${system}.callPackage ./pkgs/labbot.nix { };
      })) {
        # Phase 4: the bootstrap image, `nix build .#cm4-image` (built for aarch64-linux, e.g.
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

      # services.labbot, defaulting to this flake's labbot and colmena.
      nixosModules.labbot =
        { lib, pkgs, ... }:
        let
          system = pkgs.stdenv.hostPlatform.system;
        in
        {
          imports = [ ./modules/labbot.nix ];
          services.labbot.package = lib.mkDefault self.packages.${system}.labbot;
          services.labbot.colmenaPackage = lib.mkDefault colmena.packages.${system}.colmena;
        };
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
