import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import ledger_sync
from ledger_sync import (
    Entry,
    Report,
    checksum,
    export,
    legacy_checksum,
    parse,
    parse_line,
    reconcile,
    summarize,
    sync,
    to_json,
)


def hook(script: str, *args: str) -> list[str]:
    """An export hook as an argument list: this Python running `script`."""
    return [sys.executable, "-c", script, *args]


# Writes the JSON it reads from stdin to the file named by its first argument.
SAVE = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())"
# Fails until the file named by its first argument exists (it creates it on the first call).
FLAKY = (
    "import sys, pathlib; p = pathlib.Path(sys.argv[1])\n"
    "if not p.exists(): p.touch(); sys.exit('gateway busy')"
)


def test_parse_line() -> None:
    assert parse_line(" INV-1 ; 120.50 ") == Entry("INV-1", Decimal("120.50"))


@pytest.mark.parametrize("line", ["INV-1", "INV-1;2;3", ";120.50"])
def test_parse_line_needs_id_and_amount(line: str) -> None:
    with pytest.raises(ValueError, match="expected 'id;amount'"):
        parse_line(line)


def test_parse_line_rejects_bad_amount() -> None:
    with pytest.raises(ValueError, match="not an amount: 'twelve'"):
        parse_line("INV-1;twelve")


def test_parse_skips_blank_lines_and_comments() -> None:
    assert parse("# export\n\nA;1\n  # note\nB;2\n") == [
        Entry("A", Decimal(1)),
        Entry("B", Decimal(2)),
    ]


def test_reconcile() -> None:
    report = reconcile(parse("A;1\nB;2\nC;3"), parse("A;1\nB;3\nD;4"))
    assert report == Report(missing_in_feed=["C"], missing_in_ledger=["D"], mismatched=["B"])
    assert not report.clean


def test_to_json() -> None:
    assert to_json(reconcile([], [])) == (
        '{"clean": true, "mismatched": [], "missingInFeed": [], "missingInLedger": []}'
    )


def test_checksum_is_sha256_in_id_order() -> None:
    a, b = Entry("A", Decimal(1)), Entry("B", Decimal(2))
    assert checksum([b, a]) == checksum([a, b]) == hashlib.sha256(b"A;1\nB;2\n").hexdigest()
    assert checksum([a]) != checksum([a, b])


def test_legacy_checksum_is_the_gateway_md5() -> None:
    a, b = Entry("A", Decimal(1)), Entry("B", Decimal(2))
    expected = hashlib.md5(b"A;1\nB;2\n", usedforsecurity=False).hexdigest()
    assert legacy_checksum([b, a]) == legacy_checksum([a, b]) == expected


def test_export_pipes_report_to_hook(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    report = reconcile(parse("A;1"), parse("A;2"))
    assert export(report, hook(SAVE, str(out)), delay=0) == 1
    assert json.loads(out.read_text())["mismatched"] == ["A"]


def test_export_never_uses_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the hook runs here
    # With a shell, `; touch injected` would run; as an argument it is only a strange file name.
    name = "report.json; touch injected"
    assert export(Report(), hook(SAVE, name), delay=0) == 1
    assert json.loads((tmp_path / name).read_text())["clean"] is True
    assert not (tmp_path / "injected").exists()


def test_export_retries_a_failing_hook(tmp_path: Path) -> None:
    assert export(Report(), hook(FLAKY, str(tmp_path / "seen")), delay=0) == 2


def test_export_gives_up_with_the_hook_error() -> None:
    with pytest.raises(RuntimeError, match="failed 2 times: gateway down"):
        export(Report(), hook("import sys; sys.exit('gateway down')"), retries=2, delay=0)


def test_export_reports_a_silent_failure() -> None:
    with pytest.raises(RuntimeError, match="failed 1 times: exit status 3"):
        export(Report(), hook("import sys; sys.exit(3)"), retries=1)


def test_export_times_out_a_hanging_hook() -> None:
    with pytest.raises(RuntimeError, match=r"timed out after 0\.2s"):
        export(Report(), hook("import time; time.sleep(10)"), retries=1, timeout=0.2)


@pytest.mark.parametrize("command", ["export-hook --tenant t1", []])
def test_export_needs_an_argument_list(command: str | list[str]) -> None:
    with pytest.raises(ValueError, match="non-empty argument list"):
        export(Report(), command)


def test_export_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="retries must be at least 1"):
        export(Report(), hook("pass"), retries=0)


def test_sync_same_batch_is_clean() -> None:
    assert sync("A;1\nB;2", "B;2\nA;1") == Report()


def test_sync_same_amounts_written_differently_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    # The checksums differ ("1" vs "1.00"), but the amounts agree: nothing to export.
    assert sync("A;1", "A;1.00", hook=hook("raise SystemExit(1)")).clean
    assert capsys.readouterr().out == ""


def test_sync_exports_a_dirty_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    report = sync("A;1\nB;2", "A;1\nB;3", hook=hook(SAVE, str(out)))
    assert report.mismatched == ["B"]
    assert json.loads(out.read_text())["mismatched"] == ["B"]


def test_sync_without_hook_prints_mismatches(capsys: pytest.CaptureFixture[str]) -> None:
    report = sync("A;1\nB;2", "A;1\nB;3\nC;4")
    assert report.missing_in_ledger == ["C"]
    assert capsys.readouterr().out == "mismatch: B\n"


def test_summarize_clean() -> None:
    assert summarize(reconcile(parse("A;1"), parse("A;1"))) == "ledger and feed agree"


def test_summarize_mismatch() -> None:
    assert summarize(reconcile(parse("A;1"), parse("A;2"))) == "1 mismatched"


def test_summarize_everything() -> None:
    report = reconcile(parse("A;1\nB;2\nC;3"), parse("A;1\nB;3\nD;4\nE;5"))
    assert summarize(report) == "1 missing in feed, 2 missing in ledger, 1 mismatched"


def test_summarize_missing_only() -> None:
    assert summarize(reconcile(parse("A;1"), [])) == "1 missing in feed"


def test_version() -> None:
    assert ledger_sync.__version__ == "1.0.1"
