"""File models: valid files load; every invalid one is refused with file:line and a hint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import PROJECT
from factories import load_yaml, plugin_state, release, yaml_text

from pipeline.errors import CombinedInputError, InputError
from pipeline.models import (
    Environment,
    GatePolicy,
    PluginState,
    PolicySet,
    PromotionPolicy,
    Release,
    parse_document,
)
from pipeline.models.schemas import all_schemas


def refuse(text: str, model: type[Any] = Release) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_document(text.encode(), "releases/hello/1.0.0/release.yaml", model)
    return caught.value


def test_valid_release_loads() -> None:
    model = parse_document(yaml_text(release()).encode(), "r.yaml", Release)
    assert model.ref == "hello@1.0.0"
    assert model.compatibility == {"powerx": ">=2.4,<3"}
    assert model.evidence.tests == ["evidence/junit.xml"]


def test_unknown_field_suggests_the_right_name() -> None:
    text = yaml_text(release()).replace("license:", "licence:")
    error = refuse(text)
    assert isinstance(error, CombinedInputError)
    unknown = next(e for e in error.errors if "unknown field" in e.message)
    assert unknown.message == "unknown field 'licence'"
    assert unknown.hint == "did you mean 'license'?"
    assert (
        unknown.location is not None
        and unknown.location.line
        == text.splitlines().index(
            next(line for line in text.splitlines() if line.startswith("licence:"))
        )
        + 1
    )


def test_unknown_nested_field_suggests_within_its_model() -> None:
    data = release()
    data["artifact"] = {**data["artifact"], "sha265": data["artifact"]["sha256"]}
    del data["artifact"]["sha256"]
    error = refuse(yaml_text(data))
    messages = {e.message: e.hint for e in error.errors}  # type: ignore[attr-defined]
    assert messages["unknown field 'artifact.sha265'"] == "did you mean 'sha256'?"
    assert "missing required field 'artifact.sha256'" in messages


def test_unknown_field_in_list_items_and_far_off_names() -> None:
    data = release(contacts=[{"name": "Ada", "email": "ada@example.com", "zzzz": 1}])
    error = refuse(yaml_text(data))
    assert error.message == "unknown field 'contacts.0.zzzz'"
    assert error.hint == "known fields: email, name, role"


def test_wrong_types_and_patterns_are_explained() -> None:
    error = refuse(yaml_text(release(version="1.0")))
    assert error.message == "version: must be a semantic version such as 1.4.0 (found '1.0')"
    assert error.location is not None and (error.location.line, error.location.column) == (4, 1)
    error = refuse(yaml_text(release(plugin="Hello_World")))
    assert "lower-case letters" in error.message
    data = release()
    data["artifact"]["size"] = "big"
    error = refuse(yaml_text(data))
    assert error.message.startswith("artifact.size: Input should be a valid integer")
    data["artifact"]["size"] = 5
    data["artifact"]["sha256"] = "abc"
    assert "64 lower-case hex digits" in refuse(yaml_text(data)).message


def test_ranges_and_host_are_validated() -> None:
    error = refuse(yaml_text(release(compatibility={"powerx": ">=2.4,<"})))
    assert error.message.startswith("compatibility.powerx: '<' is not a version")
    error = refuse(yaml_text(release(compatibility={"other": ">=1"})))
    assert "must give a range for the host" in error.message


def test_header_is_checked_first() -> None:
    error = refuse(yaml_text(release(apiVersion="v1")))
    assert "apiVersion must be 'powerx.io/v1alpha1'" in error.message
    error = refuse(yaml_text(release(kind="Environment")))
    assert error.message == "expected kind 'Release' in this file, found 'Environment'"
    assert error.location is not None and error.location.line == 2
    assert "expected a mapping" in refuse("- a\n- b\n").message


def test_many_errors_are_reported_together() -> None:
    error = refuse("apiVersion: powerx.io/v1alpha1\nkind: Release\n")
    assert isinstance(error, CombinedInputError)
    assert len(error.errors) >= 6
    assert "missing required field 'plugin'" in error.diagnostics()


def test_environment_checks_its_groups() -> None:
    base = {
        "apiVersion": "powerx.io/v1alpha1",
        "kind": "Environment",
        "name": "prod",
        "position": 2,
    }
    env = parse_document(
        yaml_text({**base, "tenants": [{"id": "acme"}], "groups": {"canary": ["acme"]}}).encode(),
        "e.yaml",
        Environment,
    )
    assert env.groups == {"canary": ["acme"]}
    error = refuse(
        yaml_text({**base, "tenants": [{"id": "a"}], "groups": {"g": ["b"]}}), Environment
    )
    assert "group 'g' names unknown tenants: b" in error.message
    error = refuse(yaml_text({**base, "tenants": [{"id": "a"}, {"id": "a"}]}), Environment)
    assert "tenant ids must be unique: a" in error.message


def test_plugin_state_and_policies() -> None:
    state = parse_document(yaml_text(plugin_state()).encode(), "s.yaml", PluginState)
    assert state.version == "1.0.0"
    error = refuse(
        "apiVersion: powerx.io/v1alpha1\nkind: PromotionPolicy\norder: [test, test]\n",
        PromotionPolicy,
    )
    assert "once in the promotion order" in error.message
    gates = parse_document(
        b"apiVersion: powerx.io/v1alpha1\nkind: GatePolicy\ncoverage: {minimum: 80}\n",
        "g.yaml",
        GatePolicy,
    )
    assert gates.coverage.minimum == 80 and gates.findings.fail_on == "high"
    error = refuse(
        "apiVersion: powerx.io/v1alpha1\nkind: GatePolicy\nfindings: {failOn: severe}\n", GatePolicy
    )
    assert error.location is not None and error.location.line == 3


def test_policy_set_defaults_are_the_seed_gates() -> None:
    policies = PolicySet()
    assert policies.gates.coverage.minimum == 90
    assert policies.gates.tests.min_pass_rate == 100
    assert policies.gates.findings.fail_on == "high"
    assert policies.promotion.order == ["test", "staging", "prod"]
    assert policies.previous_environment("prod") == "staging"
    assert policies.previous_environment("test") is None
    assert "Apache-2.0" in policies.licenses.allowed


def test_schemas_describe_every_kind() -> None:
    schemas = all_schemas()
    assert set(schemas) == {
        "release.schema.json",
        "environment.schema.json",
        "plugin-state.schema.json",
        "gate-policy.schema.json",
        "license-policy.schema.json",
        "promotion-policy.schema.json",
        "signing-policy.schema.json",
        "plugin.schema.json",
        "approval-policy.schema.json",
        "teams.schema.json",
        "windows.schema.json",
        "rollout-policy.schema.json",
        "agent-status.schema.json",
        "offline-bundle.schema.json",
        "import-state.schema.json",
        "import-attempt.schema.json",
        "entitlement.schema.json",
        "tenant.schema.json",
        "permission-usage.schema.json",
        "source-records.schema.json",
        "dev-iteration.schema.json",
        "host-info.schema.json",
        "console-access.schema.json",
        "listing.schema.json",
        "market-policy.schema.json",
        "review.schema.json",
        "subscriptions.schema.json",
        "notification-outbox.schema.json",
        "market-usage-event.schema.json",
        "catalog-index.schema.json",
        "catalog-page.schema.json",
    }
    release_schema = schemas["release.schema.json"]
    assert release_schema["additionalProperties"] is False
    assert "apiVersion" in release_schema["required"]
    assert release_schema["properties"]["kind"]["const"] == "Release"
    json.dumps(schemas)  # serialisable


def test_factories_round_trip() -> None:
    assert load_yaml(yaml_text(release()))["plugin"] == "hello"


def test_the_published_schemas_are_the_models_schemas() -> None:
    """docs/schemas/ is what `powerx schema -o docs/schemas` writes today (no stale copy)."""
    folder = PROJECT / "docs" / "schemas"
    expected = {name: json.dumps(doc, indent=2) + "\n" for name, doc in all_schemas().items()}
    published = {path.name: path.read_text() for path in folder.glob("*.json")}
    assert published.keys() == expected.keys()
    stale = sorted(name for name in expected if published[name] != expected[name])
    assert not stale, f"regenerate with: powerx schema -o docs/schemas ({stale})"
