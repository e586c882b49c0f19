"""`px-plugin build`: run a plugin's declared build command and publish its output as `dist/`.

The command runs without a shell, in the plugin folder, with its output captured to a
temporary file (never to memory). On success the declared output folder is copied into a
fresh folder beside `dist/`, which then replaces `dist/` by renames: `dist/` is always the
old complete build or the new complete one, never a half-copied mix. On failure `dist/` is
left as it was and the error carries the tail of the build's own output.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.errors import FileSystemError, GateError, InputError
from pipeline.fsutil import fs_errors
from pipeline.models.plugin import DIST_DIR, PluginManifest
from pipeline.packaging.manifest import LoadedManifest, read_manifest

DEFAULT_TIMEOUT = 900.0
"""Seconds a build may run before it is killed."""

TAIL_LINES = 50
"""Lines of the build's output quoted in an error."""

_TAIL_BYTES = 64 * 1024
_TARGET_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the manifest, the new `dist/`, and what the command printed."""

    manifest: PluginManifest
    dist: Path
    files: int
    seconds: float
    log_tail: str


def build_plugin(
    plugin_dir: Path, *, env: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> BuildResult:
    """Run the build command of `plugin_dir/plugin.yaml` and replace `dist/` with its output.

    `env` adds to (or overrides) the inherited environment. Raises InputError when the
    manifest is invalid or the command cannot be started, GateError when the build fails,
    times out or leaves no output folder; `dist/` is then untouched.
    """
    loaded = read_manifest(plugin_dir)
    started = time.monotonic()
    with tempfile.TemporaryFile() as log:
        code = _run(loaded, plugin_dir, {**os.environ, **(env or {})}, timeout, log)
        tail = _tail(log)
    command = shlex.join(loaded.manifest.build.command)
    if code is None:
        raise GateError(
            f"build timed out after {timeout:g} s: {command}\n{_quote(tail)}",
            location=loaded.locate(("build", "command")),
            hint="make the build faster, or allow it more time",
        )
    if code != 0:
        raise GateError(
            f"build failed: {command} exited with code {code}\n{_quote(tail)}",
            location=loaded.locate(("build", "command")),
            hint="fix the build; the previous dist/ was kept",
        )
    output = _output_folder(loaded, plugin_dir)
    entrypoint = output / loaded.manifest.entrypoint
    if not entrypoint.is_file():
        raise GateError(
            f"the build did not produce the entrypoint {loaded.manifest.entrypoint!r} "
            f"in {loaded.manifest.build.output}/",
            location=loaded.locate(("entrypoint",)),
            hint="entrypoint is relative to the build output folder (dist/ in the package)",
        )
    dist = plugin_dir / DIST_DIR
    try:
        files = publish_folder(output, dist)
    except (shutil.Error, OSError) as error:
        raise GateError(
            f"cannot copy the build output {loaded.manifest.build.output}/ to dist/: {error}",
            location=loaded.locate(("build", "output")),
            hint="the output may hold only files, folders and links; the previous dist/ was kept",
        ) from None
    return BuildResult(
        manifest=loaded.manifest,
        dist=dist,
        files=files,
        seconds=time.monotonic() - started,
        log_tail=tail,
    )


def _run(
    loaded: LoadedManifest,
    plugin_dir: Path,
    env: Mapping[str, str],
    timeout: float,
    log: IO[bytes],
) -> int | None:
    """Run the build command; its exit code, or None when it timed out (and was killed)."""
    argv = loaded.manifest.build.command
    try:
        process = subprocess.Popen(
            argv,
            cwd=plugin_dir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as error:
        raise InputError(
            f"cannot start the build command {argv[0]!r}: {error.strerror}",
            location=loaded.locate(("build", "command", 0)),
            hint="the command runs without a shell: name a program on PATH or a path to one",
        ) from None
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


def _tail(log: IO[bytes]) -> str:
    """The last TAIL_LINES lines of the captured output."""
    size = log.seek(0, os.SEEK_END)
    log.seek(max(0, size - _TAIL_BYTES))
    text = log.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def _quote(tail: str) -> str:
    if not tail:
        return "(the build printed nothing)"
    return f"--- last {TAIL_LINES} lines of the build's output ---\n{tail}\n---"


def _output_folder(loaded: LoadedManifest, plugin_dir: Path) -> Path:
    """The build's output folder, checked to exist and to lie inside the plugin folder."""
    declared = loaded.manifest.build.output
    output = plugin_dir / declared
    if not output.is_dir():
        raise GateError(
            f"the build succeeded but left no output folder {declared}/",
            location=loaded.locate(("build", "output")),
            hint="make the build command write its files there, or change build.output",
        )
    if not output.resolve().is_relative_to(plugin_dir.resolve()):
        raise InputError(
            f"build output {declared}/ leads outside the plugin folder (a link?)",
            location=loaded.locate(("build", "output")),
        )
    return output


def publish_folder(source: Path, target: Path) -> int:
    """Replace `target` with a copy of `source` by renames; the number of files copied.

    The copy goes to a temporary folder beside `target` first, so a failed copy leaves
    `target` untouched. Links are copied as links (the packer decides whether it accepts
    them).
    """
    parent = target.parent
    with fs_errors("create a temporary directory in", parent):
        fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))

    def copy(src: str, dst: str) -> object:
        try:
            return shutil.copy2(src, dst)
        except OSError as error:  # the destination's file system refused (not the source)
            if error.errno in _TARGET_ERRNOS or error.filename == dst:
                raise FileSystemError("write", target, error) from error
            raise

    try:
        shutil.copytree(source, fresh, symlinks=True, dirs_exist_ok=True, copy_function=copy)
        with fs_errors("replace", target):
            fresh.chmod(0o755)
            count = sum(len(files) for _, _, files in os.walk(fresh))
            if target.exists() or target.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
                try:
                    target.replace(old / target.name)
                except BaseException:
                    old.rmdir()
                    raise
                try:
                    fresh.replace(target)
                except BaseException:  # pragma: no cover - a rename in the same folder failing
                    (old / target.name).replace(target)
                    raise
                shutil.rmtree(old)
            else:
                fresh.replace(target)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return count
