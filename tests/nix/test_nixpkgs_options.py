"""Every NixOS option the repository's Nix files set or read is in nixpkgs_options.toml, the table
of what its declaration says (type, file, commit), and every value has a shape that type takes.

nixpkgs' module system cannot run here (README.md), so each module is evaluated with stand-in
`lib`/`pkgs`/`config` (option-paths.nix): the tree of what it defines, with each value's kind. A
path the table does not list fails the test, so a new option is checked against its nixpkgs
declaration before it is added; a value whose kind the recorded type does not take fails too.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = Path(__file__).with_name("nixpkgs_options.toml")
REV = "0123456789abcdef0123456789abcdef01234567"
# The infra template's NixOS modules (its flake.nix and lib/ are not modules).
MODULE_DIRS = ("hosts", "hardware", "images")
LABBOT_MODULE = ROOT / "packaging" / "modules" / "labbot.nix"
# services.labbot is this repository's own (packaging/modules/labbot.nix), checked by
# test_nix_module.py rather than against nixpkgs.
OWN = ("services", "labbot")
KINDS = {"bool", "int", "float", "string", "path", "null", "set", "list", "lambda", "package"}

NixEval = Callable[[str], object]
OptionPath = tuple[str, ...]


@dataclass(frozen=True)
class Row:
    path: OptionPath
    type: str
    declared_as: str
    used: str
    repo: str
    file: str
    commit: str
    accepts: tuple[str, ...]
    elements: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    pattern: str | None = None

    def matches(self, path: OptionPath) -> bool:
        return len(path) == len(self.path) and covers(self.path, path)

    def extends(self, prefix: OptionPath) -> bool:
        """This row is an option strictly below `prefix`."""
        return len(self.path) > len(prefix) and covers(self.path[: len(prefix)], prefix)


def covers(pattern: OptionPath, path: OptionPath) -> bool:
    return all(want in ("<name>", got) for want, got in zip(pattern, path, strict=True))


def load_table() -> list[Row]:
    raw = tomllib.loads(TABLE.read_text())
    return [
        Row(
            path=tuple(entry["path"].split(".")),
            type=entry["type"],
            declared_as=entry["declared_as"],
            used=entry["used"],
            repo=entry["repo"],
            file=entry["file"],
            commit=entry["commit"],
            accepts=tuple(entry["accepts"]),
            elements=tuple(entry.get("elements", ())),
            enum=tuple(entry.get("enum", ())),
            pattern=entry.get("pattern"),
        )
        for entry in raw["option"]
    ]


@dataclass
class Findings:
    """What one walk found: paths the table lacks, values of the wrong shape, the rows used."""

    unknown: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    used: set[OptionPath] = field(default_factory=set)


def posix_to_python(pattern: str) -> str:
    return pattern.replace("[:alnum:]", "A-Za-z0-9")


def check_value(
    row: Row, path: OptionPath, value: dict[str, Any], where: str, findings: Findings
) -> None:
    name = ".".join(path)
    kind = value["kind"]
    if kind == "unevaluable":
        findings.wrong.append(f"{where}: {name} could not be evaluated")
    elif kind not in row.accepts:
        findings.wrong.append(f"{where}: {name} is a {kind}; {row.type} takes {row.accepts}")
    elif kind == "list" and row.elements:
        for index, element in enumerate(value["elements"]):
            if element["kind"] not in row.elements:
                findings.wrong.append(
                    f"{where}: {name}[{index}] is a {element['kind']}; {row.type} takes "
                    f"elements {row.elements}"
                )
    elif kind == "string" and row.enum and value["value"] not in row.enum:
        findings.wrong.append(f"{where}: {name} = {value['value']!r} is not one of {row.enum}")
    elif kind == "string" and row.pattern:
        if re.search(posix_to_python(row.pattern), value["value"]) is None:
            findings.wrong.append(f"{where}: {name} = {value['value']!r} fails {row.type}")


def walk(
    table: list[Row],
    own: set[str],
    tree: dict[str, Any],
    where: str,
    findings: Findings,
    path: OptionPath = (),
) -> None:
    """Descend while the table lists options below `path`; check a value where a row matches."""
    if path[:2] == OWN and len(path) == 3:
        if path[2] not in own:
            findings.unknown.append(
                f"{where}: {'.'.join(path)} (services.labbot has no such option)"
            )
        return
    row = next((r for r in table if r.matches(path)), None)
    below = path == OWN[: len(path)] or any(r.extends(path) for r in table)
    if below and tree["kind"] == "set" and "attrs" in tree:
        for name, value in tree["attrs"].items():
            walk(table, own, value, where, findings, (*path, name))
    elif row is not None:
        findings.used.add(row.path)
        check_value(row, path, tree, where, findings)
    elif below:
        findings.wrong.append(
            f"{where}: {'.'.join(path)} is a {tree['kind']}; the table lists options below it"
        )
    else:
        findings.unknown.append(f"{where}: {'.'.join(path)}")


def json_tree(value: object) -> dict[str, Any]:
    """The kind tree option-paths.nix gives, for a value already evaluated to JSON."""
    if isinstance(value, dict):
        return {"kind": "set", "attrs": {k: json_tree(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"kind": "list", "elements": [json_tree(v) for v in value]}
    if value is None:
        return {"kind": "null"}
    kinds = {bool: "bool", int: "int", float: "float", str: "string"}
    return {"kind": kinds[type(value)], "value": value}


# `config.a.b` outside comments; `${…}` and quoted names count as one attribute name.
CONFIG_READ = re.compile(
    r"(?<![\w.$/-])config\.((?:[A-Za-z_][\w'-]*|\"[^\"]*\"|\$\{[^}]*\})"
    r"(?:\.(?:[A-Za-z_][\w'-]*|\"[^\"]*\"|\$\{[^}]*\}))*)"
)
COMMENT = re.compile(r"(^|\s)#.*$", re.MULTILINE)


def config_reads(source: str) -> set[OptionPath]:
    reads = set()
    for match in CONFIG_READ.finditer(COMMENT.sub(r"\1", source)):
        parts = re.findall(r"\$\{[^}]*\}|\"[^\"]*\"|[^.]+", match.group(1))
        reads.add(tuple("<name>" if p.startswith("${") else p.strip('"') for p in parts))
    return reads


def module_files(nix_dir: Path) -> Iterator[Path]:
    for name in MODULE_DIRS:
        yield from sorted((nix_dir / name).glob("*.nix"))


@pytest.fixture
def infra(tmp_path: Path) -> Path:
    """The infra template with the secrets file a lab creates (hosts/tp-node3.nix stops
    evaluation without it), so every value can be evaluated."""
    copy = tmp_path / "nix"
    shutil.copytree(ROOT / "nix", copy)
    (copy / "secrets").mkdir(exist_ok=True)
    (copy / "secrets" / "secrets.yaml").write_text("k3s_token: ENC[...]\n")
    return copy


@pytest.fixture
def own_options(nix_eval: NixEval) -> set[str]:
    declared = nix_eval(
        "(import ./tests/nix/module-options.nix { module = ./packaging/modules/labbot.nix; })"
        ".optionNames"
    )
    assert isinstance(declared, list)
    return set(declared)


def defined(nix_eval: NixEval, module: str) -> dict[str, Any]:
    tree = nix_eval(f"import ./tests/nix/option-paths.nix {{ module = {module}; }}")
    assert isinstance(tree, dict)
    return tree


def everything_set(nix_eval: NixEval, infra: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, kind tree) for every module the repository's flakes use."""
    for file in module_files(infra):
        yield f"nix/{file.relative_to(infra).as_posix()}", defined(nix_eval, str(file))
    yield "packaging/modules/labbot.nix", defined(nix_eval, "./packaging/modules/labbot.nix")
    yield (
        "flake.nix nixosModules.labbot",
        defined(
            nix_eval,
            "(import ./tests/nix/labbot-flake.nix { root = ./.; }).outputs.nixosModules.labbot",
        ),
    )
    outputs = nix_eval(
        f'import ./tests/nix/flake-outputs.nix {{ flakeDir = {infra}; rev = "{REV}"; }}'
    )
    assert isinstance(outputs, dict)
    for name, config in outputs["nixosConfigurations"].items():
        for module in config["modules"]:
            if isinstance(module, dict):  # the flake's inline modules (revisionModule)
                yield f"nix/flake.nix ({name})", json_tree(module)
    for name, node in outputs["hive"]["nodes"].items():
        yield f"nix/flake.nix hive ({name})", json_tree({"deployment": node["deployment"]})


