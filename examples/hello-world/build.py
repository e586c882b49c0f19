"""Build hello-world: every module compiles, then a clean copy of src/ (no caches) in build/."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "build"

for module in sorted((HERE / "src").rglob("*.py")):
    try:
        compile(module.read_bytes(), str(module.relative_to(HERE)), "exec")
    except SyntaxError as error:
        print(f"{error.filename}:{error.lineno}: {error.msg}", file=sys.stderr)
        sys.exit(1)

shutil.rmtree(OUTPUT, ignore_errors=True)
shutil.copytree(HERE / "src", OUTPUT, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
print(f"copied src/ to {OUTPUT.name}/")
