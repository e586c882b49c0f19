#!/usr/bin/env bash
# Installs the PowerX runner for the composite action, pinned, never by package name:
# - RUNNER_REF empty: from this action's own checkout (the commit the caller named in
#   `uses: OWNER/REPO/.github/actions/powerx@<commit>`);
# - RUNNER_REF set: from RUNNER_SOURCE (an https git URL) at that full 40-hex commit.
# Anything else fails closed with a ::error:: line saying what to set.
set -euo pipefail

fail() {
    echo "::error title=PowerX runner not installed::$1"
    exit 1
}

if [[ -z "${RUNNER_REF:-}" ]]; then
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
    grep -qx 'name = "powerx-release"' "$root/pyproject.toml" 2>/dev/null ||
        fail "$root is not a checkout of the runner: call the action as uses: OWNER/REPO/.github/actions/powerx@<40-hex commit>, or set runner-ref"
    exec python -m pip install "$root"
fi
[[ "$RUNNER_REF" =~ ^[0-9a-f]{40}$ ]] ||
    fail "runner-ref '$RUNNER_REF' is not a full 40-hex commit (a branch or a tag can move): give the commit, e.g. from git ls-remote ${RUNNER_SOURCE:-URL} 'refs/tags/TAG^{}'"
[[ "${RUNNER_SOURCE:-}" =~ ^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)+/?$ ]] ||
    fail "runner-source '${RUNNER_SOURCE:-}' is not an https git URL without user name, token, query or fragment"
exec python -m pip install "powerx-release @ git+${RUNNER_SOURCE%/}@${RUNNER_REF}"
