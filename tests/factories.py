"""Builders for valid release-repo files, so each test states only what it changes."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from ruamel.yaml import YAML

from pipeline.models.signing import ReleasePredicate
from pipeline.signing.keys import generate_keypair, load_private_key, public_key_id
from pipeline.signing.sign import sign_with_key
from pipeline.yamlio import dump_yaml

API = "powerx.io/v1alpha1"


def digest_of(plugin: str, version: str) -> str:
    """A stable stand-in digest for a test release's artifact."""
    return hashlib.sha256(f"{plugin}-{version}.pxp".encode()).hexdigest()


def release(plugin: str = "hello", version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    """A complete, valid release manifest as data."""
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Release",
        "plugin": plugin,
        "version": version,
        "artifact": {
            "uri": f"file://artifacts/{plugin}-{version}.pxp",
            "sha256": digest_of(plugin, version),
            "size": 1234,
            "signature": f"{plugin}-{version}.pxp.sigstore.json",
        },
        "notes": "First release.",
        "changes": [{"id": "PX-1", "title": "Greet people", "link": "https://example.com/PX-1"}],
        "evidence": {
            "coverage": ["evidence/coverage.json"],
            "tests": ["evidence/junit.xml"],
            "scans": ["evidence/bandit.sarif"],
        },
        "compatibility": {"powerx": ">=2.4,<3"},
        "dependencies": {},
        "license": "Apache-2.0",
        "channels": ["online", "offline"],
        "rollback": {"playbook": "1. Point the environment back at the previous version."},
        "contacts": [{"name": "Ada", "email": "ada@example.com"}],
    }
    data.update(overrides)
    return data


def plugin_state(plugin: str = "hello", version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    """A valid desired state of a plugin in an environment."""
    data = {
        "apiVersion": API,
        "kind": "PluginState",
        "plugin": plugin,
        "version": version,
        "digest": digest_of(plugin, version),
    }
    data.update(overrides)
    return data


def yaml_text(data: dict[str, Any]) -> str:
    """Data as YAML text."""
    return dump_yaml(data)


def load_yaml(text: str) -> Any:
    """YAML text as data (to edit a file in a test)."""
    return YAML(typ="safe").load(text)


PASSPHRASE = b"correct horse battery staple"


@cache
def session_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """One real ECDSA P-256 key pair for the whole test session: (private key, public PEM)."""
    private_pem, public_pem = generate_keypair(PASSPHRASE)
    return load_private_key(private_pem, PASSPHRASE), public_pem


def signing_policy(**overrides: Any) -> dict[str, Any]:
    """A signing policy that trusts the test key."""
    public_pem = session_key()[1]
    data: dict[str, Any] = {
        "apiVersion": API,
        "kind": "SigningPolicy",
        "keys": [{"id": public_key_id(public_pem), "publicKey": public_pem.decode()}],
    }
    data.update(overrides)
    return data


def bundle(
    plugin: str = "hello", version: str = "1.0.0", digest: str | None = None, **window: str
) -> bytes:
    """A real key-mode Sigstore bundle over a test release's artifact."""
    predicate = ReleasePredicate.model_validate(
        {
            "plugin": plugin,
            "version": version,
            "sourceCommit": "0" * 40,
            "builder": "tests",
            **window,
        }
    )
    return sign_with_key(
        digest or digest_of(plugin, version), f"{plugin}-{version}.pxp", predicate, session_key()[0]
    )
