"""Pydantic models: the schema of every file in a release repo. No I/O here."""

from pipeline.models.base import API_VERSION, Document
from pipeline.models.environment import Environment, PluginState, Tenant
from pipeline.models.load import parse_document, validate_document
from pipeline.models.policy import (
    POLICY_KINDS,
    GatePolicy,
    LicensePolicy,
    PolicySet,
    PromotionPolicy,
)
from pipeline.models.release import Release
from pipeline.models.semver import Version, VersionRange

__all__ = [
    "API_VERSION",
    "POLICY_KINDS",
    "Document",
    "Environment",
    "GatePolicy",
    "LicensePolicy",
    "PluginState",
    "PolicySet",
    "PromotionPolicy",
    "Release",
    "Tenant",
    "Version",
    "VersionRange",
    "parse_document",
    "validate_document",
]
