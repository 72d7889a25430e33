# NixOS module: `services.labbot`, the Slack chat-ops bot, as a hardened systemd service.
#
# How the options stay in step with labbot's config schema (bot/config.py, pydantic):
#   - The top-level `settings.<section>` options are generated from `sections` in
#     ./labbot-config.nix (builtins only). tests/nix/test_nix_module.py evaluates THIS module's
#     option declarations with `nix-instantiate` (stand-in `lib`/`pkgs`, tests/nix/
#     module-options.nix) and compares them with `bot.config.Config.model_fields`: the same
#     names, the same required sections, the same enum values and defaults. Inside a section
#     the values are free-form and labbot validates them (`labbot check-config` runs at build
#     time, see `checkConfig`), so the fields are described once, in pydantic, not copied here.
#   - The option's example, ./labbot-example-settings.nix, is rendered by the same `render`
#     function as the real settings and validated with `Config.model_validate` in the tests.
#   - `settings` has no free-form top level: an unknown section is an evaluation error, as
#     `extra="forbid"` makes it one for labbot.
#
# Secrets never enter the Nix store: every SecretSource field must be `{ env = "VAR"; }` (from
# `environmentFile`) or `{ file = "/run/secrets/..."; }` (a sops-nix path, or a systemd
# credential from `credentials`); an assertion rejects plaintext tokens, Nix path literals and
# files inside /nix/store, before anything is written.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.labbot;
  schema = import ./labbot-config.nix;
  settingsFormat = pkgs.formats.yaml { };

  sectionOption =
    name: section:
    if section.kind == "enum" then
      lib.mkOption {
        type = lib.types.enum section.values;
        inherit (section) default description;
      }
    else if section.kind == "mapping" then
      lib.mkOption {
        type = lib.types.attrsOf settingsFormat.type;
        default = { };
        inherit (section) description;
      }
    else if section.required then
      lib.mkOption {
        type = settingsFormat.type;
        inherit (section) description;
      }
    else
      lib.mkOption {
        type = lib.types.nullOr settingsFormat.type;
        default = null;
        inherit (section) description;
      };

  rendered = schema.render cfg.settings;
  secretProblems = schema.problems cfg.settings;

  generatedConfig = settingsFormat.generate "labbot.yaml" rendered;

  # `labbot check-config` at build time: the same validation labbot runs at start-up.
  checkedConfig =
    pkgs.runCommand "labbot-config.yaml"
      {
        nativeBuildInputs = [ cfg.package ];
        # The sandbox has no /etc/zoneinfo for `schedules.timezone`.
        PYTHONTZPATH = "${pkgs.tzdata}/share/zoneinfo";
        preferLocalBuild = true;
      }
      ''
        labbot check-config ${generatedConfig}
        cp ${generatedConfig} "$out"
      '';

  configFile =
    if cfg.configFile != null then
      cfg.configFile
    else if cfg.checkConfig then
      checkedConfig
    else
      generatedConfig;

  stateDir = "/var/lib/labbot";
