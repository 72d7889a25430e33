# The lab inventory (../inventory.json), checked and normalised with builtins only.
#
# One file names the nodes and their addresses; the flake builds nixosConfigurations and the
# colmena hive from it and labbot reads it (`inventory.file`, bot.config.read_inventory_file),
# so the two cannot disagree. No nixpkgs `lib` here on purpose: the tests evaluate this file
# offline with `nix-instantiate --eval --strict --json -E 'import ./nix/lib/inventory.nix { }'`.
#
# The checks mirror labbot's pydantic `Node` model (bot/config.py): same patterns, ranges,
# enums and defaults, and unknown fields are errors. tests/nix/test_nix_inventory.py runs the same
# broken inventories through both and expects the same verdicts.
{
  file ? ../inventory.json,
  raw ? builtins.fromJSON (builtins.readFile file),
}:
let
  inherit (builtins)
    attrNames
    concatStringsSep
    elem
    filter
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    listToAttrs
    mapAttrs
    match
    sort
    ;

  # Patterns of bot/config.py (`builtins.match` matches the whole string, so no ^…$).
  namePattern = "[a-z0-9][a-z0-9-]{0,62}";
  tagPattern = "[a-z0-9][a-z0-9_-]{0,62}";
  hostPattern = "[A-Za-z0-9][A-Za-z0-9.:-]{0,252}";
  userPattern = "[a-z_][a-z0-9_-]{0,31}";

  knownFields = [
    "board"
    "slot"
    "module"
    "host"
    "user"
    "port"
    "tags"
    "k3s_role"
    "deferred"
    "auto_rollback"
  ];

  fail = msg: throw "inventory: ${msg}";
  require = cond: msg: if cond then true else fail msg;
  matches = pattern: value: isString value && match pattern value != null;

  nodesRaw =
    if isAttrs raw && isAttrs (raw.nodes or { }) then
      raw.nodes or { }
    else
      fail "'nodes' must be a mapping of name to node";

  normalise =
    name: entry:
    let
      field = key: default: entry.${key} or default;
      required = key: entry.${key} or (fail "node ${name}: '${key}' is required");
      unknown = filter (key: !(elem key knownFields)) (attrNames entry);
      node = {
        inherit name;
        # Optional: labbot fills in the board when its config has only one.
        board = field "board" null;
        slot = required "slot";
        module = required "module";
        host = required "host";
        user = field "user" "deploy";
        port = field "port" 22;
        tags = field "tags" [ ];
        k3s_role = field "k3s_role" "none";
        deferred = field "deferred" false;
        auto_rollback = field "auto_rollback" true;
      };
      checks = [
        (require (matches namePattern name) "node name '${name}' must match ${namePattern}")
        (require (unknown == [ ]) "node ${name}: unknown field(s) ${concatStringsSep ", " unknown}")
        (require (node.board == null || matches namePattern node.board) "node ${name}: bad board name")
        (require (isInt node.slot && node.slot >= 1 && node.slot <= 4) "node ${name}: slot must be 1-4")
        (require (elem node.module [
          "cm4"
          "rk1"
        ]) "node ${name}: module must be cm4 or rk1")
        (require (matches hostPattern node.host) "node ${name}: bad host")
        (require (matches userPattern node.user) "node ${name}: bad user")
        (require (isInt node.port && node.port >= 1 && node.port <= 65535) "node ${name}: bad port")
        (require (isList node.tags && filter (t: !(matches tagPattern t)) node.tags == [ ])
          "node ${name}: every tag must match ${tagPattern}"
        )
        (require (elem node.k3s_role [
          "server"
          "agent"
          "none"
        ]) "node ${name}: k3s_role must be server, agent or none")
        (require (isBool node.deferred) "node ${name}: deferred must be a boolean")
        (require (isBool node.auto_rollback) "node ${name}: auto_rollback must be a boolean")
      ];
    in
    assert require (isAttrs entry) "node ${name} is not an object";
    builtins.deepSeq checks node;

  nodes = mapAttrs normalise nodesRaw;
  names = sort (a: b: a < b) (attrNames nodes);

  # A board slot holds one module: (board, slot) pairs must be unique. A node without a board
  # is on the only board the inventory names, as labbot reads it with a single board.
  namedBoards = attrNames (
    listToAttrs (
      map (board: {
        name = board;
        value = true;
      }) (filter (board: board != null) (map (n: nodes.${n}.board) names))
    )
  );
  boardOf = n: if nodes.${n}.board != null then nodes.${n}.board else toString namedBoards;
  slotKeys = map (n: "${boardOf n}/${toString nodes.${n}.slot}") names;
  uniqueSlots = listToAttrs (
    map (key: {
      name = key;
      value = true;
    }) slotKeys
  );
  slotsChecked = require (length (attrNames uniqueSlots) == length slotKeys) "a board slot is used twice";

  # Deferred nodes (the RK1s) are listed for labbot but never built or deployed.
  active = filter (n: !nodes.${n}.deferred) names;
in
assert slotsChecked;
{
  inherit nodes active;

  # colmena's `deployment.*` per active node (zhaofengli/colmena 0.4.0).
  deployment = listToAttrs (
    map (n: {
      name = n;
      value = {
        targetHost = nodes.${n}.host;
        targetUser = nodes.${n}.user;
        targetPort = nodes.${n}.port;
        inherit (nodes.${n}) tags;
      };
    }) active
  );

  # The same nodes under labbot's field names (bot.config.Node), for inline `inventory.nodes`;
  # a node without a board leaves it out, for labbot to fill in.
  labbotNodes = map (
    n:
    let
      node = nodes.${n};
    in
    removeAttrs {
      inherit (node)
        name
        board
        slot
        module
        host
        tags
        k3s_role
        deferred
        auto_rollback
        ;
      ssh_user = node.user;
      ssh_port = node.port;
    } (if node.board == null then [ "board" ] else [ ])
  ) names;
}
