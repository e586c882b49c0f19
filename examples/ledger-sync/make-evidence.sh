#!/usr/bin/env bash
# Regenerate the evidence of ledger-sync's releases with real tools (pytest, coverage.py,
# bandit) into releases/ledger-sync/<version>/evidence/, and print each artifact's digest.
# 1.0.0 is flawed on purpose: its coverage and bandit findings must fail the gates.
# usage: examples/ledger-sync/make-evidence.sh [VERSION]   (default: every released version)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run() { "$here/../evidence.sh" ledger-sync "$@"; }
case ${1:-all} in
    0.9.0) run 0.9.0 lcov ;;      # LCOV
    1.0.0) run 1.0.0 json xml ;;  # coverage.py JSON and Cobertura XML
    all) "$0" 0.9.0 && "$0" 1.0.0 ;;
    *) echo "unknown ledger-sync version: $1" >&2; exit 2 ;;
esac
