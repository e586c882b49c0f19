"""Build hello-world: a clean copy of src/ (without caches) in build/."""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "build"

shutil.rmtree(OUTPUT, ignore_errors=True)
shutil.copytree(HERE / "src", OUTPUT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
print(f"copied src/ to {OUTPUT.name}/")
