"""`powerx check` reads commits: uncommitted release files get a warning on stderr."""

from __future__ import annotations

from typing import Any

from conftest import Repo

from pipeline.cli.powerx import cli
from pipeline.gitrepo import GitRepo

WARNING = "warning: powerx check reads commits, not the work tree: uncommitted changes to "


def test_a_clean_work_tree_gets_no_warning(run_cli: Any, release_repo: Repo) -> None:
    release_repo.write({"notes.txt": "not a release file\n", "docs/x.md": "y\n"})
    result = run_cli(cli, "check", "--repo", str(release_repo.path), "--base", "main")
    assert result.code == 0
    assert "warning" not in result.err


def test_uncommitted_release_files_are_named(run_cli: Any, release_repo: Repo) -> None:
    release_repo.write({"policies/gates.yaml": "broken: [\n"})  # changed, not committed
    result = run_cli(cli, "check", "--repo", str(release_repo.path), "--base", "main")
    assert result.code == 0  # the committed state passes: the broken file is not read
    assert result.err == (
        f"{WARNING}policies/gates.yaml are not checked (commit them to check them)\n"
    )


def test_at_most_three_paths_then_a_count(run_cli: Any, release_repo: Repo) -> None:
    release_repo.write(
        {
            "environments/prod/environment.yaml": "x: 1\n",
            "policies/licenses.yaml": "x: 1\n",
            "releases/hello/1.0.0/release.yaml": "x: 1\n",
            "releases/README.md": None,
        }
    )
    release_repo.git("add", "policies/licenses.yaml")  # staged counts too
    result = run_cli(cli, "check", "--repo", str(release_repo.path), "--all")
    assert result.err == (
        f"{WARNING}environments/prod/environment.yaml, policies/licenses.yaml, "
        "releases/README.md and 1 more are not checked (commit them to check them)\n"
    )
    assert GitRepo(release_repo.path).uncommitted(("releases",)) == [
        "releases/README.md",
        "releases/hello/",
    ]


def test_another_head_is_not_the_work_tree(run_cli: Any, release_repo: Repo) -> None:
    release_repo.write({"policies/gates.yaml": "broken: [\n"})
    result = run_cli(cli, "check", "--repo", str(release_repo.path), "--head", "main", "--all")
    assert result.code == 0 and result.err == ""


def test_ignored_files_and_bare_repositories(release_repo: Repo, tmp_path: Any) -> None:
    release_repo.commit({".gitignore": "*.tmp\n"})
    release_repo.write({"releases/scratch.tmp": "x\n"})
    assert GitRepo(release_repo.path).uncommitted(("releases", "policies")) == []
    bare = tmp_path / "bare.git"
    release_repo.git("clone", "-q", "--bare", str(release_repo.path), str(bare))
    assert GitRepo(bare).uncommitted(("releases",)) == []
