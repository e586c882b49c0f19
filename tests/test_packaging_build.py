"""px-plugin build: runs the declared command for real; dist/ is the old or the new build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.errors import GateError, InputError
from pipeline.packaging import build_plugin, pack_plugin

DATA = Path(__file__).parent / "data" / "plugins"
EXAMPLE = Path(__file__).parents[1] / "examples" / "hello-world"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh copy of the demo plugin."""
    return Path(shutil.copytree(DATA / "demo", tmp_path / "demo"))


def test_build_publishes_the_output_as_dist(demo: Path) -> None:
    result = build_plugin(demo)
    assert result.dist == demo / "dist"
    assert result.files == 2
    assert (demo / "dist" / "bin" / "run.py").read_text() == (demo / "src/bin/run.py").read_text()
    assert result.log_tail == "building 0"
    assert result.manifest.name == "demo"
    assert result.seconds >= 0
    assert sorted(p.name for p in demo.iterdir() if p.name.startswith(".")) == []


def test_rebuild_replaces_dist_entirely(demo: Path) -> None:
    build_plugin(demo)
    (demo / "dist" / "stale.txt").write_text("old")
    (demo / "src" / "new.txt").write_text("new")
    build_plugin(demo)
    assert not (demo / "dist" / "stale.txt").exists()
    assert (demo / "dist" / "new.txt").read_text() == "new"
    assert [p.name for p in demo.iterdir() if p.name.startswith(".")] == []


def test_failed_build_keeps_old_dist_and_quotes_output(demo: Path) -> None:
    build_plugin(demo)
    before = sorted(p.relative_to(demo).as_posix() for p in (demo / "dist").rglob("*"))
    with pytest.raises(GateError) as caught:
        build_plugin(demo, env={"DEMO_EXIT": "3", "DEMO_LINES": "80", "DEMO_SAY": "step"})
    error = caught.value
    assert error.exit_code == 1
    assert "python3 build.py exited with code 3" in error.message
    assert "boom: the build broke" in error.message
    assert "step 79" in error.message and "step 31" in error.message
    assert "step 30\n" not in error.message  # only the last 50 lines
    assert error.location is not None and error.location.line == 17  # build.command
    after = sorted(p.relative_to(demo).as_posix() for p in (demo / "dist").rglob("*"))
    assert after == before


def test_silent_failure_says_so(demo: Path) -> None:
    (demo / "plugin.yaml").write_text(
        (demo / "plugin.yaml")
        .read_text()
        .replace("[python3, build.py]", "[python3, -c, 'raise SystemExit(1)']")
    )
    with pytest.raises(GateError, match=r"the build printed nothing"):
        build_plugin(demo)
    assert not (demo / "dist").exists()


def test_missing_output_is_a_clear_error(demo: Path) -> None:
    with pytest.raises(GateError, match=r"left no output folder out/") as caught:
        build_plugin(demo, env={"DEMO_NO_OUTPUT": "1"})
    assert caught.value.hint is not None and "build.output" in caught.value.hint
    assert not (demo / "dist").exists()


def test_missing_entrypoint_is_refused(demo: Path) -> None:
    (demo / "src" / "bin" / "run.py").unlink()
    with pytest.raises(GateError, match=r"did not produce the entrypoint 'bin/run.py'"):
        build_plugin(demo)


def test_output_leading_outside_is_refused(demo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(demo / "src", elsewhere)
    text = (demo / "plugin.yaml").read_text()
    (demo / "plugin.yaml").write_text(
        text.replace("[python3, build.py]", "[python3, --version]").replace(
            "output: out", "output: link"
        )
    )
    (demo / "link").symlink_to(elsewhere)
    with pytest.raises(InputError, match=r"leads outside the plugin folder"):
        build_plugin(demo)


def test_unknown_command_is_an_input_error(demo: Path) -> None:
    text = (demo / "plugin.yaml").read_text()
    (demo / "plugin.yaml").write_text(text.replace("[python3, build.py]", "[no-such-tool-px, all]"))
    with pytest.raises(
        InputError, match=r"cannot start the build command 'no-such-tool-px'"
    ) as caught:
        build_plugin(demo)
    assert caught.value.location is not None and caught.value.location.line == 17


def test_timeout_kills_the_build(demo: Path) -> None:
    text = (demo / "plugin.yaml").read_text()
    slow = "[sh, -c, 'echo waiting; exec sleep 3600']"  # sh prints at once (python starts slowly)
    (demo / "plugin.yaml").write_text(text.replace("[python3, build.py]", slow))
    with pytest.raises(GateError, match=r"timed out after 0.5 s") as caught:
        build_plugin(demo, timeout=0.5)
    assert "waiting" in caught.value.message


def test_example_builds_and_packs(tmp_path: Path) -> None:
    example = Path(
        shutil.copytree(
            EXAMPLE,
            tmp_path / "hello-world",
            ignore=shutil.ignore_patterns("dist", "build", "*.pxp"),
        )
    )
    result = build_plugin(example)
    assert (example / "dist" / "hello_world" / "__init__.py").is_file()
    assert not list((example / "dist").rglob("__pycache__"))
    packed = pack_plugin(example, tmp_path / "out")
    assert packed.path.name == "hello-world-1.1.0.pxp"
    assert result.manifest.permissions == ["tenant-data:read"]


def test_uncopyable_output_keeps_old_dist(demo: Path) -> None:
    build_plugin(demo)
    text = (demo / "plugin.yaml").read_text()
    make_fifo = "[python3, -c, 'import os; os.mkfifo(\"src/pipe\")']"
    (demo / "plugin.yaml").write_text(
        text.replace("[python3, build.py]", make_fifo).replace("output: out", "output: src")
    )
    with pytest.raises(
        GateError, match=r"cannot copy the build output src/ to dist/: .*named pipe"
    ):
        build_plugin(demo)
    assert sorted(p.name for p in (demo / "dist").iterdir()) == ["bin", "config.py"]
    assert [p.name for p in demo.iterdir() if p.name.startswith(".")] == []
