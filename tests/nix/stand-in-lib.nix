# The few nixpkgs `lib` functions the flakes' outputs call, rebuilt from builtins for tests that
# have no nixpkgs (see README.md).
{
  genAttrs =
    names: f:
    builtins.listToAttrs (
      map (name: {
        inherit name;
        value = f name;
      }) names
    );
}