def test_the_table_says_where_each_fact_was_read() -> None:
    table = load_table()
    paths = [r.path for r in table]
    assert len(paths) == len(set(paths)), "an option is listed twice"
    for row in table:
        name = ".".join(row.path)
        assert row.type and row.file.endswith(".nix"), name
        assert row.repo.count("/") == 1, name
        assert re.fullmatch(r"[0-9a-f]{40}", row.commit), name
        assert row.declared_as in ("option", "freeform"), name
        assert row.used in ("set", "read"), name
        assert row.accepts and set(row.accepts) <= KINDS, name
        assert set(row.elements) <= KINDS, name
        assert not row.elements or "list" in row.accepts, name


def test_every_option_the_nix_files_set_is_in_the_table_with_a_value_it_takes(
    nix_eval: NixEval, infra: Path, own_options: set[str]
) -> None:
    table = load_table()
    findings = Findings()
    for where, tree in everything_set(nix_eval, infra):
        walk(table, own_options, tree, where, findings)
    assert findings.unknown == [], "options missing from nixpkgs_options.toml"
    assert findings.wrong == [], "values the recorded type does not take"
    set_rows = {r.path for r in table if r.used == "set"}
    assert findings.used == set_rows, 'rows marked `used = "set"` that nothing sets'


def test_every_option_the_nix_files_read_is_in_the_table() -> None:
    table = load_table()
    files = [*module_files(ROOT / "nix"), LABBOT_MODULE]
    reads = set().union(*(config_reads(f.read_text()) for f in files))
    assert ("nix", "package") in reads and ("sops", "secrets", "k3s_token", "path") in reads
    unknown = {".".join(p) for p in reads if p[:2] != OWN and not any(r.matches(p) for r in table)}
    assert unknown == set(), "options read but missing from nixpkgs_options.toml"
    unread = {".".join(r.path) for r in table if r.used == "read"} - {
        ".".join(r.path) for r in table for p in reads if r.matches(p)
    }
    assert unread == set(), 'rows marked `used = "read"` that nothing reads'


