"""The bundle's OCI manifest as a registry may hand it back: every malformed or
disagreeing listing is refused (exit 1) before a file is pulled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.bundle.oci_layout import (
    BUNDLE_ARTIFACT_TYPE,
    FILE_MEDIA_TYPE,
    bundle_layers,
    check_against_index,
    encode_oci_manifest,
    parse_oci_manifest,
)
from pipeline.errors import GateError
from pipeline.models.base import API_VERSION
from pipeline.models.bundle import BUNDLE_FORMAT, BundleManifest

SHA = "a" * 64
WHERE = "oci://127.0.0.1:5000/site/bundles:prod"


def _manifest() -> BundleManifest:
    now = datetime.now(UTC)
    return BundleManifest.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "OfflineBundle",
            "format": BUNDLE_FORMAT,
            "environment": "prod",
            "sequence": 1,
            "created": now,
            "expires": now + timedelta(days=1),
            "source": {"repo": "a", "commit": "0" * 40},
            "releases": [],
            "files": [
                {"path": "environment/environment.yaml", "sha256": SHA, "size": 10},
                {"path": "environment/plugins/hello.yaml", "sha256": "b" * 64, "size": 20},
            ],
        }
    )


def _document() -> dict[str, Any]:
    manifest = _manifest()
    layers = bundle_layers(manifest, "c" * 64, 100, b"signature")
    data: dict[str, Any] = json.loads(encode_oci_manifest(manifest, "c" * 64, layers))
    return data


def _layer(title: str, **fields: object) -> dict[str, object]:
    layer: dict[str, object] = {
        "mediaType": FILE_MEDIA_TYPE,
        "digest": f"sha256:{SHA}",
        "size": 10,
        "annotations": {"org.opencontainers.image.title": title},
    }
    layer.update(fields)
    return layer


def test_an_encoded_bundle_reads_back() -> None:
    document = _document()
    assert document["artifactType"] == BUNDLE_ARTIFACT_TYPE
    artifact = parse_oci_manifest(json.dumps(document).encode(), WHERE)
    assert sorted(artifact.files) == [
        "environment/environment.yaml",
        "environment/plugins/hello.yaml",
    ]
    check_against_index(artifact, _manifest(), WHERE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.clear() or None, "is not an offline bundle (artifactType None"),
        (lambda d: d.pop("layers"), "the manifest has no layers"),
        (lambda d: d["layers"].append("x"), "a layer is not an object"),
        (lambda d: d["layers"][2].pop("annotations"), "a layer has no title or media type"),
        (lambda d: d["layers"][2].update(size=-1), "has no valid size"),
        (lambda d: d["layers"][2].update(size=True), "has no valid size"),
        (lambda d: d["layers"][2].update(digest="md5:00"), "has no sha256 digest"),
        (lambda d: d["layers"].reverse(), "does not start with bundle.json"),
        (lambda d: d["layers"][0].update(size=10**9), "over the size limit"),
        (lambda d: d["layers"].append(d["layers"][2]), "appears twice in the bundle"),
    ],
)
def test_malformed_listings_are_refused(change: Any, message: str) -> None:
    document = _document()
    change(document)
    with pytest.raises(GateError, match=message.replace("(", r"\(")):
        parse_oci_manifest(json.dumps(document).encode(), WHERE)


def test_not_json_is_refused() -> None:
    with pytest.raises(GateError, match=r"registry manifest|JSON"):
        parse_oci_manifest(b"{not json", WHERE)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([_layer("environment/environment.yaml")], "lacks 1 file\\(s\\) its signed manifest"),
        (
            [_layer("environment/environment.yaml"), _layer("environment/plugins/hello.yaml")],
            "the signed manifest says sha256:b{64}",
        ),
    ],
)
def test_a_listing_that_drops_or_swaps_is_refused(
    layers: list[dict[str, object]], message: str
) -> None:
    document = _document()
    document["layers"] = document["layers"][:2] + layers
    artifact = parse_oci_manifest(json.dumps(document).encode(), WHERE)
    with pytest.raises(GateError, match=message):
        check_against_index(artifact, _manifest(), WHERE)
