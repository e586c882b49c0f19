"""The Marketplace validator's listing rules: fields, screenshots (decoded), links, text."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import yaml_text
from test_market_validate import (
    Market,
    failed_only,
    findings,
    jpeg,
    listing_data,
    market,
    png,
    result,
)

from pipeline.errors import InputError

__all__ = ["market"]  # the fixture, shared with test_market_validate.py


@pytest.mark.parametrize("missing", ["support", "pricing"])
def test_a_listing_without_support_or_pricing_is_refused(market: Market, missing: str) -> None:
    market.release(market.package())
    data = listing_data("hello")
    del data[missing]
    market.repo.commit(
        {"releases/hello/listing.yaml": yaml_text(data), "releases/hello/listing/main.png": png()}
    )
    report = market.validate()
    failed_only(report, "listing.fields")
    (finding,) = findings(report, "listing.fields")
    assert finding.message == f"missing required field {missing!r}"
    assert finding.file == "releases/hello/listing.yaml" and finding.line == 1


def test_field_errors_name_their_line(market: Market) -> None:
    market.release(market.package())
    market.listing(summary="short", categories=["games"])
    report = market.validate()
    failed_only(report, "listing.fields")
    messages = {f.message.split(":")[0]: f for f in findings(report, "listing.fields")}
    assert "summary" in messages and messages["summary"].line is not None
    assert messages["summary"].line > 1


def test_no_listing_at_all(market: Market) -> None:
    market.release(market.package())
    report = market.validate()
    failed_only(report, "listing.fields")
    (finding,) = findings(report, "listing.fields")
    assert finding.message == "hello has no listing"
    assert "releases/hello/listing.yaml" in finding.remedy


def test_a_listing_for_another_plugin(market: Market) -> None:
    market.release(market.package())
    market.repo.commit(
        {
            "releases/hello/listing.yaml": yaml_text(listing_data("other")),
            "releases/hello/listing/main.png": png(),
        }
    )
    (finding,) = findings(market.validate(), "listing.fields")
    assert finding.message == "the listing is for 'other', not 'hello'"


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720"/>'


@pytest.mark.parametrize(
    "data, message",
    [
        (b"this is not an image at all, whatever its name says", "is not a PNG or JPEG image"),
        (SVG, "is an SVG drawing"),
        (png(4000, 2200), "is 4000x2200 pixels, over the maximum of 3840x2160"),
        (png(320, 200), "is 320x200 pixels, under the minimum of 640x360"),
        (png()[:200], "is a damaged PNG file"),
    ],
)
def test_screenshots_are_decoded_not_judged_by_name(
    market: Market, data: bytes, message: str
) -> None:
    market.release(market.package())
    market.listing(shots={"listing/main.png": data})
    report = market.validate()
    failed_only(report, "listing.screenshots")
    (finding,) = findings(report, "listing.screenshots")
    assert finding.message.startswith("screenshot listing/main.png ")
    assert message in finding.message
    assert finding.file == "releases/hello/listing.yaml" and finding.line is not None
    assert finding.path == "screenshots[0].file"


def test_a_screenshot_over_the_byte_limit(market: Market) -> None:
    market.policy(screenshots={"maxBytes": 100_000})
    market.release(market.package())
    market.listing(shots={"listing/main.png": png(800, 450, noisy=True)})
    (finding,) = findings(market.validate(), "listing.screenshots")
    assert "over the limit of 100,000" in finding.message


def test_jpeg_and_missing_screenshots(market: Market) -> None:
    market.release(market.package())
    shots = [
        {"file": "listing/a.jpg", "caption": "A JPEG"},
        {"file": "listing/gone.png", "caption": "Not there"},
        {"file": "../1.0.0/release.yaml", "caption": "Outside"},
    ]
    market.listing(screenshots=shots, shots={"listing/a.jpg": jpeg()})
    report = market.validate()
    messages = [f.message for f in findings(report, "listing.screenshots")]
    assert messages[0] == "screenshot listing/gone.png does not exist"
    assert "is not a plain path inside the listing's folder" in messages[1]
    assert len(messages) == 2


def test_links_must_be_https(market: Market) -> None:
    market.release(market.package())
    market.listing(
        documentation="http://vendor.example/docs",
        vendor={"name": "Vendor", "url": "https://user:secret@vendor.example/"},
    )
    report = market.validate()
    failed_only(report, "listing.links")
    found = {f.path: f.message for f in findings(report, "listing.links")}
    assert found["documentation"] == "'http://vendor.example/docs' is not an https link"
    assert "user info" in found["vendor.url"] and "secret" not in found["vendor.url"]


def test_notes_and_changelog_must_be_there_and_not_stub_text(market: Market) -> None:
    market.release(market.package(), notes="", changes=[])
    market.listing(description="TODO: describe the plugin here. " * 4)
    report = market.validate()
    failed_only(report, "listing.text")
    messages = [f.message for f in findings(report, "listing.text")]
    assert messages == [
        "the release has no release notes",
        "the release has no changelog",
        "description is stub text ('TODO')",
    ]


def test_stub_release_notes(market: Market) -> None:
    market.release(market.package(), notes="_No release notes._ Lorem ipsum dolor sit amet.")
    market.listing()
    (finding,) = findings(market.validate(), "listing.text")
    assert finding.message == "the release notes are stub text ('_No release notes._')"


def test_notes_and_changelog_files_in_the_package_count(market: Market) -> None:
    packed = market.package(
        files={
            "NOTES.md": "Greetings in Welsh, and a faster start.\n",
            "CHANGELOG.md": "## 1.0.0\n- Welsh greetings\n",
        },
        manifest_extra={"notes": "NOTES.md", "changelog": "CHANGELOG.md"},
    )
    market.release(packed, notes="", changes=[])
    market.listing()
    assert result(market.validate(), "listing.text").outcome == "passed"


def test_a_local_listing_with_its_screenshots(market: Market, tmp_path: Path) -> None:
    market.release(market.package())
    folder = tmp_path / "upload"
    (folder / "listing").mkdir(parents=True)
    (folder / "listing" / "main.png").write_bytes(png())
    (folder / "listing.yaml").write_text(yaml_text(listing_data("hello")))
    assert market.validate(listing=folder / "listing.yaml").verdict == "passed"
    (folder / "listing" / "main.png").unlink()
    (folder / "listing" / "main.png").symlink_to(tmp_path / "repo" / "README.md")
    report = market.validate(listing=folder / "listing.yaml")
    (finding,) = findings(report, "listing.screenshots")
    assert "leads outside the listing's folder" in finding.message
    assert finding.file == str(folder / "listing.yaml")
    (folder / "listing.yaml").write_text("plugin: [unclosed\n")
    (finding,) = findings(market.validate(listing=folder / "listing.yaml"), "listing.fields")
    assert finding.line is not None


def test_a_local_listing_that_is_too_large_or_missing(market: Market, tmp_path: Path) -> None:
    market.release(market.package())
    big = tmp_path / "listing.yaml"
    big.write_bytes(b"# " + b"x" * (4 * 1024 * 1024) + b"\n")
    with pytest.raises(InputError, match="over the limit"):
        market.validate(listing=big)
    (finding,) = findings(market.validate(listing=tmp_path / "none.yaml"), "listing.fields")
    assert finding.message == "hello has no listing"


def test_without_notes_in_the_record_the_package_decides(market: Market) -> None:
    market.release(market.package(), notes="")
    market.listing()
    report = market.validate(store=None)
    assert result(report, "listing.text").outcome == "errored"
    assert "the notes are not in release.yaml, and the package" in (
        result(report, "listing.text").error or ""
    )
    assert result(market.validate(), "listing.text").outcome == "failed"
