"""The workflows layer: every flag is validated before anything is done; CI facts come in
through the CI seam, never read by the git layer."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, Repo

from pipeline import ci
from pipeline.cli.powerx import cli


def test_plan_push_without_lock_is_refused_before_the_plan(run_cli: Any, tmp_path: Path) -> None:
    # The flags are checked before the repo is even opened: nothing is printed or written.
    result = run_cli(cli, "plan", "hello@1.0.0", "--repo", str(tmp_path), "--push")
    assert result.code == 2
    assert result.out == ""
    assert "Error: --push pushes the lock tag: it needs --lock" in result.err
    assert "Usage: " in result.err


def test_remind_comment_needs_a_github_repo_before_anything(
    run_cli: Any, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    repo.commit({"a": "1"})
    result = run_cli(cli, "remind", "--repo", str(repo.path), "--comment")
    assert result.code == 2
    assert result.out == ""  # not even "no release request is waiting"
    assert "--comment needs --github-repo" in result.err


def test_publish_needs_a_github_repo_before_anything(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    artifact = tmp_path / "x.pxp"
    artifact.write_bytes(b"not even a package")
    store = tmp_path / "store"
    args = ["publish", "create", "--artifact", str(artifact), "--contact", "a=a@example.com"]
    result = run_cli(cli, *args, "--store", str(store), "--repo", str(tmp_path))
    assert result.code == 2
    assert "--github-repo (or $GITHUB_REPOSITORY) is needed to open a pull request" in result.err
    assert not store.exists()


def test_check_takes_the_default_base_from_the_ci_seam(
    run_cli: Any, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.git("checkout", "-q", "-b", "trunk")
    repo.commit({"a": "1"})
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit({"b": "2"})
    without = run_cli(cli, "check", "--repo", str(repo.path))
    assert without.code == 2 and "cannot tell the default branch" in without.err
    monkeypatch.setenv("GITHUB_BASE_REF", "trunk")
    with_ci = run_cli(cli, "check", "--repo", str(repo.path), "--format", "json")
    assert with_ci.code == 0, with_ci.err
    assert '"changed_files": 1' in with_ci.out or '"changedFiles": 1' in with_ci.out


def test_ci_base_ref() -> None:
    assert ci.base_ref({"GITHUB_BASE_REF": "main"}) == "main"
    assert ci.base_ref({"GITHUB_BASE_REF": ""}) is None
    assert ci.base_ref({}) is None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_git_layer_reads_no_environment() -> None:
    modules = sorted((PROJECT / "pipeline" / "gitrepo").glob("*.py"))
    assert modules
    for module in modules:
        source = module.read_text(encoding="utf-8")
        assert "os.environ" not in source and "getenv" not in source, module
        assert "os" not in _imports(module), module


def test_workflows_sit_below_the_cli() -> None:
    modules = sorted((PROJECT / "pipeline" / "workflows").glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        imported = _imports(module)
        assert "click" not in imported, module
        assert not any(name.startswith(("pipeline.cli", "pipeline.web")) for name in imported)


def test_promote_refuses_a_malformed_target_before_reading_the_repo(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli(cli, "promote", "hello@1.0@2", "--repo", str(tmp_path))
    assert result.code == 2
    assert "PLUGIN[@VERSION] must be plugin or plugin@version, not 'hello@1.0@2'" in result.err
    assert "Usage: " in result.err and result.out == ""
