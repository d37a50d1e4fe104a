"""The layout of the test suite itself: test modules share nothing with one another directly.

What several test modules use lives in conftest.py (fixtures) or in a support module beside
them (plain helpers and data); a test module importing another would run or re-collect that
module's tests and fixtures wherever it is imported, and couples files that should stand alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(tree: ast.Module) -> list[str]:
    """Every module an import statement names, at any depth (imports inside functions too)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                found.append(node.module)
            if node.module in (None, "tests"):  # `from tests import x`, `from . import x`
                found += [f"tests.{alias.name}" for alias in node.names]
    return found


def _forbidden(module: str) -> bool:
    """A test module or conftest, named from the package or on its own."""
    last = module.removeprefix("tests.")
    return last.startswith("test_") or last == "conftest"


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    offenders = {
        path.name: bad
        for path in sorted(TESTS.glob("test_*.py"))
        if (bad := [m for m in _imported_modules(ast.parse(path.read_text())) if _forbidden(m)])
    }
    assert offenders == {}, "move what they share to conftest.py or a support module"


def test_plugin_lists_name_no_test_module() -> None:
    """`pytest_plugins` would load a test module's fixtures (and tests) by name as well."""
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
            ):
                names = [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)]
                assert not [n for n in names if _forbidden(str(n))], path.name
