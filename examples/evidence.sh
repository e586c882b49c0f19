#!/usr/bin/env bash
# Regenerate the evidence of one example release with real tools, and print the digest and
# size of its reproducible artifact. Called by examples/<plugin>/make-evidence.sh.
#
# usage: examples/evidence.sh PLUGIN VERSION [COVERAGE_FORMAT...]
#   COVERAGE_FORMAT: json, xml (Cobertura) or lcov; default: all three.
#
# The sources of VERSION are examples/<plugin>/history/<VERSION>/ when that folder exists,
# else examples/<plugin>/ itself (the newest version). They are copied to a scratch folder
# under /tmp, and every report is written there, then neutralised (the scratch path becomes
# /build/<plugin>, the host name becomes ci-runner) and copied to
# releases/<plugin>/<VERSION>/evidence/.
#
# The artifact is built by examples/artifact.sh with px-plugin: put the project's .venv/bin on PATH.
# The tools live in a throwaway virtualenv (PX_TOOLS, default /tmp/px-evidence-tools), pinned
# to the versions that made the committed evidence; the project's own venv is not touched.
set -euo pipefail

PYTEST_VERSION=9.2.0
COVERAGE_VERSION=7.17.4
BANDIT_VERSION=1.9.4

if [ $# -lt 2 ]; then
    sed -n '5,6p' "$0" >&2
    exit 2
fi
plugin=$1
version=$2
shift 2
formats=("$@")
[ ${#formats[@]} -gt 0 ] || formats=(json xml lcov)

examples=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$examples")
plugin_dir=$examples/$plugin
if [ -d "$plugin_dir/history/$version" ]; then
    source_dir=$plugin_dir/history/$version
else
    source_dir=$plugin_dir
fi
declared=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$source_dir/pyproject.toml")
if [ "$declared" != "$version" ]; then
    echo "error: $source_dir/pyproject.toml declares version '$declared', not '$version'" >&2
    exit 1
fi

tools=${PX_TOOLS:-/tmp/px-evidence-tools}
if [ ! -x "$tools/bin/bandit" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet "pytest==$PYTEST_VERSION" "coverage==$COVERAGE_VERSION" \
        "bandit[sarif]==$BANDIT_VERSION"
fi

work=$(mktemp -d /tmp/px-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
build=$work/$plugin
out=$work/evidence
mkdir -p "$build" "$out"
# Only the plugin's sources: no caches, no coverage data, no history of older versions.
(cd "$source_dir" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml src tests) \
    | (cd "$build" && tar -xf -)

# The artifact: a reproducible tarball of those sources (see artifact.sh). It is not
# committed; release.yaml records its digest and size. Keep it with PX_ARTIFACTS=<dir>.
artifact=$("$examples/artifact.sh" "$plugin" "$version" "$work")
sha256=$(sha256sum "$artifact" | cut -d' ' -f1)
size=$(stat -c %s "$artifact")
if [ -n "${PX_ARTIFACTS:-}" ]; then
    mkdir -p "$PX_ARTIFACTS"
    cp "$artifact" "$PX_ARTIFACTS/"
fi

# Tests and coverage in one real run: pytest writes JUnit XML, coverage.py measures
# line and branch coverage of src/. A failing test is evidence too, so it does not stop us.
tests_status=0
(cd "$build" && "$tools/bin/coverage" run --branch --source=src -m pytest -q \
    -p no:cacheprovider --junitxml="$out/junit.xml") || tests_status=$?
for format in "${formats[@]}"; do
    case $format in
        json) (cd "$build" && "$tools/bin/coverage" json -q -o "$out/coverage.json") ;;
        xml) (cd "$build" && "$tools/bin/coverage" xml -q -o "$out/coverage.xml") ;;
        lcov) (cd "$build" && "$tools/bin/coverage" lcov -q -o "$out/coverage.lcov") ;;
        *) echo "error: unknown coverage format '$format' (json, xml or lcov)" >&2; exit 2 ;;
    esac
done
(cd "$build" && "$tools/bin/coverage" report --show-missing)

# Static analysis: bandit exits 1 when it finds anything, which is what we want to record.
(cd "$build" && "$tools/bin/bandit" -q -r src -f sarif -o "$out/bandit.sarif") || true
[ -s "$out/bandit.sarif" ] || { echo "error: bandit wrote no report" >&2; exit 1; }

# Neutralise the scratch path and the host name, then check nothing of this machine is left.
host=$(hostname)
sed -i -e "s#$build#/build/$plugin#g" -e "s#$work#/build#g" \
    -e "s#hostname=\"$host\"#hostname=\"ci-runner\"#g" "$out"/*
if grep -l -e "$work" -e "/tmp/" -e "hostname=\"$host\"" "$out"/*; then
    echo "error: the reports above still name this machine" >&2
    exit 1
fi

target=$repo/releases/$plugin/$version/evidence
mkdir -p "$target"
cp "$out"/* "$target/"
echo "evidence: releases/$plugin/$version/evidence/{$(cd "$out" && ls | paste -sd, -)}"
echo "tests exit status: $tests_status"
echo "artifact:"
echo "  uri: file://artifacts/$plugin-$version.pxp"
echo "  sha256: $sha256"
echo "  size: $size"

manifest=$repo/releases/$plugin/$version/release.yaml
if [ -f "$manifest" ] && ! { grep -q "^  sha256: $sha256\$" "$manifest" \
        && grep -q "^  size: $size\$" "$manifest"; }; then
    echo "warning: $manifest records another artifact sha256 or size (update it to the above)" >&2
    echo "         and the digest of every environments/*/plugins/$plugin.yaml at $version" >&2
fi
