"""`px-market report` on a real repo of review records and a usage events file; the console's
/market/report over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, RunCli, git
from factories import API, yaml_text
from hostplugins import ServerProcess
from test_web_console import Client

from pipeline.cli.market import cli
from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo
from pipeline.market import review_path
from pipeline.market.report import ReportRequest, build_report, report_text
from pipeline.market.sla import business_days_between
from pipeline.models.market import Review
from pipeline.models.market_events import MAX_LINE_BYTES, read_events
from pipeline.snapshot import Snapshot

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # a Thursday


def at(day: int, month: int = 11) -> str:
    return datetime(2026, month, day, 9, 0, tzinfo=UTC).isoformat()


def step(state: str, when: str, **extra: Any) -> dict[str, Any]:
    return {"state": state, "at": when, "by": "runner" if state == "submitted" else "rita", **extra}


def review(plugin: str, version: str, history: list[dict[str, Any]], **extra: Any) -> str:
    data = {
        "apiVersion": API,
        "kind": "Review",
        "plugin": plugin,
        "version": version,
        "artifactSha256": "a" * 64,
        "history": history,
        **extra,
    }
    return yaml_text(Review.model_validate(data).model_dump(mode="json", by_alias=True))


REVIEWS = {
    # Mon: changes requested a day later; resubmitted Wed, approved Fri: lead time 4 days
    review_path("meter", "1.0.0"): review("meter", "1.0.0", [
        step("submitted", at(16)),
        step("in-review", datetime(2026, 11, 16, 10, tzinfo=UTC).isoformat()),
        step("changes-requested", at(17), reason="blurry", category="screenshots"),
        step("submitted", at(18)),
        step("approved", at(20)),
    ]),
    # Fri to Wed: 3 business days over a weekend, SLA 2: over
    review_path("meter", "1.1.0"): review("meter", "1.1.0", [
        step("submitted", at(20)),
        step("errored", at(23), reason="scanner down"),
        step("approved", at(25)),
    ]),
    # offline, rejected after one business day (SLA 3)
    review_path("hello", "2.0.0"): review("hello", "2.0.0", [
        step("submitted", at(16)),
        step("rejected", at(17), reason="a high finding", category="security"),
    ], channel="offline"),
    # still in review three business days later: overdue
    review_path("hello", "2.1.0"): review("hello", "2.1.0", [
        step("submitted", at(30)),
        step("in-review", at(1, 12)),
    ]),
}  # fmt: skip


def usage(event: str, plugin: str, version: str, day: int = 25) -> str:
    return json.dumps(
        {"event": event, "plugin": plugin, "version": version, "at": at(day), "tenant": "acme"}
    )


EVENTS = [
    *[usage("download", "meter", "1.0.0") for _ in range(3)],
    usage("activation", "meter", "1.0.0"),
    usage("activation", "meter", "1.0.0"),
    usage("uninstall", "meter", "1.0.0"),
    usage("download", "meter", "1.1.0"),
    usage("download", "hello", "2.0.0", day=2),
    "",
]


@pytest.fixture
def reviewed(repo: Repo) -> Repo:
    repo.commit(REVIEWS, "reviews")
    return repo


def report_of(repo: Repo, events: Path | None, since: datetime | None = None) -> Any:
    git_repo = GitRepo(repo.path)
    snapshot = Snapshot(git_repo, git_repo.resolve("HEAD"))
    loaded = read_events(events) if events else None
    return build_report(ReportRequest(snapshot, loaded, since, NOW))


def events_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "usage.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_review_and_usage_figures(reviewed: Repo, tmp_path: Path) -> None:
    report = report_of(reviewed, events_file(tmp_path, EVENTS))
    data = report.as_json()
    assert data["reviews"] == {
        "submissions": 4,
        "approved": 2,
        "rejected": 1,
        "passRate": 0.667,
        "firstPassRate": 0.333,
    }
    assert data["leadTime"]["listings"] == {"meter@1.0.0": 4.0, "meter@1.1.0": 5.0}
    assert data["leadTime"]["medianDays"] == 4.5
    rounds = [
        (r["plugin"], r["version"], r["outcome"], r["businessDays"]) for r in data["sla"]["all"]
    ]
    assert rounds == [
        ("hello", "2.0.0", "rejected", 1.0),
        ("hello", "2.1.0", "open", 3.0),
        ("meter", "1.0.0", "changes-requested", 1.0),
        ("meter", "1.0.0", "approved", 2.0),
        ("meter", "1.1.0", "approved", 3.0),
    ]
    assert data["sla"]["withinSla"] == 3
    assert [(r["version"], r["allowed"]) for r in data["sla"]["overdue"]] == [
        ("2.1.0", 2),
        ("1.1.0", 2),
    ]
    assert data["reasons"] == {
        "screenshots": {"changes-requested": 1},
        "security": {"rejected": 1},
    }
    assert data["usage"] == [
        {"plugin": "hello", "version": "2.0.0", "downloads": 1, "activations": 0,
         "uninstalls": 0, "churn": None},
        {"plugin": "meter", "version": "1.1.0", "downloads": 1, "activations": 0,
         "uninstalls": 0, "churn": None},
        {"plugin": "meter", "version": "1.0.0", "downloads": 3, "activations": 2,
         "uninstalls": 1, "churn": 0.5},
    ]  # fmt: skip
    text = report_text(report)
    assert "pass rate 67%, first-pass rate 33%" in text
    assert "OVER SLA meter@1.1.0 (online): 3.0 business days, allowed 2 (-> approved)" in text
    assert "OVER SLA hello@2.1.0 (online): 3.0 business days, allowed 2 (still open)" in text
    assert "  screenshots       1 / 0" in text and "50%" in text


def test_holidays_and_since_narrow_the_figures(reviewed: Repo, tmp_path: Path) -> None:
    policy = {"apiVersion": API, "kind": "MarketPolicy", "sla": {"holidays": ["2026-11-23"]}}
    reviewed.commit({"policies/market.yaml": yaml_text(policy)})
    since = datetime(2026, 11, 18, tzinfo=UTC)
    report = report_of(reviewed, events_file(tmp_path, EVENTS), since)
    assert report.submissions == 2 and report.approved == 1  # meter 1.1.0 and hello 2.1.0
    assert [(r.version, r.within_sla) for r in report.rounds] == [("2.1.0", False), ("1.1.0", True)]
    assert [u.version for u in report.usage] == ["1.1.0", "1.0.0"]  # hello's download was earlier
    empty = report_text(report_of(reviewed, None, datetime(2027, 1, 1, tzinfo=UTC)))
    assert "(none)" in empty and "(no usage events)" in empty and "median -" in empty


def test_business_days() -> None:
    friday = datetime(2026, 11, 20, 12, tzinfo=UTC)
    monday = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert business_days_between(friday, monday) == 1.0
    assert business_days_between(friday, monday, [date(2026, 11, 23)]) == 0.5
    assert business_days_between(monday, friday) == 0.0


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("{", "line 2 is not JSON"),
        ('{"event": "install", "plugin": "a", "version": "1.0.0", "at": "2026-11-01T00:00:00Z"}',
         "line 2: event"),
        ('{"event": "download", "plugin": "a", "version": "1.0.0", "at": "2026-11-01T00:00:00"}',
         "line 2: at"),
        ("[" + " " * MAX_LINE_BYTES + "]", "line 2 is longer than"),
    ],
)  # fmt: skip
def test_a_bad_events_line_is_named(tmp_path: Path, line: str, words: str) -> None:
    path = events_file(tmp_path, [EVENTS[0], line])
    with pytest.raises(InputError, match=words) as caught:
        read_events(path)
    assert caught.value.location is not None and caught.value.location.line == 2


def test_the_cli_prints_text_and_json(reviewed: Repo, tmp_path: Path, run_cli: RunCli) -> None:
    events = events_file(tmp_path, EVENTS)
    text = run_cli(cli, "report", "--repo", str(reviewed.path), "--events", str(events))
    assert text.code == 0, text.err
    assert text.out.startswith("Marketplace report (at ")
    as_json = run_cli(cli, "report", "--repo", str(reviewed.path), "--since", "2026-11-18",
                      "--format", "json")  # fmt: skip
    assert as_json.code == 0 and json.loads(as_json.out)["reviews"]["submissions"] == 2
    bad = events_file(tmp_path, ["nope"])
    refused = run_cli(cli, "report", "--repo", str(reviewed.path), "--events", str(bad))
    assert refused.code == 2 and "line 1 is not JSON" in refused.err


@pytest.fixture
def console(reviewed: Repo) -> Iterator[Client]:
    reviewed.commit({"market/usage.jsonl": "\n".join(EVENTS) + "\n"}, "usage")
    command = ["powerx", "serve", "--repo", str(reviewed.path), "--port", "0"]
    with ServerProcess(command) as server:
        yield Client(server.url)


def test_the_console_shows_the_report_with_its_charts(console: Client, reviewed: Repo) -> None:
    status, headers, page = console.get("/market/report", "text/html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "pass rate <strong>67%</strong>" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert "Review time per round (business days) vs SLA" in page and "Usage per version" in page
    assert "<td>meter@1.0.0</td><td>3</td><td>2</td><td>1</td><td>50%</td>" in page
    assert '<tr class="held"><td>meter@1.1.0</td>' in page
    data = console.json("/market/report.json?since=2026-11-18")
    assert data["reviews"]["submissions"] == 2 and data["since"] == "2026-11-18"
    assert data["head"] == git(reviewed.path, "rev-parse", "HEAD")
    assert console.status("/market/report?since=yesterday") == 400
    _, _, index = console.get("/", "text/html")
    assert 'href="/market/report"' in index
