"""JSON Schemas of every file kind, generated from the models (editors validate YAML with them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline.models.access import ConsoleAccess
from pipeline.models.agent import AgentStatus
from pipeline.models.approvals import ApprovalPolicy, Teams
from pipeline.models.bundle import BundleManifest, ImportAttempt, ImportState
from pipeline.models.catalog import CatalogIndex, CatalogPage
from pipeline.models.entitlement import Entitlement
from pipeline.models.environment import Environment, PluginState
from pipeline.models.host import (
    DevIteration,
    HostInfo,
    PermissionUsage,
    SourceRecords,
    TenantSettings,
)
from pipeline.models.listing import Listing
from pipeline.models.market import MarketPolicy, NotificationOutbox, Review, Subscriptions
from pipeline.models.market_events import UsageEvent
from pipeline.models.plugin import PluginManifest
from pipeline.models.policy import GatePolicy, LicensePolicy, PromotionPolicy
from pipeline.models.release import Release
from pipeline.models.rollout import RolloutPolicy
from pipeline.models.signing import SigningPolicy
from pipeline.models.windows import ChangeWindows

SCHEMA_FILES: dict[str, tuple[type[BaseModel], str]] = {
    "release.schema.json": (Release, "releases/<plugin>/<version>/release.yaml"),
    "plugin.schema.json": (PluginManifest, "<plugin source folder>/plugin.yaml"),
    "environment.schema.json": (Environment, "environments/<env>/environment.yaml"),
    "plugin-state.schema.json": (PluginState, "environments/<env>/plugins/<plugin>.yaml"),
    "gate-policy.schema.json": (GatePolicy, "policies/gates.yaml"),
    "license-policy.schema.json": (LicensePolicy, "policies/licenses.yaml"),
    "promotion-policy.schema.json": (PromotionPolicy, "policies/promotion.yaml"),
    "signing-policy.schema.json": (SigningPolicy, "policies/signing.yaml"),
    "approval-policy.schema.json": (ApprovalPolicy, "policies/approvals.yaml"),
    "teams.schema.json": (Teams, "policies/teams.yaml"),
    "windows.schema.json": (ChangeWindows, "policies/windows.yaml"),
    "agent-status.schema.json": (AgentStatus, "<plugin store>/status.json"),
    "rollout-policy.schema.json": (RolloutPolicy, "policies/rollout.yaml"),
    "offline-bundle.schema.json": (BundleManifest, "bundle.json inside an offline bundle"),
    "import-state.schema.json": (ImportState, "imports/<env>.yaml"),
    "import-attempt.schema.json": (
        ImportAttempt,
        "<plugin store>/incoming/imports.jsonl (a line)",
    ),
    "entitlement.schema.json": (
        Entitlement,
        "entitlements/<plugin>.yaml, entitlements/<plugin>/<tenant>/{trial,purchase}.yaml",
    ),
    "tenant.schema.json": (TenantSettings, "<plugin store>/tenants/<tenant>/tenant.yaml"),
    "permission-usage.schema.json": (PermissionUsage, "<plugin store>/host/usage/<plugin>.json"),
    "source-records.schema.json": (SourceRecords, "<plugin store>/host/sources/<plugin>.json"),
    "dev-iteration.schema.json": (DevIteration, "<plugin store>/host/dev/<plugin>.jsonl (a line)"),
    "host-info.schema.json": (HostInfo, "<plugin store>/host/host.json"),
    "console-access.schema.json": (ConsoleAccess, "policies/console.yaml"),
    "listing.schema.json": (Listing, "releases/<plugin>/listing.yaml"),
    "market-policy.schema.json": (MarketPolicy, "policies/market.yaml"),
    "review.schema.json": (Review, "market/reviews/<plugin>/<version>.yaml"),
    "subscriptions.schema.json": (Subscriptions, "market/subscriptions.yaml"),
    "notification-outbox.schema.json": (NotificationOutbox, "market/outbox.yaml"),
    "market-usage-event.schema.json": (UsageEvent, "px-market report --events FILE (a line)"),
    "catalog-index.schema.json": (CatalogIndex, "catalog/index.json"),
    "catalog-page.schema.json": (CatalogPage, "catalog/plugins/<plugin>.json"),
}

SCHEMA_BASE_URL = "https://powerx.io/schemas/v1alpha1/"


def json_schema(model: type[BaseModel], file_pattern: str, name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file kind."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE_URL + name,
        "x-powerx-path": file_pattern,
        **schema,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every file kind."""
    return {
        name: json_schema(model, pattern, name) for name, (model, pattern) in SCHEMA_FILES.items()
    }
