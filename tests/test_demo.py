"""`make demo` keeps working: the demo script runs end to end on the embedded example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEMO_DIR": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", str(PROJECT / "examples" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("(exit code 1, as expected)") == 9
    assert out.count("(exit code 0, as expected)") == 27
    assert "held hello-world: 0/1 approval(s) for staging (nobody)" in out
    assert "promoted hello-world@1.2.0: staging -> prod" in out
    assert "rolled back hello-world in prod: 1.2.0 -> 1.0.0" in out
    assert "publish   hello-world  1.2.0    test     ada" in out
    assert "packing again gives the same bytes" in out
    # plugin.yaml, checksums, SBOM, and dist/hello_world/{__init__,server}.py
    assert "ok: package hello-world@1.1.0: 5 files, checksums ok" in out
    assert (
        "error: digest mismatch: the signature covers hello-world-1.1.0.pxp" in out + result.stderr
    )
    assert "FAIL  coverage       expected >= 90%, found 63.11% (coverage.py-json)" in out
    assert (
        "PASS  ledger-sync@1.0.1 (signature, coverage, tests, findings, licence, compatibility, dependencies)"
        in out
    )
    assert "Demo finished" in out
    # step 14: tenant administration, staging vs prod, and a site that fell behind
    admin = out.split("== 14.")[1].split("== 15.")[0]
    assert "Add tenant hooli to prod: commit " in admin
    assert "+  canary: [globex, initech, hooli]" in admin
    assert "Grant hello-world tenant-data:read for tenant hooli in prod: commit " in admin
    assert "staging vs prod at " in admin and "  hooli         present     - | Hooli\n" in admin
    assert "  hello-world  not-synced  (git 1.1.0, site 1.0.0)\n" in admin
    assert "git asks for 1.1.0; the last sync (" in admin and "drift: 2 difference(s)" in admin
    assert "  ledger-sync  ungranted  (git 0.9.0, site 0.9.0)\n" in admin
    assert "grant it with: px-admin grant hooli ledger-sync tenant-data:read network" in admin
    assert 'powerx_drift_plugins{environment="prod"} 2\n' in admin
    # step 15: published to a local registry, promoted, exported through it, imported from it
    registry = out.split("== 15.")[1]
    assert "(pushed to oci://127.0.0.1:" in registry and ", signature referrer sha256:" in registry
    assert "would delete hello-world@1.3.0" in registry and "nothing deleted" in registry
    assert "promoted hello-world@1.3.0: test -> staging" in registry
    assert "exported staging (full) to oci://127.0.0.1:" in registry
    assert "/powerx/bundles:staging" in registry and "+ hello-world@1.3.0 (deployed)" in registry
    assert "pulled 21 blob(s)" in result.stderr  # the pull's summary goes to stderr
    assert "hello-world: installed 1.3.0 (healthy)" in registry
    # step 11: the local loop, live through the local host
    assert "tenant 'acme' does not exist" in out + result.stderr
    assert '{"greeting": "Hello, acme!", "tenant": "acme"' in out
    assert '{"greeting": "Howdy, acme!", "tenant": "acme"' in out
    assert (
        "BUILD FAILED" in out and "src/hello_world/__init__.py:" in out and "invalid syntax" in out
    )
    assert out.split("serving last good:")[1].count("Howdy, acme!") == 1
    assert "  - tenant-data:read\n    #   needed by GET /v1/tenant" in out
    # step 12: the Marketplace: a finding and its remedy, the fix, approval, catalog, trial
    market = out.split("== 12.")[1].split("== 13.")[0]
    assert "is not an https link\n    fix: link to an https:// page" in market
    assert "approve: hello-world@1.2.0 is approved" in market
    assert "listing.created hello-world@1.2.0" in market
    assert "hello-world" in market.split("px-market search greeting")[1]
    # step 13: the static site, and the console's matrix, canary charts, audit and local tenant
    assert "ledger-sync@1.0.1 was rolled back from prod" in out.split("== 13.")[1]
    for page in ("/matrix", "/audit", "/local", "/market?q=greeting", "/market/hello-world"):
        assert f"  200 {page}\n" in out
    assert "  200 /canary/ledger-sync/prod (" in out and "  200 /canary/hello-world/prod (" in out
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "canary" / "ledger-sync").is_dir()
    assert (site / "market" / "hello-world.html").is_file()
    assert "powerx serve --repo" in out.split("Demo finished")[0].rsplit("== 13.", 1)[1]
    # step 10: canary rollouts against the demo's own metrics source
    assert "rolled back: canary 1.0.1 removed, every tenant runs 0.9.0" in out
    assert "verdict: fail" in out and "error-ratio  high (critical)" in out
    assert "completed: hello-world 1.1.0 is stable in prod (was 1.0.0)" in out
    canary_log = subprocess.run(
        ["git", "-C", str(tmp_path / "canary-repo"), "log", "--format=%s", "-5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert canary_log == [
        "Complete the rollout of hello-world in prod: 1.0.0 -> 1.1.0",
        "Canary hello-world 1.1.0 in prod expands to 50%",
        "Start the canary of hello-world 1.1.0 in prod at 10%",
        "Roll back ledger-sync in prod: 1.0.1 -> 0.9.0",
        "Start the canary of ledger-sync 1.0.1 in prod at 10%",
    ]
    log = subprocess.run(
        ["git", "-C", str(tmp_path / "release-repo"), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log[:2] == [
        "Promote hello-world 1.3.0 to staging",
        "Approve hello-world 1.3.0 for staging",
    ]
    assert "Grant hello-world tenant-data:read for tenant hooli in prod" in log
    assert log.index("Grant hello-world tenant-data:read for tenant hooli in prod") == (
        log.index("Add tenant hooli to prod") - 1
    )
    assert "Start a 14-day trial of hello-world for tenant acme" in log
    assert "Roll back hello-world in prod: 1.2.0 -> 1.0.0" in log
    assert "Release ledger-sync 1.0.1 and promote it into test instead" in log
