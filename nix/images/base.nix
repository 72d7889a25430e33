# The pre-baked bootstrap image: just enough to accept a colmena deploy. Flash it via
# the BMC, power the node on, then `colmena apply --on <node>`; no UART needed.
{ ... }:
{
  # The deploy user, its keys, passwordless sudo and Nix trust, shared with the hosts.
  imports = [ ../hosts/deploy-user.nix ];

  services.openssh = {
    enable = true;
    settings = {
      PasswordAuthentication = false;
      KbdInteractiveAuthentication = false;
      PermitRootLogin = "no";
    };
  };

  # colmena's first deploy of a flake runs `nix copy --to ssh-ng://`; that needs no
  # experimental features on the node, but later `nix` commands over SSH (labbot's health
  # gate, closure diffs) do.
  nix.settings.experimental-features = [
    "nix-command"
    "flakes"
  ];

  networking.useDHCP = true;
  system.stateVersion = "26.05"; # the release a new lab is first installed with
}
