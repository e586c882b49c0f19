import hello_world
import pytest
from hello_world import greet


def test_greets_by_name() -> None:
    assert greet("Acme") == "Hello, Acme!"


def test_strips_whitespace() -> None:
    assert greet("  Globex ") == "Hello, Globex!"


def test_rejects_empty_name() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        greet("   ")


def test_version() -> None:
    assert hello_world.__version__ == "1.0.0"
