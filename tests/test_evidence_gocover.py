"""Go coverage profiles: the merging rule of `go tool cover`, and every malformed line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.evidence import CoverageReport, parse_coverage

GO = Path(__file__).resolve().parent / "data" / "reports" / "go"
REAL = (GO / "coverage-coverpkg.out").read_text()


def error_of(text: str, path: str = "cover.out") -> InputError:
    with pytest.raises(InputError) as caught:
        parse_coverage(text.encode(), path)
    return caught.value


@pytest.mark.parametrize("mode", ["set", "count", "atomic"])
def test_every_mode_reads_the_same_statements(mode: str) -> None:
    text = REAL.replace("mode: count", f"mode: {mode}", 1)
    assert parse_coverage(text.encode(), "c.out") == CoverageReport("go-coverprofile", 10, 16, 0, 0)


def test_identical_blocks_count_once_and_any_run_covers_them() -> None:
    text = (
        "mode: set\n"
        "a.go:1.1,2.2 3 0\n"
        "a.go:1.1,2.2 3 1\n"  # the same block, run by another test binary
        "a.go:4.1,5.2 2 0\n"
        "b.go:1.1,2.2 5 0\n"  # same position, another file: another block
    )
    assert parse_coverage(text.encode(), "c.out") == CoverageReport("go-coverprofile", 3, 10, 0, 0)


def test_file_names_with_spaces_colons_and_windows_line_ends() -> None:
    text = "mode: count\r\nC:/src/my mod/a.go:10.2,12.3 4 7\r\nC:/src/my mod/a.go:13.2,13.9 1 0\r\n"
    report = parse_coverage(text.encode(), "c.out")
    assert (report.lines_covered, report.lines_total) == (4, 5)
    assert report.percent == 80.0


def test_profile_of_nothing_measures_no_code() -> None:
    error = error_of("mode: set\n")
    assert error.message == "report measures no code (0 lines and 0 branches)"


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        (
            "mode: sometimes\na.go:1.1,2.2 1 1\n",
            "invalid Go coverage profile: mode 'sometimes', expected one of set, count, atomic",
            "cover.out:1",
        ),
        (
            "\n\nmode:\na.go:1.1,2.2 1 1\n",
            "invalid Go coverage profile: mode '', expected one of set, count, atomic",
            "cover.out:3",
        ),
        (
            "mode: set\na.go:1.1,2.2 1 1\na.go:3.1,4.2 1\n",
            "invalid Go coverage profile: not a block line: 'a.go:3.1,4.2 1'",
            "cover.out:3",
        ),
        (
            "mode: set\na.go:1.1,2.2 1 -1\n",
            "invalid Go coverage profile: not a block line: 'a.go:1.1,2.2 1 -1'",
            "cover.out:2",
        ),
        (
            "mode: set\na.go:1.x,2.2 1 1\n",
            "invalid Go coverage profile: not a block line: 'a.go:1.x,2.2 1 1'",
            "cover.out:2",
        ),
        (
            "mode: set\n:1.1,2.2 1 1\n",
            "invalid Go coverage profile: not a block line: ':1.1,2.2 1 1'",
            "cover.out:2",
        ),
        (
            "mode: set\na.go:1.1,2.2 1 1\nmode: set\n",
            "invalid Go coverage profile: not a block line: 'mode: set'",
            "cover.out:3",
        ),
        (
            "mode: set\na.go:1.1,2.2 1 1\n\na.go:1.1,2.2 2 0\n",
            "invalid Go coverage profile: block a.go:1.1,2.2 has 2 statements here but 1 on line 2",
            "cover.out:4",
        ),
    ],
)
def test_malformed_profile_names_the_line(text: str, message: str, where: str) -> None:
    error = error_of(text)
    assert error.message == message
    assert str(error.location) == where
    assert error.hint is not None and "go test -coverprofile" in error.hint


def test_a_truncated_real_profile_names_its_last_line() -> None:
    lines = REAL.splitlines()
    cut = "\n".join(lines[:7]) + "\n" + lines[7][:-2]
    error = error_of(cut)
    assert error.message.startswith("invalid Go coverage profile: not a block line")
    assert str(error.location) == "cover.out:8"
