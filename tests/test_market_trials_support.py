"""Builders for the trials, notifications and report tests: listings, a market repo, a
commercially licensed package in a plugin store.

(No tests here: tests/test_market_trials*.py, test_market_events*.py and
test_market_report*.py import these helpers.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import Repo, git
from factories import API, release, yaml_text
from test_agent_support import PASS, manifest

from pipeline.agent import PluginStore
from pipeline.packaging import pack_plugin

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
COMMERCIAL = "LicenseRef-Acme-Commercial"


def listing(plugin: str = "meter", **overrides: Any) -> dict[str, Any]:
    """A valid paid listing with a 14-day trial and two plans."""
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Listing",
        "plugin": plugin,
        "title": f"{plugin.title()} Pro",
        "summary": "Meters every request and bills tenants for what they use.",
        "description": "A metering plugin. " * 6,
        "highlights": ["Per-tenant metering", "Exports to accounting"],
        "categories": ["finance"],
        "pricing": {
            "model": "paid",
            "trialDays": 14,
            "plans": [
                {"name": "standard", "price": "20.00", "currency": "EUR", "period": "month"},
                {"name": "enterprise", "price": "900.00", "currency": "EUR", "period": "year"},
            ],
        },
        "screenshots": [{"file": "listing/main.png", "caption": "The meter"}],
        "support": {
            "contact": "help@acme.example",
            "responseTime": "8 hours",
            "url": "https://acme.example/support",
        },
        "documentation": "https://acme.example/docs",
        "vendor": {"name": "Acme"},
    }
    data.update(overrides)
    return data


def environment(name: str = "prod", tenants: tuple[str, ...] = ("acme", "globex")) -> str:
    return yaml_text(
        {
            "apiVersion": API,
            "kind": "Environment",
            "name": name,
            "position": 0,
            "tenants": [{"id": t} for t in tenants],
        }
    )


def market_repo(path: Path, *, digest: str | None = None) -> Repo:
    """A repo on main with environment prod (tenants acme, globex), a commercially licensed
    `meter` 1.0.0 with a paid listing, a free `hello` with a free listing; `meter` deployed
    in prod at `digest` when given."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    repo = Repo(path)
    meter = release("meter", "1.0.0", license=COMMERCIAL)
    if digest is not None:
        meter["artifact"]["sha256"] = digest
    free = listing("hello", pricing={"model": "free"})
    files = {
        "environments/prod/environment.yaml": environment(),
        "environments/staging/environment.yaml": environment("staging", ("initech",)),
        "releases/meter/1.0.0/release.yaml": yaml_text(meter),
        "releases/meter/listing.yaml": yaml_text(listing()),
        "releases/hello/1.0.0/release.yaml": yaml_text(release("hello", "1.0.0")),
        "releases/hello/listing.yaml": yaml_text(free),
    }
    if digest is not None:
        files["environments/prod/plugins/meter.yaml"] = yaml_text(
            {
                "apiVersion": API,
                "kind": "PluginState",
                "plugin": "meter",
                "version": "1.0.0",
                "digest": digest,
            }
        )
    repo.commit(files, "a market")
    return repo


def commercial_package(folder: Path, store: PluginStore) -> str:
    """A real `meter` 1.0.0 package under the commercial licence, put in `store`; its digest."""
    data = manifest("meter", "1.0.0", {"command": PASS, "timeoutSeconds": 5})
    data["license"] = COMMERCIAL
    source = folder / "src" / "meter"
    (source / "dist").mkdir(parents=True)
    (source / "plugin.yaml").write_text(yaml_text(data))
    (source / "dist" / "main.py").write_text("print('meter')\n")
    packed = pack_plugin(source, folder / "out")
    store.artifacts.put(packed.path)
    return packed.sha256
