#!/usr/bin/env bash
# Sign the example releases with the sample key (examples/keys/samples.key, passphrase
# "powerx-samples": a published sample key, never use it for anything real).
# For each release it rebuilds the reproducible artifact, checks its digest against
# release.yaml, signs it with `px-plugin sign --key`, writes the bundle beside
# release.yaml and sets `artifact.signature`.
#
# usage: examples/sign-samples.sh   (with the project's virtualenv on PATH: make setup)
set -euo pipefail
examples=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$examples")
export PX_PASSPHRASE=${PX_PASSPHRASE:-powerx-samples}
commit=$(git -C "$repo" rev-parse HEAD)
work=$(mktemp -d /tmp/px-sign.XXXXXX)
trap 'rm -rf "$work"' EXIT

sign_release() {  # PLUGIN VERSION RELEASE_FOLDER
    local plugin=$1 version=$2 folder=$3 artifact bundle
    artifact=$("$examples/artifact.sh" "$plugin" "$version" "$work")
    bundle=$folder/$plugin-$version.pxp.sigstore.json
    python - "$folder/release.yaml" "$artifact" "$(basename "$bundle")" <<'PY'
import hashlib, sys
from pathlib import Path
from pipeline.yamlio import dump_yaml, parse_yaml
manifest, artifact, bundle = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
doc = parse_yaml(manifest.read_bytes(), str(manifest))
digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
if doc.data["artifact"]["sha256"] != digest:
    sys.exit(f"{manifest}: artifact.sha256 is not the digest of the rebuilt {artifact.name} ({digest})")
doc.tree["artifact"]["signature"] = bundle
text = dump_yaml(doc.tree)  # ruamel keeps the blank line after `size`: put it after us
manifest.write_text(text.replace(f"\n\n  signature: {bundle}\n", f"\n  signature: {bundle}\n\n"))
PY
    px-plugin sign "$artifact" --key "$examples/keys/samples.key" --plugin "$plugin" \
        --version "$version" --source-commit "$commit" --builder "examples/sign-samples.sh" \
        -o "$bundle"
}

for release in "$repo"/releases/*/*/; do
    version=$(basename "$release")
    plugin=$(basename "$(dirname "$release")")
    if [ ! -f "$release/$plugin-$version.pxp.sigstore.json" ]; then
        sign_release "$plugin" "$version" "${release%/}"
    fi
done
if [ ! -f "$examples/ledger-sync/release-1.0.1/ledger-sync-1.0.1.pxp.sigstore.json" ]; then
    sign_release ledger-sync 1.0.1 "$examples/ledger-sync/release-1.0.1"
fi
