#!/usr/bin/env bash
# The main job on the embedded example, as a release manager and a plugin developer
# would live it: a scratch copy of this project's release repo, a release request that
# the gates hold back with clear reasons, the fix, and a pass; then a plugin built,
# packed, signed and verified, and a tampered package refused.
# Run it with `make demo` (which puts the project's virtualenv on PATH).
set -euo pipefail

project=$(cd "$(dirname "$0")/.." && pwd)
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/powerx-demo.XXXXXX")}
repo="$work/release-repo"
export GIT_AUTHOR_NAME="Release Manager" GIT_AUTHOR_EMAIL="rm@powerx.example"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
unset GITHUB_ACTIONS GITHUB_STEP_SUMMARY GITHUB_BASE_REF

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
# expect CODE COMMAND...: run a command that must exit with CODE (the demo fails otherwise).
expect() {
  local want=$1 got=0
  shift
  printf '\033[2m$ %s\033[0m\n' "$*"
  "$@" || got=$?
  if [ "$got" != "$want" ]; then
    echo "demo: expected exit code $want, got $got" >&2
    exit 1
  fi
  printf '\033[2m(exit code %s, as expected)\033[0m\n' "$got"
}
# point ENV PLUGIN VERSION: set the desired version of a plugin in an environment.
point() {
  python - "$repo" "$@" <<'PY'
import sys
from pathlib import Path
from pipeline.yamlio import dump_yaml, parse_yaml
repo, env, plugin, version = sys.argv[1:]
manifest = Path(repo, "releases", plugin, version, "release.yaml")
digest = parse_yaml(manifest.read_bytes(), str(manifest)).data["artifact"]["sha256"]
state = Path(repo, "environments", env, "plugins", f"{plugin}.yaml")
doc = parse_yaml(state.read_bytes(), str(state))
doc.tree["version"], doc.tree["digest"] = version, digest
state.write_text(dump_yaml(doc.tree))
PY
}

step "1. A scratch copy of this project's live release repo (in $repo)"
mkdir -p "$repo"
cp -R "$project/policies" "$project/environments" "$project/releases" "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" commit -q -m "Import the live release repo"
show powerx check --repo "$repo" --all

step "2. A release request: promote ledger-sync 1.0.0 into test"
git -C "$repo" checkout -q -b promote/ledger-sync
point test ledger-sync 1.0.0
git -C "$repo" commit -q -am "test: ledger-sync 0.9.0 -> 1.0.0"
show git -C "$repo" --no-pager diff --stat main
expect 1 powerx check --repo "$repo" --base main

step "3. The fix: ledger-sync 1.0.1, with evidence from the same real tools"
cp -R "$project/examples/ledger-sync/release-1.0.1" "$repo/releases/ledger-sync/1.0.1"
point test ledger-sync 1.0.1
git -C "$repo" add -A
git -C "$repo" commit -q -m "Release ledger-sync 1.0.1 and promote it into test instead"
show git -C "$repo" --no-pager diff --stat main
expect 0 powerx check --repo "$repo" --base main

step "4. Merged: main passes its audit, and 1.0.0 stays held back"
git -C "$repo" checkout -q main
git -C "$repo" merge -q --ff-only promote/ledger-sync
expect 0 powerx check --repo "$repo" --all
show git -C "$repo" --no-pager log --oneline

