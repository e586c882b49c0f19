"""Semantic versions and ranges."""

from __future__ import annotations

import pytest

from pipeline.models.semver import Version, VersionRange, is_semver


@pytest.mark.parametrize(
    "lower, higher",
    [
        ("1.0.0", "2.0.0"),
        ("1.0.0", "1.1.0"),
        ("1.0.0-alpha", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
    ],
)
def test_precedence_follows_semver_spec(lower: str, higher: str) -> None:
    assert Version.parse(lower) < Version.parse(higher)
    assert not Version.parse(higher) < Version.parse(lower)


def test_build_metadata_is_ignored_for_equality() -> None:
    assert Version.parse("1.0.0+a") == Version.parse("1.0.0+b")
    assert hash(Version.parse("1.0.0+a")) == hash(Version.parse("1.0.0"))
    assert str(Version.parse("1.2.3-rc.1+build.5")) == "1.2.3-rc.1+build.5"


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0.0", ""])
def test_invalid_versions(text: str) -> None:
    assert not is_semver(text)
    with pytest.raises(ValueError, match="not a semantic version"):
        Version.parse(text)


@pytest.mark.parametrize(
    "spec, inside, outside",
    [
        (">=2.4,<3", ["2.4.0", "2.9.9"], ["2.3.9", "3.0.0"]),
        ("^1.2", ["1.2.0", "1.9.0"], ["2.0.0", "1.1.9"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("=1.4", ["1.4.0", "1.4.9"], ["1.5.0"]),
        ("=2", ["2.0.0", "2.8.0"], ["3.0.0"]),
        ("1.4.2", ["1.4.2"], ["1.4.3"]),
        ("!=1.4.2, >1", ["1.4.3", "1.0.1"], ["1.4.2", "1.0.0"]),
        ("<=1.1", ["1.1.0"], ["1.1.1"]),
        ("*", ["0.0.1", "9.9.9"], ["1.0.0-rc.1"]),
        (">=1.0.0-rc.1", ["1.0.0-rc.2", "1.0.0"], ["1.0.0-beta", "2.0.0-rc.1"]),
    ],
)
def test_ranges(spec: str, inside: list[str], outside: list[str]) -> None:
    versions = VersionRange.parse(spec)
    assert str(versions) == spec
    for text in inside:
        assert versions.contains(Version.parse(text)), text
    for text in outside:
        assert not versions.contains(Version.parse(text)), text


@pytest.mark.parametrize(
    "spec, satisfiable",
    [
        (">=3,<2", False),
        (">=2,<2", False),
        (">=2,<=2", True),
        (">2,<=2", False),
        (">=1", True),
        ("=1.2.3", True),
        ("*", True),
    ],
)
def test_satisfiable(spec: str, satisfiable: bool) -> None:
    assert VersionRange.parse(spec).is_satisfiable() is satisfiable


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "may not be empty"),
        (">=1,", "empty comparator"),
        (">=x", "'x' is not a version"),
        ("=>1", "not a version"),
    ],
)
def test_bad_ranges(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VersionRange.parse(spec)
