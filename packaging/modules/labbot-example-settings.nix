# An example `services.labbot.settings` for the lab of seed/turing-pi-nixos-plan.md: the
# module shows it as the option's example, and tests/nix/test_nix_module.py renders it the way the
# module does and validates it with labbot's own `Config` model. Builtins only.
#
# Secrets are never values here: each one names a file that sops-nix writes at activation
# (`sops.secrets."labbot/slack-bot-token".owner = "labbot";` puts it at the path below), or an
# environment variable from `services.labbot.environmentFile`.
let
  inventory = import ../../nix/lib/inventory.nix { };  # the infra template's, as an example
in
{
  slack = {
    mode = "socket";
    bot_token = {
      file = "/run/secrets/labbot/slack-bot-token";
    };
    app_token = {
      file = "/run/secrets/labbot/slack-app-token";
    };
    command = "/lab";
    allowed_channels = [ "C0LAB00001" ];
  };

  roles = {
    viewer.usergroups = [ "S0LABVIEW1" ];
    operator.users = [ "U0OPERATOR1" ];
    admin.users = [ "U0ADMIN0001" ];
  };

  inventory = {
    boards = [
      {
        name = "turingpi";
        bmc = "turingpi";
      }
    ];
    # The nodes of nix/inventory.json, inline. On a host that deploys from a checkout, point
    # labbot at the checkout's file instead: `file = "/var/lib/labbot/infra/inventory.json";`.
    nodes = inventory.labbotNodes;
  };

  bmc.turingpi = {
    url = "https://turingpi.local";
    username = "root";
    password = {
      file = "/run/secrets/labbot/bmc-password";
    };
    tls.verify = true;
  };

  colmena = {
    flake_dir = "/var/lib/labbot/infra";
    parallel = 10; # colmena's -p: nodes deployed at once (0: no limit)
  };

  ssh = {
    key_file = "/run/secrets/labbot/ssh-key";
    known_hosts_file = "/var/lib/labbot/known_hosts";
  };

  github = {
    repo = "homelab/thelab-infra";
    token = {
      env = "LABBOT_GITHUB_TOKEN";
    };
    merge_method = "squash";
  };

  sops = {
    age_key = {
      file = "/run/secrets/labbot/age-key";
    };
    sops_yaml = ".sops.yaml";
    secrets_files = [ "secrets/secrets.yaml" ];
  };

  schedules = {
    renovate_check_minutes = 15;
    digest_cron = "0 7 * * *";
    timezone = "Europe/Berlin";
  };

  log_level = "info";
}
