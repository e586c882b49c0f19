#!/usr/bin/env bash
# Regenerate the evidence of ledger-sync's releases with real tools (pytest, coverage.py,
# bandit) into releases/ledger-sync/<version>/evidence/, and print each artifact's digest.
# 1.0.0 is flawed on purpose: its coverage and bandit findings must fail the gates.
# 1.0.1 is the fix, not released yet: its release folder is staged in
# examples/ledger-sync/release-1.0.1/ (release.yaml + evidence/), ready to be copied to
# releases/ledger-sync/1.0.1/ by whoever publishes it.
# usage: examples/ledger-sync/make-evidence.sh [VERSION]   (default: every released version)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run() { "$here/../evidence.sh" ledger-sync "$@"; }

# evidence.sh writes to <repo>/releases/<plugin>/<version>/, with <repo> the parent of the
# folder it is called from. For an unreleased version, call it through a scratch repo made
# of links (examples/evidence.sh and examples/ledger-sync), then copy the reports from there
# into examples/ledger-sync/release-<version>/evidence/. The staged release.yaml is copied
# in too, so that evidence.sh still warns when its artifact digest or size is stale.
stage() {
    local version=$1 release=$here/release-$1
    shift
    scratch=$(mktemp -d /tmp/px-stage.XXXXXX)  # global: the EXIT trap needs it
    trap 'rm -rf "$scratch"' EXIT
    mkdir -p "$scratch/examples" "$scratch/releases/ledger-sync/$version"
    ln -s "$here/../evidence.sh" "$scratch/examples/evidence.sh"
    ln -s "$here" "$scratch/examples/ledger-sync"
    if [ -f "$release/release.yaml" ]; then
        cp "$release/release.yaml" "$scratch/releases/ledger-sync/$version/"
    fi
    "$scratch/examples/evidence.sh" ledger-sync "$version" "$@" 2>&1 | sed \
        -e "s#$scratch/releases/ledger-sync/$version/#examples/ledger-sync/release-$version/#g" \
        -e "s#releases/ledger-sync/$version/#examples/ledger-sync/release-$version/#g"
    rm -rf "$release/evidence"
    mkdir -p "$release/evidence"
    cp "$scratch/releases/ledger-sync/$version/evidence/"* "$release/evidence/"
}

case ${1:-all} in
    0.9.0) run 0.9.0 lcov ;;      # LCOV
    1.0.0) run 1.0.0 json xml ;;  # coverage.py JSON and Cobertura XML
    1.0.1) stage 1.0.1 json ;;    # coverage.py JSON; not released yet (see above)
    all) "$0" 0.9.0 && "$0" 1.0.0 ;;
    *) echo "unknown ledger-sync version: $1" >&2; exit 2 ;;
esac
