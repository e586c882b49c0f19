#!/usr/bin/env bash
# Regenerate the evidence of hello-world's releases with real tools (pytest, coverage.py,
# bandit) into releases/hello-world/<version>/evidence/, and print each artifact's digest.
# usage: examples/hello-world/make-evidence.sh [VERSION]   (default: every released version)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run() { "$here/../evidence.sh" hello-world "$@"; }
case ${1:-all} in
    1.0.0) run 1.0.0 xml ;;  # Cobertura XML
    1.1.0) run 1.1.0 json ;; # coverage.py JSON
    all) "$0" 1.0.0 && "$0" 1.1.0 ;;
    *) echo "unknown hello-world version: $1" >&2; exit 2 ;;
esac
