# Shared by every node: users, SSH, firewall, locale, base packages, Nix, sops-nix and the
# Longhorn prerequisites. `node` is this node's inventory entry (lib/inventory.nix), passed by
# flake.nix as a special argument to both nixosConfigurations and the colmena hive.
{
  config,
  lib,
  pkgs,
  node,
  ...
}:
{
  imports = [ ./deploy-user.nix ];

  assertions = [
    {
      # colmena logs in as the inventory's user; it must be the one hosts/deploy-user.nix creates.
      assertion = node.user == "deploy" && config.users.users ? ${node.user};
      message = "inventory.json: ${node.name} has user '${node.user}', but hosts/deploy-user.nix creates 'deploy'";
    }
  ];

  # --- Kernel: k3s needs the memory cgroup, which the Raspberry Pi kernel leaves off by
  # default (k3s-io/k3s#2067, raspberrypi/linux#3644); harmless where it is on already ---
  boot.kernelParams = [
    "cgroup_enable=memory"
    "cgroup_memory=1"
  ];

  # --- Identity (from the inventory, so labbot and colmena see the same name) ---
  networking.hostName = node.name;

  users.users.root.hashedPassword = "!"; # no root login

  # --- SSH ---
  services.openssh = {
    enable = true;
    # The inventory's port, so colmena's targetPort and sshd cannot disagree; openFirewall
    # (on by default) opens it.
    ports = [ node.port ];
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "no";
    };
  };

  # --- Firewall: nftables, deny by default ---
  networking.nftables.enable = true;
  # kube-proxy and flannel keep their own nftables tables (through iptables-nft); a reload of
  # the NixOS firewall must replace only its own table instead of flushing theirs.
  networking.nftables.flushRuleset = false;
  networking.firewall = {
    enable = true;
    allowedTCPPorts = [ 6443 ]; # k3s API; add 2379/2380 (etcd) when the RK1s join for HA
    allowedTCPPortRanges = [
      {
        from = 10250;
        to = 10252;
      }
    ]; # kubelet (10251/10252 only matter to old control-plane components)
    # Add 8472/udp (flannel VXLAN) once a second node joins.
  };

  # --- Base packages ---
  environment.systemPackages = with pkgs; [
    vim
    htop
    curl
    git
  ];

  # --- Networking: DHCP reservations on the router, no static IPs in Nix ---
  networking.useDHCP = true;

  time.timeZone = "UTC";
  i18n.defaultLocale = "en_US.UTF-8";

  # --- Nix ---
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];
  # Rollback is by NixOS generations (labbot switches back to a recorded one); keep a month.
  nix.gc = {
    automatic = true;
    dates = "weekly";
    options = "--delete-older-than 30d";
  };

  # --- sops-nix: each node decrypts with an age key derived from its SSH host key ---
  # (`ssh-to-age < /etc/ssh/ssh_host_ed25519_key.pub` gives the recipient for .sops.yaml.)
  sops.age.sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];

  # --- Longhorn prerequisites on every k3s node ---
  services.openiscsi = {
    enable = true;
    name = "iqn.2016-04.com.open-iscsi:${node.name}";
  };
  # Longhorn's instance manager runs host tools (iscsiadm, mount, …) by fixed FHS paths via
  # nsenter. NixOS has none there; linking /usr/local/bin to the system profile is the
  # community workaround (Longhorn issue #2166; not verified on this cluster yet).
  systemd.tmpfiles.rules = [ "L+ /usr/local/bin - - - - /run/current-system/sw/bin/" ];

  system.stateVersion = "26.05"; # the release a new lab is first installed with
}