step "5. A plugin developer: build, pack, sign and verify hello-world"
plugin="$work/hello-world"
cp -R "$project/examples/hello-world" "$plugin"
rm -rf "$plugin/build" "$plugin/dist" "$plugin"/*.pxp
export PX_PASSPHRASE="demo passphrase"
show px-plugin build "$plugin"
show px-plugin pack "$plugin" -o "$work/out"
package=$(ls "$work"/out/hello-world-*.pxp)
show px-plugin keygen -o "$work/out/team"
show px-plugin sign "$package" --key "$work/out/team.key" \
    --source-commit "$(git -C "$project" rev-parse HEAD 2>/dev/null || printf '0%.0s' {1..40})"
expect 0 px-plugin verify "$package" --key "$work/out/team.pub"
show px-plugin pack "$plugin" -o "$work/again" >/dev/null
if cmp -s "$package" "$work/again/$(basename "$package")"; then
    echo "packing again gives the same bytes: the package is reproducible"
else
    echo "demo: packing twice gave different bytes" >&2
    exit 1
fi

step "6. One flipped byte, and the signature no longer holds"
python - "$package" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0x01
open(sys.argv[1], "wb").write(bytes(data))
PY
expect 1 px-plugin verify "$package" --key "$work/out/team.pub"

step "7. A release manager's path: publish, approve, promote test -> staging -> prod"
remote="$work/remote.git"
git init -q --bare -b main "$remote"
git -C "$repo" remote add origin "$remote"
for approver in quinn rita; do
    PX_PASSPHRASE="$approver's passphrase" px-plugin keygen -o "$work/keys/$approver" >/dev/null
done
# The approvers' public keys go into policies/teams.yaml: one validated commit per member.
show powerx team add-member qa quinn --public-key "$work/keys/quinn.pub" --create \
    --repo "$repo" --operator rm
show powerx team add-member release-managers rita --public-key "$work/keys/rita.pub" --create \
    --repo "$repo" --operator rm
git -C "$repo" push -q origin main
# hello-world 1.2.0: built, packed, and signed with the sample key this repo trusts
sed -i 's/^version: 1.1.0/version: 1.2.0/' "$plugin/plugin.yaml"
px-plugin build "$plugin" >/dev/null
px-plugin pack "$plugin" -o "$work/release" >/dev/null
PX_PASSPHRASE=powerx-samples px-plugin sign "$work/release/hello-world-1.2.0.pxp" \
    --key "$project/examples/keys/samples.key" --source-commit "$(git -C "$repo" rev-parse HEAD)" >/dev/null
evidence="$project/releases/hello-world/1.1.0/evidence"
printf 'Greetings in Welsh (`language=cy`), and the status-page banner lists tenants by name.\n' \
    >"$work/release/NOTES.md"
show powerx publish create --artifact "$work/release/hello-world-1.2.0.pxp" --repo "$repo" \
    --store "$work/store" --no-pr --env test --contact "Ada Lovelace=ada@powerx.example" \
    --notes "$work/release/NOTES.md" \
    --change "PX-170=Greetings in Welsh" --evidence "coverage=$evidence/coverage.json" \
    --evidence "tests=$evidence/junit.xml" --evidence "scans=$evidence/bandit.sarif" --operator ada
git -C "$repo" fetch -q origin
expect 0 powerx check --repo "$repo" --base origin/main --head origin/release/hello-world-1.2.0
git -C "$repo" merge -q --ff-only origin/release/hello-world-1.2.0
git -C "$repo" push -q origin main
expect 1 powerx promote hello-world --repo "$repo" --push --operator robot
PX_PASSPHRASE="quinn's passphrase" show powerx approve hello-world@1.2.0 --env staging \
    --key "$work/keys/quinn.key" --as quinn --repo "$repo" --push
expect 0 powerx promote hello-world --repo "$repo" --push --operator robot
for approver in quinn rita; do
    PX_PASSPHRASE="$approver's passphrase" show powerx approve hello-world@1.2.0 --env prod \
        --key "$work/keys/$approver.key" --as "$approver" --repo "$repo" --push
done
expect 0 powerx promote hello-world --repo "$repo" --push --operator robot

step "8. Something is wrong in prod: roll back, then read the audit trail"
expect 0 powerx rollback hello-world --env prod --reason "error rate 4x after 1.2.0" \
    --repo "$repo" --push --operator rita
show powerx audit --repo "$repo" --plugin hello-world

step "9. Offline: export prod, import it into an isolated site, then refuse a tampered bundle"
# The artifacts prod runs, rebuilt byte for byte (their digests are pinned in the releases).
for release in hello-world/1.0.0 ledger-sync/0.9.0; do
    "$project/examples/artifact.sh" "${release%/*}" "${release#*/}" "$work/offline" 2>/dev/null
