from decimal import Decimal

import ledger_sync
from ledger_sync import (
    Entry,
    checksum,
    legacy_checksum,
    parse,
    parse_line,
    reconcile,
    summarize,
    to_json,
)


def test_parse_line() -> None:
    assert parse_line(" INV-1 ; 120.50 ") == Entry("INV-1", Decimal("120.50"))


def test_reconcile_reports_mismatch() -> None:
    report = reconcile(parse("A;1\nB;2"), parse("A;1\nB;3"))
    assert report.mismatched == ["B"]


def test_to_json() -> None:
    assert to_json(reconcile([], [])) == (
        '{"clean": true, "mismatched": [], "missingInFeed": [], "missingInLedger": []}'
    )


def test_checksums_ignore_order() -> None:
    a, b = Entry("A", Decimal(1)), Entry("B", Decimal(2))
    assert checksum([a, b]) == checksum([b, a])
    assert legacy_checksum([a, b]) == legacy_checksum([b, a])


def test_summarize_clean() -> None:
    assert summarize(reconcile(parse("A;1"), parse("A;1"))) == "ledger and feed agree"


def test_summarize_mismatch() -> None:
    assert summarize(reconcile(parse("A;1"), parse("A;2"))) == "1 mismatched"


def test_version() -> None:
    assert ledger_sync.__version__ == "1.0.0"
