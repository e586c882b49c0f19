#!/usr/bin/env bash
# Build the reproducible artifact of one example release: a byte-for-byte reproducible
# tarball of its sources (sorted names, fixed times and owners, normalised modes, no name
# or time in the gzip header). Prints the artifact's path.
#
# usage: examples/artifact.sh PLUGIN VERSION OUT_DIR
#   The sources of VERSION are examples/<plugin>/history/<VERSION>/ when that folder
#   exists, else examples/<plugin>/ itself (the newest version).
set -euo pipefail
[ $# -eq 3 ] || { sed -n '6,8p' "$0" >&2; exit 2; }
plugin=$1 version=$2 out=$3
examples=$(cd "$(dirname "$0")" && pwd)
source_dir=$examples/$plugin
[ -d "$source_dir/history/$version" ] && source_dir=$source_dir/history/$version
work=$(mktemp -d /tmp/px-artifact.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$source_dir" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml src tests) \
    | (cd "$work" && tar -xf -)
mkdir -p "$out"
artifact=$(cd "$out" && pwd)/$plugin-$version.pxp
(cd "$work" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --mode='u=rwX,go=rX' --transform="s,^,$plugin-$version/," \
    -cf - pyproject.toml src tests) | gzip -n -9 > "$artifact"
echo "$artifact"
