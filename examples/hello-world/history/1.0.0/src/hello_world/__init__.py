"""hello-world: the smallest PowerX plugin, greeting each tenant by name."""

from __future__ import annotations

__version__ = "1.0.0"


def greet(name: str) -> str:
    """Greet one tenant, e.g. `greet("Acme")` gives `"Hello, Acme!"`."""
    cleaned = name.strip()
    if not cleaned:
        raise ValueError("name must not be empty")
    return f"Hello, {cleaned}!"
