"""pygit2 stays inside the git layer: every other module names our own commit type."""

from __future__ import annotations

import ast
from pathlib import Path

import pipeline

PACKAGE = Path(pipeline.__file__).parent
GIT_LAYER = PACKAGE / "gitrepo"


def _imports_pygit2(source: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "pygit2" or name.startswith("pygit2.") for name in names):
            lines.append(node.lineno)
    return lines


def test_no_module_outside_the_git_layer_imports_pygit2() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if GIT_LAYER not in path.parents
        for line in _imports_pygit2(path)
    ]
    assert offenders == []


def test_the_check_sees_an_import_of_pygit2(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom pygit2.enums import FileMode\nimport pygit2 as git\n")
    assert _imports_pygit2(module) == [2, 3]


def test_the_git_layer_itself_uses_pygit2() -> None:
    assert any(_imports_pygit2(path) for path in GIT_LAYER.glob("*.py"))
