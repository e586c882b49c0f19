from decimal import Decimal

import pytest

import ledger_sync
from ledger_sync import Entry, checksum, parse, parse_line, reconcile


def test_parse_line() -> None:
    assert parse_line(" INV-1 ; 120.50 ") == Entry("INV-1", Decimal("120.50"))


@pytest.mark.parametrize("line", ["INV-1", ";3", "a;b;c"])
def test_parse_line_rejects_shape(line: str) -> None:
    with pytest.raises(ValueError, match="expected 'id;amount'"):
        parse_line(line)


def test_parse_line_rejects_amount() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_line("INV-1;lots")


def test_parse_skips_blanks_and_comments() -> None:
    text = "# export of 2024-05-01\nINV-1;10\n\n  # trailer\nINV-2;5.5\n"
    assert [e.id for e in parse(text)] == ["INV-1", "INV-2"]


def test_checksum_ignores_order() -> None:
    a, b = Entry("A", Decimal(1)), Entry("B", Decimal(2))
    assert checksum([a, b]) == checksum([b, a])
    assert len(checksum([a])) == 64


def test_reconcile_finds_every_kind_of_difference() -> None:
    ledger = parse("A;1\nB;2\nC;3")
    feed = parse("A;1\nB;2.5\nD;4")
    report = reconcile(ledger, feed)
    assert report.missing_in_feed == ["C"]
    assert report.missing_in_ledger == ["D"]
    assert report.mismatched == ["B"]
    assert not report.clean


def test_reconcile_clean() -> None:
    assert reconcile(parse("A;1.0"), parse("A;1")).clean


def test_version() -> None:
    assert ledger_sync.__version__ == "0.9.0"