done >/dev/null
PX_PASSPHRASE="exporter passphrase" px-plugin keygen -o "$work/keys/exporter" >/dev/null
PX_PASSPHRASE="exporter passphrase" show powerx export --env prod --repo "$repo" \
    --store "$work/store" --artifact "$work/offline/hello-world-1.0.0.pxp" \
    --artifact "$work/offline/ledger-sync-0.9.0.pxp" --key "$work/keys/exporter.key" \
    -o "$work/prod.bundle"
# The isolated site: its own release repo, trusting the release signers and the exporter.
site="$work/isolated-repo"
powerx init "$site" >/dev/null
# The sample key signs the releases (prod takes only it); the exporter signs bundles only.
show powerx trust add-key samples --public-key "$project/examples/keys/samples.pub" --env prod \
    --repo "$site" --operator admin
show powerx trust add-key exporter --public-key "$work/keys/exporter.pub" --bundles \
    --repo "$site" --operator admin
show powerx trust list --repo "$site"
# No network from here on when the machine allows it (a user + network namespace).
offline=(); if unshare -rn true 2>/dev/null; then offline=(unshare -rn); fi
# (the example plugins' health checks import their module: the host puts dist/ on PYTHONPATH)
expect 0 "${offline[@]}" powerx plugin import --offline "$work/prod.bundle" --repo "$site" \
    --plugin-store "$work/isolated-store" --host-version 2.6.0 --operator admin
show powerx plugin status --plugin-store "$work/isolated-store"
# The admin's switch: ledger-sync out of service (the host keeps it installed), then back
# in; enable is refused unless the store recorded a passing health check of that version.
show powerx plugin disable ledger-sync --env prod --repo "$site" --operator admin
show powerx agent sync --env-dir "$site/environments/prod" --plugin-store "$work/isolated-store"
expect 0 powerx plugin enable ledger-sync --env prod --repo "$site" \
    --plugin-store "$work/isolated-store" --operator admin
show powerx agent sync --env-dir "$site/environments/prod" --plugin-store "$work/isolated-store"
show git -C "$site" --no-pager log --oneline -5
python - "$work/prod.bundle" "$work/tampered.bundle" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as tar:  # one flipped byte inside an artifact
    member = next(m for m in tar.getmembers() if m.name.startswith("artifacts/"))
