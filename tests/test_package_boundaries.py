"""Layers import downward only (STYLE.md §2, issue 24): `asr_common` and the stubs at the bottom,
`core_service`, `bridges` and `clients` above them, and `asr_stack`, the launcher, on top. A bridge
is a client of the core, so `bridges` may use the SDK in `clients`; nothing else crosses sideways.

Every .py file of a package is parsed with `ast` (imports inside functions count too), so a lazy
import cannot hide a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

NOT_PYTHON_PACKAGES = ("clients/node", "clients/go", "clients/cpp", "clients/python")


def imported_packages(path: Path) -> set[str]:
    """The top-level packages `path` imports (relative imports stay in their own package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def sources(package: str) -> list[Path]:
    files = [p for p in sorted((ROOT / package).rglob("*.py"))
             if not any(p.relative_to(ROOT).as_posix().startswith(skip) for skip in NOT_PYTHON_PACKAGES)]
    assert files, f"no Python files under {package}/"
    return files


def crossings(package: str, forbidden: set[str]) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in sources(package) for name in sorted(imported_packages(path) & forbidden)]


def test_bridges_do_not_import_the_core():
    assert crossings("bridges", {"core_service", "asr_stack"}) == []


def test_the_core_imports_neither_bridges_nor_clients():
    assert crossings("core_service", {"bridges", "clients", "asr_stack"}) == []


def test_the_shared_package_imports_none_of_the_packages_above_it():
    assert crossings("asr_common", {"core_service", "bridges", "clients", "asr_stack"}) == []


def test_the_sdk_imports_neither_the_core_nor_the_bridges():
    assert crossings("clients", {"core_service", "bridges", "asr_stack"}) == []


@pytest.mark.parametrize("source, expected", [
    ("import core_service.server\n", {"core_service"}),
    ("from bridges.hygiene import scrub\n", {"bridges"}),
    ("def later():\n    from clients import types\n", {"clients"}),
    ("from . import metrics\nfrom .errors import ApiError\n", set()),
])
def test_imports_are_found_wherever_they_are_written(tmp_path, source, expected):
    module = tmp_path / "module.py"
    module.write_text(source)
    assert imported_packages(module) == expected
