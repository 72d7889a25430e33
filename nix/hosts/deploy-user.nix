# The non-root `deploy` user that colmena and labbot log in as (the inventory's `user`).
# Shared by every host (hosts/common.nix) and by the bootstrap image (images/base.nix), so
# the keys are listed once.
{ ... }:
{
  users.users.deploy = {
    isNormalUser = true;
    extraGroups = [ "wheel" ];
    # Your key, and labbot's: the public half of its `ssh.key_file`.
    openssh.authorizedKeys.keys = [
      "ssh-ed25519 AAAA... your-key-here"
    ];
  };

  # colmena prefixes every remote command with `sudo -H --` and runs ssh with BatchMode, so
  # sudo must never ask for a password (zhaofengli/colmena 0.4.0).
  security.sudo.extraRules = [
    {
      users = [ "deploy" ];
      commands = [
        {
          command = "ALL";
          options = [ "NOPASSWD" ];
        }
      ];
    }
  ];

  # Fix to the plan: flake deployments copy closures with `nix copy --to ssh-ng://deploy@…`,
  # which fails ("lacks a signature by a trusted key") unless the user is trusted by the
  # node's nix-daemon (zhaofengli/colmena 0.4.0).
  nix.settings.trusted-users = [ "deploy" ];
}
