"""Bad input to `powerx check`: each case a clear message with file:line, exit 2, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPORTS, Repo
from factories import bundle, release, yaml_text
from test_check import PASSING, RELEASE, add_release, check, evidence

from pipeline.cli.powerx import cli

MANIFEST = f"{RELEASE}/release.yaml"


def manifest_with(text: str) -> dict[str, str | bytes | None]:
    return {MANIFEST: text, **evidence(PASSING)}


def valid_text() -> str:
    return yaml_text(release())


def sarif_without_severities() -> bytes:
    data = json.loads((REPORTS / "failing" / "bandit.sarif").read_bytes())
    for run in data["runs"]:
        for result in run["results"]:
            result.pop("level", None)
            result.pop("properties", None)
    return json.dumps(data).encode()


def billion_laughs() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefgh":
        prev = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return valid_text() + "\n".join(lines).replace("a: &a", "x-bomb: &a", 1) + "\n"


CASES: dict[str, tuple[Callable[[], dict[str, str | bytes | None]], str, str]] = {
    "malformed yaml": (
        lambda: manifest_with(valid_text().replace("plugin: hello", "plugin: [hello")),
        f"{MANIFEST}:4:8",
        "invalid YAML",
    ),
    "duplicate keys": (
        lambda: manifest_with(valid_text() + "plugin: other\n"),
        f"{MANIFEST}:",
        'found duplicate key "plugin"',
    ),
    "alias bomb": (lambda: manifest_with(billion_laughs()), MANIFEST, "document expands beyond"),
    "wrong type": (
        lambda: manifest_with(valid_text().replace("size: 1234", "size: large")),
        f"{MANIFEST}:8:3",
        "artifact.size: Input should be a valid integer",
    ),
    "unknown field": (
        lambda: manifest_with(valid_text().replace("notes:", "noets:")),
        f"{MANIFEST}:10:1",
        "unknown field 'noets'",
    ),
    "over size": (
        lambda: manifest_with(valid_text() + "# " + "x" * (1024 * 1024) + "\n"),
        MANIFEST,
        "over the limit of 1,048,576",
    ),
    "not utf-8": (
        lambda: manifest_with(valid_text().replace("First release.", "Caf\xe9").encode("latin-1")),  # type: ignore[arg-type]
        f"{MANIFEST}:10:11",
        "not valid UTF-8",
    ),
    "missing report": (
        lambda: {MANIFEST: valid_text(), f"{RELEASE}/hello-1.0.0.pxp.sigstore.json": bundle()},
        f"{MANIFEST}:17:7",
        f"evidence file {RELEASE}/evidence/coverage.json does not exist",
    ),
    "wrong-format report": (
        lambda: {
            **manifest_with(valid_text()),
            f"{RELEASE}/evidence/coverage.json": (REPORTS / "passing" / "junit.xml").read_bytes(),
        },
        f"{RELEASE}/evidence/coverage.json",
        "not a coverage report",
    ),
    "sarif without severities": (
        lambda: {
            **manifest_with(valid_text()),
            f"{RELEASE}/evidence/bandit.sarif": sarif_without_severities(),
        },
        f"{RELEASE}/evidence/bandit.sarif",
        "add properties.security-severity",
    ),
    "evidence escapes with ..": (
        lambda: manifest_with(
            valid_text().replace("evidence/junit.xml", "../../../../../etc/passwd")
        ),
        f"{MANIFEST}:19:7",
        "escapes the repository",
    ),
    "absolute evidence path": (
        lambda: manifest_with(valid_text().replace("evidence/junit.xml", "/etc/passwd")),
        f"{MANIFEST}:19:7",
        "is absolute",
    ),
    "manifest in the wrong folder": (
        lambda: manifest_with(valid_text().replace("version: 1.0.0", "version: 1.0.1")),
        f"{MANIFEST}:4:1",
        "version '1.0.1' does not match its folder releases/hello/1.0.0/",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_location(run_cli: Any, release_repo: Repo, case: str) -> None:
    make_files, where, message = CASES[case]
    release_repo.commit(make_files())
    head, status = release_repo.head(), release_repo.git("status", "--porcelain")
    result = check(run_cli, release_repo)
    assert result.code == 2, result.out + result.err
    assert message in result.out
    assert f"at {where}" in result.out
    assert "result: ERROR (bad input)" in result.out
    assert release_repo.head() == head and release_repo.git("status", "--porcelain") == status


def test_symlink_evidence_leaving_the_repo_is_refused(run_cli: Any, release_repo: Repo) -> None:
    files = manifest_with(valid_text())
    del files[f"{RELEASE}/evidence/junit.xml"]
    release_repo.write(files)
    (release_repo.path / RELEASE / "evidence" / "junit.xml").symlink_to("/etc/passwd")
    release_repo.commit({})
    result = check(run_cli, release_repo)
    assert result.code == 2
    assert "symbolic link points outside the repository (to '/etc/passwd')" in result.out
    assert f"at {RELEASE}/evidence/junit.xml" in result.out


def test_symlink_evidence_inside_the_repo_is_followed(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit({"common-evidence/junit.xml": (PASSING / "junit.xml").read_bytes()})
    files = manifest_with(valid_text())
    del files[f"{RELEASE}/evidence/junit.xml"]
    release_repo.write(files)
    (release_repo.path / RELEASE / "evidence" / "junit.xml").symlink_to(
        "../../../../common-evidence/junit.xml"
    )
    release_repo.commit({})
    assert check(run_cli, release_repo).code == 0


@pytest.mark.parametrize("flag", ["--base", "--head"])
def test_unknown_revisions(run_cli: Any, release_repo: Repo, flag: str) -> None:
    add_release(release_repo)
    args = ["check", "--repo", str(release_repo.path), flag, "no-such-branch"]
    if flag == "--head":
        args += ["--base", "main"]
    result = run_cli(cli, *args)
    assert result.code == 2
    assert "error: revision 'no-such-branch' does not exist" in result.err
    assert "hint:" in result.err


def test_bad_policy_on_the_base_is_bad_input(run_cli: Any, release_repo: Repo) -> None:
    release_repo.git("checkout", "-q", "main")
    gates = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit({"policies/gates.yaml": gates.replace("minimum: 90", "minimum: ninety")})
    release_repo.git("checkout", "-q", "feature")
    release_repo.git("rebase", "-q", "main")
    result = check(run_cli, release_repo, base="main")
    assert result.code == 2
    assert (
        "error: policies/gates.yaml:7:3: coverage.minimum: Input should be a valid number"
        in result.err
    )


def test_second_policy_of_a_kind_and_unknown_kinds(run_cli: Any, release_repo: Repo) -> None:
    release_repo.git("checkout", "-q", "main")
    gates = (release_repo.path / "policies/gates.yaml").read_text()
    release_repo.commit({"policies/more-gates.yaml": gates})
    result = check(run_cli, release_repo, base="main")
    assert result.code == 2
    assert "a second GatePolicy (the first is policies/gates.yaml)" in result.err
    release_repo.commit(
        {"policies/more-gates.yaml": gates.replace("kind: GatePolicy", "kind: Gates")}
    )
    result = check(run_cli, release_repo, base="main")
    assert "unknown policy kind 'Gates'" in result.err and result.code == 2


def test_invalid_policy_in_the_change_is_an_error(run_cli: Any, release_repo: Repo) -> None:
    release_repo.commit(
        {
            "policies/promotion.yaml": "apiVersion: powerx.io/v1alpha1\nkind: PromotionPolicy\norder: []\n"
        }
    )
    result = check(run_cli, release_repo)
    assert result.code == 2
    assert "at policies/promotion.yaml:3:1" in result.out


def test_not_a_repository(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(cli, "check", "--repo", str(tmp_path))
    assert result.code == 2
    assert "not a git repository" in result.err


def test_no_default_branch(run_cli: Any, repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "trunk")
    repo.commit({"a": "1"})
    result = run_cli(cli, "check", "--repo", str(repo.path))
    assert result.code == 2
    assert "cannot tell the default branch" in result.err
