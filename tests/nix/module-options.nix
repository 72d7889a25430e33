# The option declarations of packaging/modules/labbot.nix, evaluated offline: `lib` and `pkgs` are
# stand-ins built from builtins that record what each option was declared with, so
# tests/nix/test_nix_module.py can compare `settings.<section>` with labbot's pydantic schema.
# Only `options` is read; nothing here evaluates `config` (that needs nixpkgs).
{ module }:
let
  lib = {
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
    types = {
      enum = values: { enum = values; };
      attrsOf = type: { attrsOf = type; };
      nullOr = type: { nullOr = type; };
      listOf = type: { listOf = type; };
      submodule = m: { submodule = m.options; };
      package = "package";
      path = "path";
      bool = "bool";
      str = "str";
    };
  };
  pkgs = {
    formats.yaml = _: { type = "yaml value"; };
  };
  declared = (import module { inherit lib pkgs; config = { }; }).options.services.labbot;
in
{
  optionNames = builtins.attrNames declared;
  settings = declared.settings.type.submodule;
  example = declared.settings.example;
}
