#!/usr/bin/env bash
# Build the artifact of one example release: its plugin package, made by the real
# `px-plugin build` and `px-plugin pack` from a clean copy of its sources, and
# byte-for-byte reproducible. Prints the package's path. Needs px-plugin on PATH
# (`make setup`, then the project's .venv/bin).
#
# usage: examples/artifact.sh PLUGIN VERSION OUT_DIR
#   The sources of VERSION are examples/<plugin>/history/<VERSION>/ when that folder
#   exists, else examples/<plugin>/ itself (the newest version).
set -euo pipefail
[ $# -eq 3 ] || { sed -n '7,9p' "$0" >&2; exit 2; }
plugin=$1 version=$2 out=$3
examples=$(cd "$(dirname "$0")" && pwd)
source_dir=$examples/$plugin
[ -d "$source_dir/history/$version" ] && source_dir=$source_dir/history/$version
work=$(mktemp -d /tmp/px-artifact.XXXXXX)
trap 'rm -rf "$work"' EXIT
inputs=(plugin.yaml src)
[ -f "$source_dir/build.py" ] && inputs+=(build.py)
(cd "$source_dir" && tar --exclude=__pycache__ --exclude='*.pyc' --exclude=build --exclude=dist \
    -cf - "${inputs[@]}") | (cd "$work" && tar -xf -)
px-plugin build "$work" >&2
px-plugin pack "$work" -o "$out" >&2
echo "$(cd "$out" && pwd)/$plugin-$version.pxp"