data = bytearray(open(sys.argv[1], "rb").read())
data[member.offset_data + member.size // 2] ^= 0x01
open(sys.argv[2], "wb").write(bytes(data))
PY
expect 1 powerx plugin import --offline "$work/tampered.bundle" --repo "$site" \
    --plugin-store "$work/isolated-store" --operator admin

step "10. Canary rollouts in prod, judged by a live Prometheus: one rolled back, one completed"
# The controller works from its own clone, as a CI job or a service would, pushing each decision.
canary="$work/canary-repo"
git clone -q "$remote" "$canary"
# staging goes back to hello-world 1.1.0 and prod approves it; ledger-sync 1.0.1 reaches staging
powerx rollback hello-world --env staging --reason "1.2.0 was rolled back from prod" \
    --repo "$canary" --push --operator rita >/dev/null
approve() {  # approve RELEASE ENV APPROVER...
    local release=$1 env=$2 approver
    shift 2
    for approver in "$@"; do
        PX_PASSPHRASE="$approver's passphrase" powerx approve "$release" --env "$env" \
            --key "$work/keys/$approver.key" --as "$approver" --repo "$canary" --push >/dev/null
    done
}
approve hello-world@1.1.0 prod quinn rita
approve ledger-sync@1.0.1 staging quinn
powerx promote ledger-sync --env staging --repo "$canary" --push --operator robot
approve ledger-sync@1.0.1 prod quinn rita
# The metrics source: an exporter whose canary/stable series the demo sets, scraped every second
# by a real Prometheus (Debian's, from make setup); without one, a file of samples instead.
metrics="$work/metrics"
mkdir -p "$metrics"
cat >"$metrics/series.json" <<'JSON'
{"hello-world": {"stable": {"version": "1.0.0", "error_ratio": 0.01, "latency": 0.10},
                 "canary": {"version": "1.1.0", "error_ratio": 0.01, "latency": 0.10}},
 "ledger-sync": {"stable": {"version": "0.9.0", "error_ratio": 0.01, "latency": 0.20},
                 "canary": {"version": "1.0.1", "error_ratio": 0.12, "latency": 0.21}}}
JSON
python "$project/examples/metrics_exporter.py" "$metrics/series.json" "$metrics" \
    "$canary/policies/rollout.yaml" &
exporter_pid=$!
trap 'kill "$exporter_pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -s "$metrics/url" ] && break; sleep 0.1; done
url=$(cat "$metrics/url")
if [ "$url" = "file:" ]; then
    provider="{type: file, path: $metrics/samples.json}"
    echo "(no prometheus binary: the judge reads samples from $metrics/samples.json)"
else
    provider="{type: prometheus, url: $url}"
    echo "Prometheus at $url scrapes the exporter every second"
fi
# Demo timings: 1 s samples, a 5 s window, 3 s per step (the live policy says minutes).
cat >"$canary/policies/rollout.yaml" <<YAML
apiVersion: powerx.io/v1alpha1
kind: RolloutPolicy
steps: [10, 50, 100]
interval: 1s
minStepDuration: 3s
analysisWindow: 5s
sampleInterval: 1s
minSamples: 4
failAfter: 30s
provider: $provider
metrics:
  - name: error-ratio
    query: >-
      sum(rate(powerx_plugin_errors_total{plugin="{plugin}",group="{group}"}[5s]))
      / sum(rate(powerx_plugin_requests_total{plugin="{plugin}",group="{group}"}[5s]))
    direction: increase
    tolerance: 0.002
    critical: true
    noData: hold
  - name: latency
    query: avg(powerx_plugin_latency_seconds{plugin="{plugin}",group="{group}"})
    direction: increase
    maxDeviation: 0.10
    noData: hold
YAML
git -C "$canary" commit -q -am "Rollout policy for the demo: the local metrics source, short steps"
git -C "$canary" push -q origin main
show powerx rollout start ledger-sync@1.0.1 --env prod --repo "$canary" --push --operator robot
expect 1 powerx rollout watch ledger-sync --env prod --repo "$canary" --push --operator robot
show powerx rollout start hello-world@1.1.0 --env prod --repo "$canary" --push --operator robot
expect 0 powerx rollout watch hello-world --env prod --repo "$canary" --push --operator robot
show powerx rollout status hello-world --env prod --repo "$canary"
show git -C "$canary" --no-pager log --format='%h %s' -5
show cat "$canary/environments/prod/CHANGELOG.md"
kill "$exporter_pid" 2>/dev/null || true

step "11. A plugin developer's local loop: hello-world on a local host, changed live"
dev_plugin="$work/hello-dev"
local_store="$work/local-store"
cp -R "$project/examples/hello-world" "$dev_plugin"
rm -rf "$dev_plugin/history" "$dev_plugin/dist" "$dev_plugin/build"
# wait_for FILE TEXT: until the dev loop has printed TEXT (a minute at most)
wait_for() {
  for _ in $(seq 600); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done
  echo "demo: '$2' did not appear in $1" >&2; cat "$1" >&2; exit 1
}
# get URL: print what the local host answers
get() {
  python - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as answer:
    print(answer.read().decode().strip().splitlines()[-1][:200])
PY
}
expect 1 powerx plugin install --from "$dev_plugin" --plugin-store "$local_store" --tenant acme
show powerx plugin grant hello-world tenant-data:read --tenant acme --plugin-store "$local_store"
expect 0 powerx plugin install --from "$dev_plugin" --plugin-store "$local_store" --tenant acme
dev_log="$work/dev.log"
printf '\033[2m$ px-plugin dev %s --tenant acme --port 0 &\033[0m\n' "$dev_plugin"
px-plugin dev "$dev_plugin" --plugin-store "$local_store" --tenant acme --port 0 \
  >"$dev_log" 2>&1 &
dev_pid=$!
wait_for "$dev_log" "^#1 "
page=$(grep -o 'http://127.0.0.1:[0-9]*/t/acme/p/hello-world/' "$dev_log" | head -1)
cat "$dev_log"
show get "${page}api/greeting"
sed -i 's/"en": "Hello"/"en": "Howdy"/' "$dev_plugin/src/hello_world/__init__.py"
wait_for "$dev_log" "^#2 "
grep "^#2 " "$dev_log"
show get "${page}api/greeting"
printf 'def broken(:\n' >>"$dev_plugin/src/hello_world/__init__.py"
wait_for "$dev_log" "serving last good"
sed -n '/^#3 /,$p' "$dev_log"
show get "${page}api/greeting"
kill -INT "$dev_pid"
wait "$dev_pid"
tail -n 1 "$dev_log"
expect 0 px-plugin permissions template "$dev_plugin" --plugin-store "$local_store"

step "12. The Marketplace: submit hello-world 1.2.0, fix what the validator finds, approve, find it, start a trial"
git -C "$repo" pull -q --ff-only origin main   # the canary rollouts of step 10 landed there
# the reviewers: policies/market.yaml names the team marketplace
show powerx team add-member marketplace mara --create --repo "$repo" --operator rm --push
# the vendor offers a Team plan with a 14-day trial, and links the docs over plain http
python - "$repo/releases/hello-world/listing.yaml" <<'PY'
import sys
from pathlib import Path
from pipeline.yamlio import dump_yaml, parse_yaml
path = Path(sys.argv[1])
doc = parse_yaml(path.read_bytes(), str(path))
doc.tree["pricing"] = {"model": "freemium", "trialDays": 14,
                       "plans": [{"name": "Team", "price": "9.00", "currency": "EUR"}]}
doc.tree["documentation"] = "http://docs.powerx.example/plugins/hello-world"
path.write_text(dump_yaml(doc.tree))
PY
git -C "$repo" commit -q -am "hello-world's listing: a Team plan with a trial" && git -C "$repo" push -q origin main
expect 1 px-market submit hello-world@1.2.0 --store "$work/store" --as ada --repo "$repo"
sed -i 's#^documentation: http://#documentation: https://#' "$repo/releases/hello-world/listing.yaml"
git -C "$repo" commit -q -am "hello-world's listing: docs over https" && git -C "$repo" push -q origin main
expect 0 px-market submit hello-world@1.2.0 --store "$work/store" --as ada --repo "$repo"
expect 0 px-market review start hello-world@1.2.0 --as mara --repo "$repo"
expect 0 px-market review approve hello-world@1.2.0 --as mara --repo "$repo"
expect 0 px-market search greeting --repo "$repo"
expect 0 px-market trial start hello-world --tenant acme --repo "$repo" --push
show px-market status hello-world@1.2.0 --repo "$repo"

step "13. The web console and the static release site, on the release repo (its rollouts, rollbacks and Marketplace)"
site="$work/site"
expect 0 powerx site build --repo "$repo" -o "$site"
console_log="$work/console.log"
printf '\033[2m$ powerx serve --repo %s --plugin-store %s --port 0 &\033[0m\n' "$repo" "$local_store"
powerx serve --repo "$repo" --plugin-store "$local_store" --port 0 >"$console_log" 2>&1 &
console_pid=$!
wait_for "$console_log" "PowerX console at"
console=$(grep -o 'http://127.0.0.1:[0-9]*' "$console_log" | head -1)
# what the matrix says of each plugin: where it runs, and where it moves next or why not
python - "$console" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/matrix.json", timeout=30) as answer:
    matrix = json.load(answer)
for row in matrix["plugins"]:
    cells = ", ".join(f"{env} {row['cells'][env]['version'] or '-'}" for env in matrix["environments"])
    move = row["next"]
    if move is None:
        after = "nothing to move"
    elif move["ready"]:
        after = f"{move['version']} may move into {move['into']}"
    else:
        after = f"{move['version']} held: {move['reason']}"
    print(f"  {row['plugin']}: {cells}; {after}")
PY
# every page of the demo's state answers (the canary pages draw their charts from git)
python - "$console" /matrix /canary/ledger-sync/prod /canary/hello-world/prod /audit /local \
    "/market?q=greeting" /market/hello-world <<'PY'
import sys, urllib.request
for page in sys.argv[2:]:
    with urllib.request.urlopen(sys.argv[1] + page, timeout=30) as answer:
        body = answer.read().decode()
        charts = body.count("<svg")
        print(f"  {answer.status} {page}" + (f" ({charts} charts)" if charts else ""))
PY
kill -INT "$console_pid"
wait "$console_pid"
printf '\nThe static site is in %s (open %s/index.html).\n' "$site" "$site"
printf 'To browse the demo in the console (the matrix, its held promotions, the canary charts,\n'
printf 'the audit trail, the local tenant and the Marketplace catalog), run:\n\n'
printf '  %s/.venv/bin/powerx serve --repo %s --plugin-store %s\n\n' "$project" "$repo" "$local_store"
printf 'and open http://127.0.0.1:7400/ (Ctrl-C stops it).\n'

step "14. Tenant administration: a tenant joins prod's canary group with a least-privilege grant; staging vs prod; a site that fell behind"
# The admins: a team with role admin in every environment (policies/console.yaml); px-admin
# checks the operator's role in each environment it changes.
show powerx team add-member platform-admins olga --create --repo "$repo" --operator rm --push
cat >"$repo/policies/console.yaml" <<'YAML'
# Roles per team and environment: the platform admins administer every environment.
apiVersion: powerx.io/v1alpha1
kind: ConsoleAccess
roles:
  - {team: platform-admins, role: admin}
YAML
git -C "$repo" add policies/console.yaml
git -C "$repo" commit -q -m "Console roles: platform-admins administer every environment"
git -C "$repo" push -q origin main
expect 0 px-admin tenant add hooli --env prod --name Hooli --group canary --repo "$repo" \
    --operator olga --push
# A grant names only what the plugin declares at the version prod runs, read from its package
# in the artifact store (the demo's holds what it published: add the packages prod runs,
# rebuilt byte for byte). The permissions come from hello-world's least-privilege template
# (step 11: what its calls needed on the local host).
"$project/examples/artifact.sh" hello-world 1.1.0 "$work/offline" >/dev/null 2>&1
python - "$work/store" "$work"/offline/*.pxp <<'PY'
import sys
from pathlib import Path
from pipeline.store.cas import ContentAddressedDirectory
store = ContentAddressedDirectory(Path(sys.argv[1]))
for package in sys.argv[2:]:
    store.put(Path(package))
PY
px-plugin permissions template "$dev_plugin" --plugin-store "$local_store" >"$work/hello-world.permissions.yaml"
show cat "$work/hello-world.permissions.yaml"
expect 0 px-admin grant hooli hello-world --from-template "$work/hello-world.permissions.yaml" \
    --env prod --store "$work/store" --repo "$repo" --operator olga --push
# What runs differently before prod: versions, tenants, groups, grants, entitlements.
expect 0 px-admin diff staging prod --repo "$repo"
# The isolated site of step 9 still runs the prod it imported; prod has moved on since (step 10
# completed hello-world 1.1.0), and hooli granted hello-world only, so no host of prod starts
# ledger-sync for it. The site's store against git: each difference and its cause, exit 1;
# the same as Prometheus metrics for monitoring.
expect 1 px-admin drift --env prod --plugin-store "$work/isolated-store" --repo "$repo"
expect 1 px-admin drift --env prod --plugin-store "$work/isolated-store" --repo "$repo" \
    --format prometheus

step "15. Through a registry: hello-world 1.3.0 published to a local registry, promoted, exported through it, imported at an isolated site from it"
# A local OCI registry (Debian's docker-registry, distribution 2.8) on a free loopback port.
registry_dir="$work/registry"
mkdir -p "$registry_dir"
registry_port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$registry_dir/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $registry_dir/storage}, delete: {enabled: true}}
http: {addr: "127.0.0.1:$registry_port", secret: powerx-demo}
YAML
docker-registry serve "$registry_dir/config.yml" >"$registry_dir/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true' EXIT
python - "$registry_port" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("docker-registry did not start")
PY
oci="oci://127.0.0.1:$registry_port/powerx"
# hello-world 1.3.0, published with the registry as the artifact store: the package is pushed
# (tagged hello-world-1.3.0) and its signature bundle as a referrer of it.
sed -i 's/^version: .*/version: 1.3.0/' "$plugin/plugin.yaml"
px-plugin build "$plugin" >/dev/null
px-plugin pack "$plugin" -o "$work/release" >/dev/null
PX_PASSPHRASE=powerx-samples px-plugin sign "$work/release/hello-world-1.3.0.pxp" \
    --key "$project/examples/keys/samples.key" --source-commit "$(git -C "$repo" rev-parse HEAD)" >/dev/null
git -C "$repo" pull -q --ff-only origin main
expect 0 powerx publish create --artifact "$work/release/hello-world-1.3.0.pxp" --repo "$repo" \
    --store "$oci/artifacts" --no-pr --env test --contact "Ada Lovelace=ada@powerx.example" \
    --evidence "coverage=$evidence/coverage.json" --evidence "tests=$evidence/junit.xml" \
    --evidence "scans=$evidence/bandit.sarif" --operator ada
# Retention: until its release request is merged, nothing on main references 1.3.0 (a dry run).
expect 0 powerx store gc --store "$oci/artifacts" --repo "$repo"
# The release request passes its gates and is merged (1.3.0 runs in test); QA approves it for
# staging and the runner promotes it there.
git -C "$repo" fetch -q origin
expect 0 powerx check --repo "$repo" --base origin/main --head origin/release/hello-world-1.3.0
git -C "$repo" merge -q --ff-only origin/release/hello-world-1.3.0
git -C "$repo" push -q origin main
PX_PASSPHRASE="quinn's passphrase" show powerx approve hello-world@1.3.0 --env staging \
    --key "$work/keys/quinn.key" --as quinn --repo "$repo" --push
expect 0 powerx promote hello-world --repo "$repo" --push --operator robot
# The connected side exports staging through the registry: one OCI artifact, tagged staging;
# hello-world 1.3.0 comes from the registry store itself (ledger-sync 1.0.1 is rebuilt).
"$project/examples/artifact.sh" ledger-sync 1.0.1 "$work/offline" >/dev/null 2>&1
PX_PASSPHRASE="exporter passphrase" expect 0 powerx export --env staging --repo "$repo" \
    --store "$oci/artifacts" --artifact "$work/offline/ledger-sync-1.0.1.pxp" \
    --key "$work/keys/exporter.key" --to "$oci/bundles:staging"
# An isolated staging site pulls it from (what stands in for) its internal registry: the same
# checks as a bundle file, before anything is written.
staging_site="$work/isolated-staging"
powerx init "$staging_site" >/dev/null
powerx trust add-key samples --public-key "$project/examples/keys/samples.pub" --env staging \
    --repo "$staging_site" --operator admin >/dev/null
powerx trust add-key exporter --public-key "$work/keys/exporter.pub" --bundles \
    --repo "$staging_site" --operator admin >/dev/null
expect 0 powerx plugin import --offline --from "$oci/bundles:staging" --repo "$staging_site" \
    --plugin-store "$work/staging-store" --host-version 2.6.0 --operator admin
show powerx plugin status --plugin-store "$work/staging-store"
kill "$registry_pid"
wait "$registry_pid" 2>/dev/null || true
trap - EXIT

printf '\nDemo finished. The scratch repo is in %s\n' "$repo"
