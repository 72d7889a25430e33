"""Test files need unique names: tests/ has no __init__.py (a tests/labsim/slack package would
shadow slack_sdk's `slack`), so pytest imports each test module by its basename."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_module_names_are_unique() -> None:
    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
