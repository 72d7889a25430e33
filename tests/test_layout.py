"""The layout of the repository (README "Where things are"): the engine in `bot/`, one package per
capability in `handlers/`, and the rules between them.

Test files need unique names: tests/ has no __init__.py (a tests/labsim/slack package would
shadow slack_sdk's `slack`), so pytest imports each test module by its basename.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import grimp
import pytest

from bot.capabilities import CAPABILITIES
from bot.capability import Capability

ROOT = Path(__file__).resolve().parents[1]
# The one engine module that lists the capabilities, and so imports them.
COMPOSITION = "bot.capabilities"
LONG_MODULE_LINES = 400


def _modules(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "migrations" in relative.parts:
            continue  # Alembic's scripts, loaded by Alembic itself
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        found.append(".".join(parts))
    return found


def _capability_packages() -> list[str]:
    return sorted(
        p.name for p in (ROOT / "handlers").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )


def test_test_module_names_are_unique() -> None:
    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []


def _imports_handlers(modules: list[str]) -> list[str]:
    """Import `modules` in a fresh interpreter; the `handlers.*` modules that came along."""
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('\\n'.join(m for m in sys.modules if m == 'handlers' or m.startswith('handlers.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_no_engine_module_imports_a_capability() -> None:
    engine = [m for m in _modules("bot") if m != COMPOSITION]
    assert len(engine) > 40  # the walk found the engine
    if _imports_handlers(engine):  # all at once is quick; one by one names the culprit
        offenders = {m: found for m in engine if (found := _imports_handlers([m]))}
        assert offenders == {}


def test_the_composition_module_does_import_the_capabilities() -> None:
    # The check above can fail: the one module allowed to import handlers does.
    assert "handlers.deploy" in _imports_handlers([COMPOSITION])


def test_every_capability_package_is_listed_once_and_declares_itself() -> None:
    listed = [cap.name for cap in CAPABILITIES]
    assert len(set(listed)) == len(listed)
    packages = _capability_packages()
    assert sorted(listed) == packages
    for name in packages:
        module = importlib.import_module(f"handlers.{name}")
        assert isinstance(module.CAPABILITY, Capability)
        assert module.CAPABILITY in CAPABILITIES
        assert (ROOT / "handlers" / name / "messages.py").exists(), f"{name} has no messages.py"


def test_capabilities_declare_distinct_commands_and_kinds() -> None:
    commands = [spec.name for cap in CAPABILITIES for spec in cap.commands]
    kinds = [kind.name for cap in CAPABILITIES for kind in cap.job_kinds]
    assert len(set(commands)) == len(commands)
    assert len(set(kinds)) == len(kinds)
    assert {"deploy", "flash", "renovate_merge", "sops-rotate"} <= set(kinds)


def _runtime_cycles() -> list[list[str]]:
    """Strongly connected groups of modules that import each other at run time (imports under
    `if TYPE_CHECKING:` never run and are left out)."""
    graph = grimp.build_graph("bot", "handlers", exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_import_cycles() -> None:
    assert _runtime_cycles() == []


def test_import_contracts_hold() -> None:
    # The same contracts CI runs with `lint-imports` (pyproject.toml, [tool.importlinter]).
    result = subprocess.run(
        [sys.executable, "-m", "importlinter.cli", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("package", ["bot", "handlers", "labsim"])
def test_long_modules_say_why_they_are_long(package: str) -> None:
    unexplained = []
    for path in (ROOT / package).rglob("*.py"):
        text = path.read_text()
        if len(text.splitlines()) <= LONG_MODULE_LINES or "migrations" in path.parts:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if "Long because" not in docstring:
            unexplained.append(path.relative_to(ROOT).as_posix())
    assert sorted(unexplained) == []
