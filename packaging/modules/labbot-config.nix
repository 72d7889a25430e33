# labbot's config schema as the NixOS module sees it, and the two functions that turn
# `services.labbot.settings` into the YAML config: `render` and `problems`. Builtins only.
#
# `sections` lists the top-level keys of bot.config.Config; labbot.nix generates its
# `settings.<section>` options from it, and tests/nix/test_nix_module.py checks it against
# `Config.model_fields` (names, required or not, defaults), so the module cannot drift from
# the pydantic schema without a failing test. `secretPaths` lists every SecretSource field of
# the schema; the test derives the same list from the pydantic models.
let
  inherit (builtins)
    attrNames
    concatLists
    filter
    isAttrs
    isList
    isPath
    isString
    length
    listToAttrs
    match
    substring
    ;

  # kind: "section" (a mapping labbot validates), "mapping" (name -> section), "enum".
  sections = {
    slack = {
      kind = "section";
      required = true;
      description = "Slack connection and the channels where /lab is accepted.";
    };
    roles = {
      kind = "section";
      required = true;
      description = "Who holds the viewer, operator and admin roles (Slack user and user-group IDs).";
    };
    inventory = {
      kind = "section";
      required = true;
      description = "Boards, and nodes inline or from the inventory file the infra flake reads.";
    };
    bmc = {
      kind = "mapping";
      required = false;
      description = "Turing Pi BMCs by name (each board's `bmc` names one).";
    };
    colmena = {
      kind = "section";
      required = false;
      description = "How colmena is run against the infra flake; null disables deploys.";
    };
    ssh = {
      kind = "section";
      required = false;
      description = "SSH to the nodes: key, known hosts file and timeouts.";
    };
    github = {
      kind = "section";
      required = false;
      description = "The infra repository on GitHub, with a token or as a GitHub App.";
    };
    sops = {
      kind = "section";
      required = false;
      description = "sops-nix secrets in the infra repository.";
    };
    schedules = {
      kind = "section";
      required = false;
      description = "When the Renovate check and the digest run; null keeps labbot's defaults.";
    };
    storage = {
      kind = "section";
      required = false;
      description = "Where labbot keeps its state; null keeps /var/lib/labbot.";
    };
    jobs = {
      kind = "section";
      required = false;
      description = "Job engine settings; null keeps labbot's defaults.";
    };
    health = {
      kind = "section";
      required = false;
      description = "The /healthz and /metrics endpoint; null keeps 127.0.0.1:9187.";
    };
    deploy = {
      kind = "section";
      required = false;
      description = "Deploys: the post-deploy health gate and colmena's node-list cache.";
    };
    flash = {
      kind = "section";
      required = false;
      description = "Flashing nodes through the BMC: image sources and time limits.";
    };
    digest = {
      kind = "section";
      required = false;
      description = "The nightly status digest: thresholds, paths and timeouts.";
    };
    approvals = {
      kind = "section";
      required = false;
      description = "Who approves each command that changes the lab: self, other (a second person) or none.";
    };
    log_level = {
      kind = "enum";
      required = false;
      values = [
        "debug"
        "info"
        "warning"
        "error"
      ];
      default = "info";
      description = "labbot's log level.";
    };
  };

  # Every SecretSource field of bot.config.Config; "*" stands for any key of a mapping.
  secretPaths = [
    [
      "slack"
      "bot_token"
    ]
    [
      "slack"
      "app_token"
    ]
    [
      "slack"
      "signing_secret"
    ]
    [
      "bmc"
      "*"
      "password"
    ]
    [
      "github"
      "token"
    ]
    [
      "github"
      "app_private_key"
    ]
    [
      "sops"
      "age_key"
    ]
  ];

  # Token shapes that must never sit in the settings (bot/config_file.py PLAINTEXT_TOKENS);
  # `builtins.match` matches the whole string, hence the surrounding `.*`.
  plaintextTokens = {
    "Slack bot token" = ".*xoxb-.*";
    "Slack app token" = ".*xapp-.*";
    "Slack user token" = ".*xox[pae]-.*";
    "GitHub token" = ".*gh[pousr]_[A-Za-z0-9].*";
    "GitHub fine-grained token" = ".*github_pat_.*";
    "age secret key" = ".*[Aa][Gg][Ee]-[Ss][Ee][Cc][Rr][Ee][Tt]-[Kk][Ee][Yy]-.*";
    "private key" = ".*-----BEGIN [A-Z ]*PRIVATE KEY-----.*";
    "password in a URL" = ".*[a-z][a-z0-9+.-]*://[^/@:[:space:]]*:[^/@[:space:]]+@.*";
  };

  # ["roles" "x" "[0]"] -> "roles.x[0]"
  showPath =
    path:
    builtins.foldl' (
      acc: part: if acc == "" || substring 0 1 part == "[" then acc + part else "${acc}.${part}"
    ) "" path;

  # Values at a path with "*" wildcards, as (path, value) pairs; missing keys yield nothing.
  valuesAt =
    prefix: value: path:
    if path == [ ] then
      [
        {
          path = prefix;
          inherit value;
        }
      ]
    else if !(isAttrs value) then
      [ ]
    else
      let
        key = builtins.head path;
        rest = builtins.tail path;
        keys = if key == "*" then attrNames value else filter (k: value ? ${k}) [ key ];
      in
      concatLists (map (k: valuesAt (prefix ++ [ k ]) value.${k} rest) keys);

  secretProblems =
    settings:
    let
      found = concatLists (map (valuesAt [ ] settings) secretPaths);
      where = f: "settings.${showPath f.path}";
      reason =
        f:
        let
          v = f.value;
          keys = if isAttrs v then attrNames v else [ ];
        in
        if v == null then
          null
        else if keys == [ "env" ] && isString v.env then
          null
        else if keys != [ "file" ] then
          "${where f} must be { env = \"VAR\"; } or { file = \"/run/secrets/...\"; }, never the secret itself"
        else if isPath v.file then
          "${where f}.file is a Nix path, which would copy the secret into the world-readable Nix store; give the runtime path as a string"
        else if !(isString v.file) then
          "${where f}.file must be a string path"
        else if substring 0 11 v.file == "/nix/store/" then
          "${where f}.file points into the Nix store, which is world-readable; use a sops-nix path under /run/secrets"
        else
          null;
    in
    filter (r: r != null) (map reason found);

  # Every string anywhere in the settings, with its path.
  strings =
    prefix: value:
    if isAttrs value then
      concatLists (map (k: strings (prefix ++ [ k ]) value.${k}) (attrNames value))
    else if isList value then
      concatLists (
        builtins.genList (i: strings (prefix ++ [ "[${toString i}]" ]) (builtins.elemAt value i)) (
          length value
        )
      )
    else if isString value then
      [
        {
          path = prefix;
          inherit value;
        }
      ]
    else
      [ ];

  tokenProblems =
    settings:
    concatLists (
      map (
        s:
        map (kind: "settings.${showPath s.path} holds a plaintext ${kind}; use { env = ...; } or { file = ...; }") (
          filter (kind: match plaintextTokens.${kind} s.value != null) (attrNames plaintextTokens)
        )
      ) (strings [ ] settings)
    );
in
{
  inherit sections secretPaths plaintextTokens;

  # The config file's content: settings without the sections left null (labbot's defaults
  # apply) and without the `_module` attribute a NixOS submodule value carries.
  render =
    settings:
    listToAttrs (
      map (name: {
        inherit name;
        value = settings.${name};
      }) (filter (name: name != "_module" && settings.${name} != null) (attrNames settings))
    );

  # Why these settings must not be written to the (world-readable) Nix store; [ ] when fine.
  problems =
    settings:
    let
      plain = removeAttrs settings [ "_module" ];
    in
    secretProblems plain ++ tokenProblems plain;
}
