"""File-system errors are input errors: every command, run as a user who may not write (or
read) the path it is given, exits 2 with the path and the operation, no traceback, and
nothing half-written.

The commands run as real processes. As root they run as `nobody` (setpriv), since root
ignores permission bits; as any other user they run as that user. Everything they use lives
in a sandbox under /tmp that the user may traverse; a repository they must write to is
handed to the user (libgit2 refuses a repository another user owns).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from bundle_support import PASS, Site, Source
from conftest import PROJECT, Repo
from factories import PASSPHRASE, session_key, signing_policy, yaml_text

from pipeline.errors import FileSystemError
from pipeline.fsutil import atomic_writer, hash_file
from pipeline.models.signing import ReleasePredicate
from pipeline.packaging import build_plugin, pack_plugin
from pipeline.signing.sign import sign_with_key

BIN = Path(sys.executable).parent
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
LEFTOVERS = ("*.tmp", "*.part", ".*.new-*", ".*.old-*")

pytestmark = pytest.mark.skipif(
    AS_ROOT and shutil.which("setpriv") is None, reason="needs setpriv to drop root"
)


@pytest.fixture(scope="module", autouse=True)
def _unprivileged_user_can_run_the_tools() -> None:
    """The checkout must be one the unprivileged user may enter (not under a 0700 home)."""
    if not AS_ROOT:
        return
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(
        [*drop, str(BIN / "python"), "-c", "import pipeline"],
        capture_output=True,
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
    )
    if probe.returncode != 0:
        pytest.skip(
            f"user {NOBODY} cannot run {BIN / 'python'} with this checkout "
            "(a parent folder only root may enter): put the checkout where others may read"
        )


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A folder under /tmp the unprivileged user may traverse (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="px-fs-"))
    root.chmod(0o755)
    yield root
    for folder, dirs, _files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    shutil.rmtree(root)


def give(path: Path) -> Path:
    """Hand `path` (recursively) to the user the commands run as."""
    if AS_ROOT:
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(folder, name), NOBODY, NOBODY)
        os.lchown(path, NOBODY, NOBODY)
    return path


def locked(path: Path, mode: int = 0o555) -> Path:
    """A folder the user may read but not write (0555), or not even read (0700, root's)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def run(
    tool: str, *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a console script as the unprivileged user."""
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    command = [*(drop if AS_ROOT else []), str(BIN / tool), *argv]
    # no COVERAGE_*: the unprivileged user cannot write the coverage data of our subprocesses
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("POWERX_", "PX_", "COVERAGE_"))
    }
    environment |= {"HOME": "/nonexistent", "PX_PASSPHRASE": PASSPHRASE.decode()}
    environment |= env or {}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def assert_refused(
    result: subprocess.CompletedProcess[str], operation: str, path: Path | str, sandbox: Path
) -> None:
    """Exit 2, 'cannot <operation> <path>' on stderr with a hint, no traceback, no leftovers."""
    detail = f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode == 2, detail
    assert "Traceback" not in result.stderr, detail
    assert f"cannot {operation} {path}: " in result.stderr, detail
    assert "hint: " in result.stderr, detail
    left = [p for pattern in LEFTOVERS for p in sandbox.rglob(pattern)]
    assert not left, left


def head(repo: Path, *what: str) -> str:
    """`git rev-parse` of a repository root no longer owns (HEAD by default)."""
    command = ["git", "-c", "safe.directory=*", "rev-parse", *(what or ["HEAD"])]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout


def hello_world(sandbox: Path) -> Path:
    """A copy of examples/hello-world, not built yet."""
    plugin = sandbox / "hello-world"
    shutil.copytree(
        PROJECT / "examples" / "hello-world",
        plugin,
        ignore=shutil.ignore_patterns("build", "dist", "*.pxp"),
    )
    return plugin


def signed_package(sandbox: Path) -> Path:
    """hello-world 1.1.0 built, packed and signed with the test key, in sandbox/out."""
    plugin = hello_world(sandbox)
    build_plugin(plugin)
    packed = pack_plugin(plugin, sandbox / "out")
    predicate = ReleasePredicate.model_validate(
        {"plugin": "hello-world", "version": "1.1.0", "sourceCommit": "a" * 40, "builder": "tests"}
    )
    bundle = sign_with_key(packed.sha256, packed.path.name, predicate, session_key()[0])
    packed.path.with_name(packed.path.name + ".sigstore.json").write_bytes(bundle)
    return packed.path


# -- powerx ---------------------------------------------------------------------------------


def test_init_in_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    parent = locked(sandbox / "ro")
    result = run("powerx", "init", str(parent / "repo" / "deeper"))
    assert_refused(result, "create directory", parent / "repo", sandbox)
    assert not (parent / "repo").exists()


def test_init_below_a_file(sandbox: Path) -> None:
    (sandbox / "a-file").write_text("not a folder\n")
    result = run("powerx", "init", str(sandbox / "a-file" / "repo"))
    assert_refused(result, "create directory", sandbox / "a-file" / "repo", sandbox)
    assert "not a directory" in result.stderr


def test_init_with_a_name_too_long(sandbox: Path) -> None:
    target = sandbox / ("x" * 300)
    result = run("powerx", "init", str(target))
    assert_refused(result, "read", target, sandbox)  # before anything is created
    assert "file name too long" in result.stderr


def test_schema_into_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    out = locked(sandbox / "schemas")
    result = run("powerx", "schema", "-o", str(out))
    assert_refused(result, "write", out / "release.schema.json", sandbox)
    assert not any(out.iterdir())


def test_schema_below_a_file(sandbox: Path) -> None:
    (sandbox / "a-file").write_text("")
    result = run("powerx", "schema", "-o", str(sandbox / "a-file" / "schemas"))
    assert_refused(result, "create directory", sandbox / "a-file" / "schemas", sandbox)


def environment(sandbox: Path) -> Path:
    """An environment folder that asks for no plugins."""
    env = sandbox / "env"
    (env / "plugins").mkdir(parents=True)
    (env / "environment.yaml").write_text(
        "apiVersion: powerx.io/v1alpha1\nkind: Environment\nname: prod\nposition: 0\n"
    )
    return env


def test_agent_sync_into_a_store_the_user_may_not_create(sandbox: Path) -> None:
    env = environment(sandbox)
    parent = locked(sandbox / "lib")
    result = run("powerx", "agent", "sync", "--env", str(env), "--store", str(parent / "plugins"))
    assert_refused(result, "create directory", parent / "plugins", sandbox)


def test_agent_sync_with_an_environment_the_user_may_not_read(sandbox: Path) -> None:
    env = environment(sandbox)
    (env / "environment.yaml").chmod(0o000)
    result = run("powerx", "agent", "sync", "--env", str(env), "--store", str(sandbox / "s"))
    assert_refused(result, "read", env / "environment.yaml", sandbox)


def test_publish_create_into_a_store_the_user_may_not_write(sandbox: Path) -> None:
    package = signed_package(sandbox)
    repo = Repo(sandbox / "release-repo")
    from pipeline.scaffold import init_repo

    init_repo(repo.path)
    repo.commit({"policies/signing.yaml": yaml_text(signing_policy())}, "trust the test key")
    give(repo.path)
    store = locked(sandbox / "store")
    result = run(
        "powerx", "publish", "create", "--artifact", str(package), "--repo", str(repo.path),
        "--store", str(store), "--contact", "Ada=ada@example.com", "--no-push",
        "--operator", "ada",
    )  # fmt: skip
    assert_refused(result, "create directory", store / "sha256", sandbox)
    assert head(repo.path, "--branches=release/*") == ""


def test_export_to_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    source = Source(sandbox)
    source.release("hello", "1.0.0", health=PASS)
    give(source.repo.path)
    out = locked(sandbox / "out")
    result = run(
        "powerx", "export", "--repo", str(source.repo.path), "--env", "prod",
        "--store", str(source.store), "--key", str(source.key), "-o", str(out / "prod.bundle"),
    )  # fmt: skip
    assert_refused(result, "write", out / "prod.bundle", sandbox)


def test_import_into_the_readme_store_as_a_user(sandbox: Path) -> None:
    """The README's --store /var/lib/powerx/plugins, run by a user who may not create it."""
    store = Path("/var/lib/powerx/plugins")
    if store.parent.exists() or (os.access("/var/lib", os.W_OK) and not AS_ROOT):
        pytest.skip("/var/lib/powerx exists, or this user may write /var/lib")
    source = Source(sandbox)
    source.release("hello", "1.0.0", health=PASS)
    source.export(sandbox / "prod.bundle")
    site = Site(sandbox)
    give(site.repo.path)
    before = head(site.repo.path)
    argv = [*site.argv(sandbox / "prod.bundle")]
    argv[argv.index("--store") + 1] = str(store)
    result = run("powerx", *argv)
    assert_refused(result, "create directory", store.parent, sandbox)
    assert head(site.repo.path) == before  # nothing committed either


# -- px-plugin ------------------------------------------------------------------------------


def test_build_in_a_plugin_folder_the_user_may_not_write(sandbox: Path) -> None:
    plugin = hello_world(sandbox)
    plugin.chmod(0o555)
    result = run("px-plugin", "build", str(plugin), env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 1 and "build failed" in result.stderr  # its own output: a gate


def test_build_over_a_dist_the_user_may_not_replace(sandbox: Path) -> None:
    plugin = hello_world(sandbox)
    build_plugin(plugin)
    shutil.rmtree(plugin / "build")  # the build writes it again; dist/ (root's) must be replaced
    before = sorted(p.name for p in (plugin / "dist").rglob("*"))
    give(plugin)
    (plugin / "dist").chmod(0o555)  # moving a folder elsewhere needs write access to it
    result = run("px-plugin", "build", str(plugin))
    assert_refused(result, "replace", plugin / "dist", sandbox)
    assert sorted(p.name for p in (plugin / "dist").rglob("*")) == before


def test_pack_into_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    plugin = hello_world(sandbox)
    build_plugin(plugin)
    out = locked(sandbox / "out")
    result = run("px-plugin", "pack", str(plugin), "-o", str(out))
    assert_refused(result, "write", out / "hello-world-1.1.0.pxp", sandbox)
    assert not any(out.iterdir())


def test_keygen_into_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    out = locked(sandbox / "keys")
    result = run("px-plugin", "keygen", "-o", str(out / "team"))
    assert_refused(result, "write", out / "team.key", sandbox)
    assert not any(out.iterdir())


def test_sign_beside_an_artifact_the_user_may_not_write(sandbox: Path) -> None:
    (sandbox / "keys").mkdir()
    give(sandbox / "keys")
    made = run("px-plugin", "keygen", "-o", str(sandbox / "keys" / "team"))
    assert made.returncode == 0, made.stderr
    artifact = sandbox / "dist" / "hello-1.0.0.tgz"
    artifact.parent.mkdir()
    artifact.write_bytes(b"a package\n")
    artifact.parent.chmod(0o555)
    result = run(
        "px-plugin", "sign", str(artifact), "--key", str(sandbox / "keys" / "team.key"),
        "--plugin", "hello", "--version", "1.0.0", "--source-commit", "c" * 40,
    )  # fmt: skip
    assert_refused(result, "write", f"{artifact}.sigstore.json", sandbox)


def test_sign_with_a_key_the_user_may_not_read(sandbox: Path) -> None:
    key = sandbox / "root.key"
    key.write_bytes(b"secret")
    key.chmod(0o000)
    artifact = sandbox / "work" / "hello-1.0.0.tgz"
    artifact.parent.mkdir()
    artifact.write_bytes(b"a package\n")
    give(artifact.parent)
    result = run(
        "px-plugin", "sign", str(artifact), "--key", str(key),
        "--plugin", "hello", "--version", "1.0.0", "--source-commit", "c" * 40,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"'{key}' is not readable" in result.stderr  # click's own check of --key


# -- the helpers and the handler, in-process ------------------------------------------------


def test_a_file_that_vanishes_before_it_is_hashed(tmp_path: Path) -> None:
    gone = tmp_path / "artifact.pxp"
    with pytest.raises(FileSystemError) as raised:
        hash_file(gone)
    assert raised.value.exit_code == 2
    assert f"cannot read {gone}: no such file or directory" in raised.value.diagnostics()


def test_a_folder_that_vanishes_while_a_file_is_written_into_it(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    target = folder / "status.json"
    with pytest.raises(FileSystemError) as raised, atomic_writer(target) as handle:
        handle.write(b"{}")
        shutil.rmtree(folder)  # someone removes the folder under our feet
    assert f"cannot replace {target}: no such file or directory" in str(raised.value)
    assert not folder.exists()


def test_a_refused_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="refused"), atomic_writer(target) as handle:
        handle.write(b"half of the new")
        raise ValueError("refused")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--no-filename", is_flag=True)
def _touch(path: Path, no_filename: bool) -> None:
    """Write PATH the plain way (no helper), or fail with an OSError that names no path."""
    if no_filename:
        raise OSError(errno.EIO, "input/output error")
    path.write_text("x")


def test_the_handler_turns_an_os_error_with_a_path_into_exit_2(
    run_cli: Any, tmp_path: Path
) -> None:
    target = tmp_path / "a-file" / "below"
    (tmp_path / "a-file").write_text("")
    result = run_cli(_touch, str(target))
    assert result.code == 2 and "Traceback" not in result.err
    assert f"error: cannot write {target}: not a directory" in result.err
    assert "hint: a part of" in result.err


def test_an_os_error_without_a_path_is_still_a_bug(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli(_touch, str(tmp_path / "x"), "--no-filename")
    assert result.code == 3 and "Traceback" in result.err and "this is a bug" in result.err


# -- commands that write to a release repository --------------------------------------------


def test_a_repository_the_user_does_not_own_is_refused(sandbox: Path) -> None:
    from pipeline.scaffold import init_repo

    if not AS_ROOT:
        pytest.skip("needs a repository of another user: run as root")
    init_repo(sandbox / "repo")  # root's
    result = run("powerx", "check", "--all", "--repo", str(sandbox / "repo"))
    detail = result.stderr
    assert result.returncode == 2 and "Traceback" not in detail, detail
    assert f"cannot open the git repository {sandbox / 'repo'}: " in detail
    assert "not owned by current user" in detail and "safe.directory" in detail


def test_a_commit_into_a_git_folder_the_user_may_not_write(sandbox: Path) -> None:
    source = Source(sandbox)
    source.release("hello", "1.0.0", health=PASS)
    give(source.repo.path)
    before = head(source.repo.path)
    for folder, _dirs, _files in os.walk(source.repo.path / ".git"):
        os.chmod(folder, 0o555)
    result = run(
        "powerx", "plugin", "disable", "hello", "--env", "prod",
        "--repo", str(source.repo.path), "--operator", "ada",
    )  # fmt: skip
    detail = result.stderr
    assert result.returncode == 2 and "Traceback" not in detail, detail
    assert f"cannot write to the git repository {source.repo.path}: " in detail
    assert "Permission denied" in detail and "hint: " in detail
    assert head(source.repo.path) == before


def test_plan_to_a_file_in_a_folder_the_user_may_not_write(sandbox: Path) -> None:
    source = Source(sandbox)
    source.release("hello", "1.0.0", health=PASS)
    give(source.repo.path)
    out = locked(sandbox / "plans")
    result = run(
        "powerx", "plan", "hello@1.0.0", "--repo", str(source.repo.path),
        "-o", str(out / "plan.md"),
    )  # fmt: skip
    assert_refused(result, "write", out / "plan.md", sandbox)


def test_prune_of_a_store_the_user_may_not_write(sandbox: Path) -> None:
    store = locked(sandbox / "store")
    result = run("powerx", "agent", "prune", "--store", str(store))
    assert_refused(result, "open the lock file", store / ".lock", sandbox)
