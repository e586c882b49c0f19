"""plugin.yaml: valid manifests load; invalid ones are refused with file:line and a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import CombinedInputError, InputError
from pipeline.models.plugin import PERMISSIONS, PluginManifest
from pipeline.models.schemas import all_schemas
from pipeline.packaging import load_manifest, read_manifest
from pipeline.packaging.manifest import parse_manifest

DEMO = Path(__file__).parent / "data" / "plugins" / "demo"
EXAMPLE = Path(__file__).parents[1] / "examples" / "hello-world"

MINIMAL = """\
apiVersion: powerx.io/v1alpha1
kind: Plugin
name: tiny
version: 1.0.0
description: tiny
license: MIT
compatibility:
  powerx: ">=2.4"
entrypoint: main.py
healthCheck:
  command: [python3, main.py, --check]
build:
  command: [make]
"""


def parse(text: str) -> PluginManifest:
    return parse_manifest(text.encode(), "tiny/plugin.yaml")[1]


def refuse(text: str) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(text)
    error = caught.value
    if isinstance(error, CombinedInputError):  # pragma: no cover - only when a test is wrong
        raise AssertionError(error.diagnostics())
    return error


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_minimal_manifest_gets_defaults() -> None:
    manifest = parse(MINIMAL)
    assert manifest.ref == "tiny@1.0.0"
    assert manifest.package_name == "tiny-1.0.0.pxp"
    assert manifest.build.output == "build"
    assert manifest.health_check.timeout_seconds == 10
    assert manifest.permissions == [] and manifest.dependencies == {}
    assert manifest.extra_files == ()


def test_demo_and_example_manifests_load() -> None:
    demo = load_manifest(DEMO)
    assert demo.version == "2.0.0-rc.1+build.7"
    assert demo.health_check.http is not None and demo.health_check.http.port == 8080
    assert demo.extra_files == ("docs/RELEASE_NOTES.md", "CHANGELOG.md")
    assert demo.dependencies == {"hello-world": "^1.1", "ledger-sync": ">=1.0.1"}
    example = read_manifest(EXAMPLE)
    assert example.manifest.ref == "hello-world@1.1.0"
    assert example.locate(("build", "command")).line == line_of(
        example.raw.decode(), "command: [python3, build.py]"
    )


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        ("version: 1.0.0", "version: 1.0.x", "version:", "semantic version"),
        ('powerx: ">=2.4"', 'powerx: ">=2.x"', "powerx:", "powerx"),
        ("name: tiny", "name: Tiny_Plugin", "name:", "lower-case"),
        ("license: MIT", "license: MIT and stuff", "license:", "license"),
        ("entrypoint: main.py", "entrypoint: /usr/bin/main.py", "entrypoint:", "absolute"),
        ("entrypoint: main.py", "entrypoint: ../main.py", "entrypoint:", "'..'"),
        ("entrypoint: main.py", "entrypoint: a\\main.py", "entrypoint:", "'/'"),
        ("entrypoint: main.py", "entrypoint: C:main.py", "entrypoint:", "absolute"),
        ("entrypoint: main.py", "entrypoint: ./.", "entrypoint:", "must name a file"),
        ("command: [make]", "command: []", "command: []", "at least 1"),
        ("command: [make]", "command: [make]\n  output: dist/x", "output:", "dist/"),
        ("command: [make]", "command: [make]\n  output: a/../../x", "output:", "'..'"),
    ],
)
def test_bad_values_are_refused_at_their_line(old: str, new: str, needle: str, reason: str) -> None:
    text = MINIMAL.replace(old, new)
    assert text != MINIMAL
    error = refuse(text)
    assert error.location is not None and error.location.path == "tiny/plugin.yaml"
    assert error.location.line == line_of(text, needle)
    assert reason in error.message


def test_unknown_permission_suggests_the_closest() -> None:
    text = MINIMAL + "permissions: [network, tenant-data:raed]\n"
    error = refuse(text)
    assert "permissions.1" in error.message
    assert "did you mean 'tenant-data:read'?" in error.message
    assert error.location is not None and error.location.line == line_of(text, "permissions")
    far = refuse(MINIMAL + "permissions: [root]\n")
    assert "known permissions: network" in far.message


def test_permissions_may_not_repeat() -> None:
    assert "once" in refuse(MINIMAL + "permissions: [network, network]\n").message
    assert set(parse(MINIMAL + f"permissions: {list(PERMISSIONS)}\n").permissions) == set(
        PERMISSIONS
    )


def test_unknown_field_suggests_the_right_name() -> None:
    text = MINIMAL.replace("healthCheck:", "healthcheck:")
    with pytest.raises(CombinedInputError) as caught:
        parse(text)
    hints = {e.message: e.hint for e in caught.value.errors}
    assert hints["unknown field 'healthcheck'"] == "did you mean 'healthCheck'?"
    nested = refuse(MINIMAL + "  timeout: 5\n".replace("  timeout", "  outptu"))
    assert nested.hint == "did you mean 'output'?"


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ("{}", "exactly one"),
        ("{command: [x], http: {path: /h, port: 80}}", "exactly one"),
        ("{http: {path: healthz, port: 80}}", "match pattern"),
        ("{http: {path: /healthz, port: 0}}", "greater than or equal to 1"),
        ("{command: [x], timeoutSeconds: 0}", "greater than or equal to 1"),
    ],
)
def test_health_check_needs_exactly_one_probe(check: str, reason: str) -> None:
    text = MINIMAL.replace(
        "healthCheck:\n  command: [python3, main.py, --check]", f"healthCheck: {check}"
    )
    assert reason in refuse(text).message


def test_http_health_check_and_timeout() -> None:
    text = MINIMAL.replace(
        "healthCheck:\n  command: [python3, main.py, --check]",
        "healthCheck: {http: {path: /healthz, port: 8080}, timeoutSeconds: 3}",
    )
    check = parse(text).health_check
    assert check.http is not None and check.http.path == "/healthz"
    assert check.command is None and check.timeout_seconds == 3


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("compatibility: {other: '>=1'}", "powerx"),
        ("dependencies: {tiny: '>=1'}", "itself"),
        ("dependencies: {other: '>=1.x'}", "dependencies.other"),
        ("notes: CHANGES.md\nchangelog: ./CHANGES.md", "different files"),
        ("notes: checksums.txt", "inside dist/"),
        ("changelog: dist/CHANGELOG.md", "inside dist/"),
    ],
)
def test_cross_field_rules(extra: str, reason: str) -> None:
    base = (
        MINIMAL.replace('compatibility:\n  powerx: ">=2.4"\n', "") if "compat" in extra else MINIMAL
    )
    assert reason in refuse(base + extra + "\n").message


def test_paths_are_normalised() -> None:
    manifest = parse(
        MINIMAL.replace("entrypoint: main.py", "entrypoint: ./bin//run.py") + "notes: ./N.md\n"
    )
    assert manifest.entrypoint == "bin/run.py"
    assert manifest.notes == "N.md"


def test_argv_numbers_must_be_quoted() -> None:
    error = refuse(MINIMAL.replace("command: [make]", "command: [sleep, 5]"))
    assert error.hint == "YAML reads 5 as a number: quote it ('5')"


def test_missing_folder_and_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(InputError, match=r"plugin.yaml not found") as caught:
        read_manifest(tmp_path)
    assert caught.value.hint is not None and "examples/hello-world" in caught.value.hint


def test_wrong_kind_is_refused() -> None:
    error = refuse(MINIMAL.replace("kind: Plugin", "kind: Release"))
    assert error.location is not None and error.location.line == 2


def test_schema_is_published() -> None:
    schema = all_schemas()["plugin.schema.json"]
    assert schema["properties"]["kind"]["const"] == "Plugin"
    assert schema["x-powerx-path"].endswith("plugin.yaml")
    assert "healthCheck" in schema["required"]
    permissions = schema["properties"]["permissions"]["items"]
    assert permissions["enum"] == list(PERMISSIONS)


def test_explicit_null_notes_are_allowed() -> None:
    assert parse(MINIMAL + "notes: null\nchangelog: ~\n").extra_files == ()
