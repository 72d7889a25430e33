# tp-node3: the CM4 in slot 3, the single k3s server until the RK1 nodes join for HA.
# Its hostname, SSH port and deployment target come from inventory.json (hosts/common.nix).
{ config, ... }:
let
  secretsFile = ../secrets/secrets.yaml;
in
{
  # --- k3s ---
  services.k3s = {
    enable = true;
    role = "server";
    # Embedded etcd from the start, so the RK1 servers can join later without a migration.
    clusterInit = true;
    extraFlags = "--disable traefik"; # bring your own ingress later
    tokenFile = config.sops.secrets.k3s_token.path;
  };

  # --- Secrets (Phase 5) ---
  # secrets/secrets.yaml is created with sops (nix/README.md); evaluation stops with this
  # message until it exists, rather than k3s silently generating a token of its own.
  sops.secrets.k3s_token = {
    sopsFile =
      if builtins.pathExists secretsFile then
        secretsFile
      else
        throw "nix/secrets/secrets.yaml is missing: create it with `sops secrets/secrets.yaml` at the repository's root (see nix/README.md)";
    restartUnits = [ "k3s.service" ];
  };

  # --- Longhorn storage (Phase 6) ---
  # The SATA SSD on the board's node-3 ports, formatted once with
  # `mkfs.ext4 -L longhorn /dev/sdX`. Mounted directly at Longhorn's default data path (the
  # plan's bind mount would give the same result with one more mount). nofail: the node still
  # boots without the disk, and Longhorn then reports the disk as unavailable.
  fileSystems."/var/lib/longhorn" = {
    device = "/dev/disk/by-label/longhorn";
    fsType = "ext4";
    options = [
      "noatime"
      "nofail"
      "x-systemd.device-timeout=30s"
    ];
  };
}
