"""A command health check finds the plugin's own modules: the host puts `dist/` on PYTHONPATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.agent.health import run_health_check
from pipeline.models.plugin import HealthCheck


def version_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "store" / "hello-world" / "1.1.0"
    (folder / "dist" / "hello_world").mkdir(parents=True)
    (folder / "dist" / "hello_world" / "__init__.py").write_text("GREETING = 'hi'\n")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "helper.py").write_text("VALUE = 1\n")
    return folder


def check(code: str) -> HealthCheck:
    return HealthCheck.model_validate({"command": [sys.executable, "-c", code]})


def test_the_plugin_module_imports_without_extra_variables(tmp_path: Path) -> None:
    folder = version_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = run_health_check(check("import hello_world"), folder, timeout=30, env=env)
    assert result.healthy, result.detail
    missing = run_health_check(check("import ledger_sync"), folder, timeout=30, env=env)
    assert not missing.healthy and "No module named 'ledger_sync'" in missing.detail


def test_an_existing_pythonpath_is_kept_after_dist(tmp_path: Path) -> None:
    folder = version_folder(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "extra")}
    code = (
        "import sys, hello_world, helper; "
        "assert hello_world.__file__.startswith(sys.argv[1]), hello_world.__file__"
    )
    command = HealthCheck.model_validate(
        {"command": [sys.executable, "-c", code, str(folder / "dist")]}
    )
    result = run_health_check(command, folder, timeout=30, env=env)
    assert result.healthy, result.detail
