"""Architecture boundaries (style-anchors convention 3), enforced on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# library → the only modules (or packages, ending in /) allowed to import it
ALLOWED: dict[str, tuple[str, ...]] = {
    "slack_bolt": ("bot/slack_app.py",),
    "slack_sdk": ("bot/slack_app.py", "bot/slack_chat.py", "bot/slack_setup.py"),
    "asyncssh": ("bot/integrations/",),
    "github": ("bot/integrations/",),
    "subprocess": ("bot/integrations/",),
    "aiohttp": (
        "bot/integrations/",
        "bot/slack_app.py",
        "bot/slack_chat.py",
        "bot/slack_setup.py",
        "bot/health.py",
    ),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_libraries_are_imported_only_at_their_seams() -> None:
    offenders = []
    for package in ("bot", "handlers"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            for library in imports(path) & ALLOWED.keys():
                if not any(relative.startswith(allowed) for allowed in ALLOWED[library]):
                    offenders.append(f"{relative} imports {library}")
    assert offenders == []


def test_bot_and_handlers_never_import_labsim() -> None:
    # The one exception: `labbot demo` starts the simulated lab (the bot inside still does not know).
    offenders = [
        path.relative_to(ROOT).as_posix()
        for package in ("bot", "handlers")
        for path in (ROOT / package).rglob("*.py")
        if "labsim" in imports(path) and path != ROOT / "bot" / "cli.py"
    ]
    assert offenders == []
