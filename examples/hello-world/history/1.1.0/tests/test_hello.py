import hello_world
import pytest
from hello_world import banner, greet


def test_greets_by_name() -> None:
    assert greet("Acme") == "Hello, Acme!"


def test_collapses_whitespace() -> None:
    assert greet("  Globex   Corp ") == "Hello, Globex Corp!"


def test_calm_greeting() -> None:
    assert greet("Initech", excited=False) == "Hello, Initech."


@pytest.mark.parametrize(
    ("language", "expected"),
    [("de", "Hallo, Umbrella!"), ("FR", "Bonjour, Umbrella!"), ("xx", "Hello, Umbrella!")],
)
def test_languages(language: str, expected: str) -> None:
    assert greet("Umbrella", language=language) == expected


def test_rejects_empty_name() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        greet("   ")


def test_banner_frames_each_greeting() -> None:
    assert banner(["Acme", "Globex"], width=20).splitlines() == [
        "+------------------+",
        "| Hello, Acme!     |",
        "| Hello, Globex!   |",
        "+------------------+",
    ]


def test_banner_truncates_long_names() -> None:
    line = banner(["A very long tenant name indeed"], width=12).splitlines()[1]
    assert line == "| Hello, A |"


def test_banner_without_tenants() -> None:
    assert "(no tenants yet)" in banner([])


def test_banner_rejects_narrow_width() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        banner(["Acme"], width=9)


def test_version() -> None:
    assert hello_world.__version__ == "1.1.0"
