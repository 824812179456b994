"""The tests' own layout (issue 15): no test module imports another test module. What tests
share lives in helper modules (names without the ``test_`` prefix) or a conftest, so running,
moving or deleting one test module never changes another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def test_no_test_module_imports_another() -> None:
    modules = [*TESTS.rglob("test_*.py"), *TESTS.rglob("conftest.py")]
    assert len(modules) > 100
    offenders = [
        f"{path.relative_to(TESTS)} imports {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert offenders == [], "move what they share into a helper module"
