"""Copy src/ to out/ and say so; exit with $DEMO_EXIT (and print $DEMO_SAY) to fail on demand."""

import os
import shutil
import sys

for line in range(int(os.environ.get("DEMO_LINES", "1"))):
    print(f"{os.environ.get('DEMO_SAY', 'building')} {line}")
code = int(os.environ.get("DEMO_EXIT", "0"))
if code:
    print("boom: the build broke", file=sys.stderr)
    sys.exit(code)
shutil.rmtree("out", ignore_errors=True)
if not os.environ.get("DEMO_NO_OUTPUT"):
    shutil.copytree("src", "out")