def test_an_option_the_table_lacks_is_reported(
    nix_eval: NixEval, tmp_path: Path, own_options: set[str]
) -> None:
    module = tmp_path / "typo.nix"
    module.write_text(
        "{ ... }: {\n"
        "  services.openssh.settings.PasswordAuthenticaton = false;\n"
        "  services.k3s.clusterInitt = true;\n"
        "  services.labbot.colmenaPackages = null;\n"
        '  networking.hostName = "tp-node3";\n'
        "}\n"
    )
    findings = Findings()
    walk(load_table(), own_options, defined(nix_eval, str(module)), "typo.nix", findings)
    assert findings.unknown == [
        "typo.nix: services.k3s.clusterInitt",
        "typo.nix: services.labbot.colmenaPackages (services.labbot has no such option)",
        "typo.nix: services.openssh.settings.PasswordAuthenticaton",
    ]
    assert findings.wrong == []


def test_a_value_of_the_wrong_shape_is_reported(
    nix_eval: NixEval, tmp_path: Path, own_options: set[str]
) -> None:
    module = tmp_path / "shapes.nix"
    module.write_text(
        "{ lib, ... }: {\n"
        '  boot.kernelParams = "cgroup_enable=memory";\n'
        '  networking.firewall.allowedTCPPorts = lib.mkIf true [ "6443" ];\n'
        '  services.k3s.role = "master";\n'
        '  networking.hostName = "tp-node3.lab";\n'
        '  services.openssh.enable = "yes";\n'
        "  deployment.targetPort = null;\n"
        '  services.openiscsi = "on";\n'
        "}\n"
    )
    findings = Findings()
    walk(load_table(), own_options, defined(nix_eval, str(module)), "shapes.nix", findings)
    assert findings.unknown == []
    assert findings.wrong == [
        "shapes.nix: boot.kernelParams is a string; listOf str takes ('list',)",
        "shapes.nix: networking.firewall.allowedTCPPorts[0] is a string; listOf port takes "
        "elements ('int',)",
        "shapes.nix: networking.hostName = 'tp-node3.lab' fails strMatching "
        '"^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$"',
        "shapes.nix: services.k3s.role = 'master' is not one of ('server', 'agent')",
        "shapes.nix: services.openiscsi is a string; the table lists options below it",
        "shapes.nix: services.openssh.enable is a string; bool takes ('bool',)",
    ]


def test_a_value_that_cannot_be_evaluated_is_reported(
    nix_eval: NixEval, own_options: set[str]
) -> None:
    # The repository's own tree: no secrets/secrets.yaml, so sopsFile stops evaluation.
    findings = Findings()
    tree = defined(nix_eval, "./nix/hosts/tp-node3.nix")
    walk(load_table(), own_options, tree, "nix/hosts/tp-node3.nix", findings)
    assert findings.wrong == [
        "nix/hosts/tp-node3.nix: sops.secrets.k3s_token.sopsFile could not be evaluated"
    ]


def test_config_reads_are_found_outside_comments() -> None:
    source = (
        "# config.not.this\n"
        "{ config, ... }: {\n"
        "  a = config.users.users ? ${node.user};\n"
        '  b = config.sops.secrets."k3s-token".path;\n'
        "  c = config.systemd.services.${name}.after; # config.nor.this\n"
        "  d = cfg.config.never + ./labbot-config.nix + bot/config.py;\n"
        "}\n"
    )
    assert config_reads(source) == {
        ("users", "users"),
        ("sops", "secrets", "k3s-token", "path"),
        ("systemd", "services", "<name>", "after"),
    }