in
{
  options.services.labbot = {
    enable = lib.mkEnableOption "labbot, the Slack chat-ops bot for the Turing Pi lab";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../pkgs/labbot.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./packaging/pkgs/labbot.nix { }";
      description = "The labbot package.";
    };

    settings = lib.mkOption {
      type = lib.types.submodule { options = lib.mapAttrs sectionOption schema.sections; };
      example = import ./labbot-example-settings.nix;
      description = ''
        labbot's configuration (the YAML file of `labbot run -c`), written to the Nix store.
        Sections map to bot/config.py; sections left null take labbot's defaults. Secrets are
        references only: `{ env = "VAR"; }` or `{ file = "/run/secrets/..."; }`.
      '';
    };

    configFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      description = "Use this config file instead of one generated from `settings`.";
    };

    checkConfig = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Run `labbot check-config` on the generated file at build time. Turn it off when the
        settings name files that exist only at run time (e.g. `inventory.file` outside the store).
      '';
    };

    environmentFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/labbot.env";
      description = ''
        A file of `VAR=value` lines (e.g. from sops-nix) read by systemd, for secrets given as
        `{ env = "VAR"; }`. A string, not a path, so the file is never copied into the store.
      '';
    };

    credentials = lib.mkOption {
      type = lib.types.attrsOf lib.types.str;
      default = { };
      example = {
        slack-bot-token = "/run/secrets/labbot/slack-bot-token";
      };
      description = ''
        systemd credentials (`LoadCredential=`): each file is copied for the service to
        `/run/credentials/labbot.service/<name>`, so sops-nix secrets can stay owned by root.
        Refer to them as `{ file = "/run/credentials/labbot.service/<name>"; }`.
      '';
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "labbot";
      description = "The dedicated user labbot runs as (created by this module).";
    };

    group = lib.mkOption {
      type = lib.types.str;
      default = "labbot";
      description = "The group labbot runs as (created by this module).";
    };

    colmenaPackage = lib.mkPackageOption pkgs "colmena" {
      extraDescription = ''
        labbot's flake (`nixosModules.labbot`) sets this to its `colmena` input, the CLI that
        reads the `colmenaHive` schema the infra flake builds; nixpkgs' colmena 0.4.0 cannot.
      '';
    };

    emulateAarch64 = lib.mkOption {
      type = lib.types.bool;
      default = pkgs.stdenv.hostPlatform.system != "aarch64-linux";
      defaultText = lib.literalExpression ''pkgs.stdenv.hostPlatform.system != "aarch64-linux"'';
      description = ''
        Build the nodes' aarch64-linux systems on this machine through QEMU binfmt emulation
        (`boot.binfmt.emulatedSystems`): simple, and slow for big builds. Turn it off when an
        aarch64 remote builder (`nix.buildMachines`) or colmena's `deployment.buildOnTarget`
        does the building; `labbot doctor` says whether this machine can build for the nodes.
      '';
    };

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      description = "More programs for labbot's PATH.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open `slack.http_port` (HTTP mode only; Socket Mode needs no open port).";
    };
  };

  config = lib.mkIf cfg.enable {
    boot.binfmt.emulatedSystems = lib.mkIf cfg.emulateAarch64 [ "aarch64-linux" ];

    assertions = map (message: {
      assertion = false;
      message = "services.labbot: ${message}";
    }) secretProblems;

    users.users.${cfg.user} = {
      isSystemUser = true;
      inherit (cfg) group;
      home = stateDir;
      description = "labbot chat-ops bot";
    };
    users.groups.${cfg.group} = { };

    # labbot runs colmena, nix, sops, ssh and git (the infra checkout) as child processes.
    systemd.services.labbot = {
      description = "labbot Slack chat-ops bot";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      path = [
        cfg.colmenaPackage
        config.nix.package
        pkgs.sops
        pkgs.openssh
        pkgs.git
      ] ++ cfg.extraPackages;
      environment = {
        HOME = stateDir;
        # colmena on main logs nothing but errors without it (zhaofengli/colmena, main).
        RUST_LOG = "info";
        PYTHONUNBUFFERED = "1";
      };

      serviceConfig = {
        ExecStart = "${lib.getExe cfg.package} run -c ${configFile}";
        User = cfg.user;
        Group = cfg.group;
        StateDirectory = "labbot";
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") cfg.credentials;
        Restart = "on-failure";
        RestartSec = 5;
        # labbot drains its jobs on SIGTERM; give a running deploy time to reach a safe point.
        TimeoutStopSec = 120;

        # Hardening. The store, /etc and everything else are read-only; only the state
        # directory is writable. Nix builds go through the nix-daemon's socket (connecting to a
        # socket works on a read-only mount), so no write access to /nix is needed.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        # Not MemoryDenyWriteExecute: cffi (cryptography, PyNaCl) may need W+X trampolines.
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
        ];
        SystemCallArchitectures = "native";
        # Not ~@resources: nix raises its stack limit with setrlimit.
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        UMask = "0077";
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf (
      cfg.openFirewall && (cfg.settings.slack.mode or "socket") == "http"
    ) [ (cfg.settings.slack.http_port or 3000) ];
  };
}
