"""The README's tour works as written: every `$ ` command of its `console` blocks runs, in
order, in one shell, in a scratch copy of this project (its files as a fresh clone would
have them, uncommitted edits included), and exits as its comment says (`# exit N`, else 0).
Nothing it writes shows up in `git status`: it goes to ignored folders or elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, PROJECT

README = PROJECT / "README.md"
EXPECTED_EXIT = re.compile(r"#.*\bexit (\d+)\b")


def tour_section(text: str) -> str:
    start = text.index("\n## A tour\n")
    return text[start : text.index("\n## ", start + 1)]


def code_blocks(section: str) -> list[tuple[str, list[str]]]:
    """(language, lines) of every fenced block; indented blocks are not allowed in the tour."""
    blocks: list[tuple[str, list[str]]] = []
    fence = re.compile(r"^ *```(\w*)$")
    current: tuple[str, list[str]] | None = None
    for line in section.splitlines():
        match = fence.match(line)
        if match and current is None:
            current = (match.group(1), [])
        elif match and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            current[1].append(line.strip())
    return blocks


def tour_commands(text: str) -> list[tuple[str, int]]:
    """Each `$ ` command (continuation lines joined) with the exit code its comment names."""
    commands: list[tuple[str, int]] = []
    for language, lines in code_blocks(tour_section(text)):
        if language != "console":
            continue
        pending = ""
        for line in lines:
            if pending:
                pending += "\n" + line
            elif line.startswith("$ "):
                pending = line[2:]
            else:
                continue  # output shown in the block
            if not pending.endswith("\\"):
                match = EXPECTED_EXIT.search(pending.splitlines()[-1])
                commands.append((pending, int(match.group(1)) if match else 0))
                pending = ""
    return commands


def test_the_tour_is_fenced_and_labelled() -> None:
    section = tour_section(README.read_text(encoding="utf-8"))
    indented = [line for line in section.splitlines() if re.match(r"^    (powerx|px-)", line)]
    assert indented == [], "show tour commands in ```console (run) or ```text (synopsis)"
    languages = {language for language, _ in code_blocks(section)}
    assert languages <= {"console", "text"}
    commands = tour_commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 10
    assert [code for _, code in commands].count(1) >= 2


def scratch_copy(target: Path) -> None:
    """This project's files as a clone would hold them, committed in a fresh repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(["git", *args], cwd=target, env={**os.environ, **GIT_ENV}, check=True)


@pytest.mark.slow
def test_every_tour_command_runs_as_the_readme_says(tmp_path: Path) -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    clone, temp, codes = tmp_path / "clone", tmp_path / "tmp", tmp_path / "codes"
    clone.mkdir()
    temp.mkdir()
    scratch_copy(clone)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    script = "".join(
        f'printf "\\n>>> %s\\n" {index}\n{command}\necho $? >> "$CODES"\n'
        for index, (command, _) in enumerate(commands)
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PX_", "GITHUB_", "PYTHONPATH", "POWERX_"))
    }
    env.update(GIT_ENV)
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        HOME=str(tmp_path),
        TMPDIR=str(temp),
        CODES=str(codes),
    )
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", script],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    got = [int(code) for code in codes.read_text().split()] if codes.exists() else []
    report = "\n".join(
        f"{'ok ' if want == (got[i] if i < len(got) else None) else 'BAD'} "
        f"want {want} got {got[i] if i < len(got) else '-'}: {command}"
        for i, (command, want) in enumerate(commands)
    )
    assert got == [want for _, want in commands], (
        report + "\n" + result.stdout[-4000:] + result.stderr[-4000:]
    )
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == "", "the tour leaves files that are not ignored:\n" + status
    after = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert after == head  # the tour commits nothing to the clone
    assert "held hello-world: 0/2 approval(s) for prod (nobody)" in result.stdout
    assert "error: digest mismatch" in result.stderr
    assert "the site's signing policy trusts no bundle signer" in result.stderr
    assert re.search(r"^imported prod sequence \d+ from ", result.stdout, re.M)
    assert re.search(r"^  hello-world +1\.0\.0 +yes +1\.0\.0 +healthy", result.stdout, re.M)
    assert (clone / "out" / "plan.md").read_text().startswith("# Release plan: hello-world 1.1.0")
    assert list(temp.glob("*/release-repo/.github/workflows/powerx-check.yml"))
