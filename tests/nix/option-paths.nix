# What a NixOS module sets, evaluated offline: the attribute tree of its definitions with the kind
# of every value (`builtins.typeOf`, plus "package" for a derivation), so
# tests/nix/test_nixpkgs_options.py can check each option path and value shape against the
# nixpkgs facts in nixpkgs_options.toml. There is no nixpkgs here (see README.md): `lib`, `pkgs`
# and `config` are stand-ins built from builtins. `mkIf`/`mkDefault` keep their content, which is
# walked whatever the condition, so every definition a module can make is checked. A module with
# `options`/`config` is read through `config`; otherwise its `imports` are left out (the imported
# files are checked on their own).
{
  # A path to a module file, a module function, or a module attribute set.
  module,
  node ? (import ../../nix/lib/inventory.nix { }).nodes.tp-node3,
}:
let
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };

  lib = {
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkDefault = content: {
      _type = "override";
      priority = 1000;
      inherit content;
    };
    mkOption = declaration: declaration;
    mkEnableOption = description: {
      type = "bool";
      inherit description;
    };
    mkPackageOption = _pkgs: name: _extra: {
      type = "package";
      package = name;
    };
    literalExpression = text: { inherit text; };
    inherit (builtins) mapAttrs;
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
    getExe = package: "${package}/bin/${package.name}";
  };

  pkgs =
    builtins.listToAttrs (
      map
        (name: {
          inherit name;
          value = drv name;
        })
        [
          "vim"
          "htop"
          "curl"
          "git"
          "sops"
          "openssh"
          "tzdata"
        ]
    )
    // {
      # A kernel package set, not a derivation (what boot.kernelPackages takes).
      linuxKernel.packages.linux_rpi4.kernel = drv "linux-rpi4";
      formats.yaml = _: {
        type = "yaml value";
        generate = name: _value: drv name;
      };
      runCommand = name: _env: _script: drv name;
      stdenv.hostPlatform.system = "aarch64-linux";
    };

  # What the modules read from `config` (nixpkgs_options.toml lists each as a read option), with
  # services.labbot as a configuration with every optional part in use.
  config = {
    sops.secrets.k3s_token.path = "/run/secrets/k3s_token";
    users.users.${node.user} = { };
    nix.package = drv "nix";
    services.labbot = {
      enable = true;
      emulateAarch64 = true;
      openFirewall = true;
      user = "labbot";
      group = "labbot";
      package = drv "labbot";
      colmenaPackage = drv "colmena";
      configFile = null;
      checkConfig = true;
      environmentFile = "/run/secrets/labbot.env";
      credentials.slack-bot-token = "/run/secrets/labbot/slack-bot-token";
      extraPackages = [ ];
      settings = import ../../packaging/modules/labbot-example-settings.nix;
    };
  };

  imported = if builtins.isPath module then import module else module;
  defined = if builtins.isFunction imported then imported { inherit lib pkgs config node; } else imported;
  body =
    if defined ? options || defined ? config then
      defined.config or { }
    else
      removeAttrs defined [ "imports" ];

  # One value, forced only to its outermost constructor; a `throw` becomes "unevaluable".
  scalar =
    value:
    let
      forced = builtins.tryEval (builtins.typeOf value);
    in
    if !forced.success then
      { kind = "unevaluable"; }
    else if forced.value == "set" then
      { kind = if (value.type or null) == "derivation" then "package" else "set"; }
    else if builtins.elem forced.value [
      "bool"
      "int"
      "float"
      "string"
    ] then
      {
        kind = forced.value;
        inherit value;
      }
    else
      { kind = forced.value; };

  describe =
    value:
    let
      outer = scalar value;
    in
    if outer.kind == "set" && value ? _type then
      if
        builtins.elem value._type [
          "if"
          "override"
        ]
      then
        describe value.content
      else
        {
          kind = "set";
          moduleType = value._type;
        }
    else if outer.kind == "set" then
      {
        kind = "set";
        attrs = builtins.mapAttrs (_: describe) value;
      }
    else if outer.kind == "list" then
      {
        kind = "list";
        elements = map scalar value;
      }
    else
      outer;
in
describe body
