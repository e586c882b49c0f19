"""`px-admin drift --format prometheus`: the drift report in Prometheus' text exposition
format (version 0.0.4), for a textfile collector or a scrape of a file server.

Per environment: the drift count, the count per cause (every cause, zeros included, so an
alert's series never disappears), the sites compared; per site: when it last synced.
"""

from __future__ import annotations

from pipeline.admin.drift_model import CAUSES, DriftReport

PREFIX = "powerx_drift"


def label_value(text: str) -> str:
    """A label value escaped as the format asks (backslash, double quote, line feed)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(**pairs: str) -> str:
    inner = ",".join(f'{key}="{label_value(value)}"' for key, value in pairs.items())
    return "{" + inner + "}"


def prometheus_text(report: DriftReport) -> str:
    """The report as metric families, each with its HELP and TYPE lines."""
    by_env = report.by_environment()
    lines: list[str] = []

    def family(name: str, help_text: str) -> None:
        lines.append(f"# HELP {PREFIX}_{name} {help_text}")
        lines.append(f"# TYPE {PREFIX}_{name} gauge")

    family("plugins", "Plugins whose site state differs from what git says (px-admin drift).")
    for env, entry in by_env.items():
        lines.append(f"{PREFIX}_plugins{labels(environment=env)} {entry['drift']}")
    family("plugins_by_cause", "Drifting plugins per environment and cause.")
    for env, entry in by_env.items():
        for cause in CAUSES:
            series = labels(environment=env, cause=cause)
            lines.append(f"{PREFIX}_plugins_by_cause{series} {entry['byCause'][cause]}")
    family("sites", "Site reports (agent status files or plugin stores) compared.")
    for env, entry in by_env.items():
        lines.append(f"{PREFIX}_sites{labels(environment=env)} {entry['sites']}")
    family("last_sync_timestamp_seconds", "When each site's agent last synced (Unix time).")
    for site in report.sites:
        series = labels(environment=site.environment, site=site.source)
        lines.append(f"{PREFIX}_last_sync_timestamp_seconds{series} {site.last_sync.timestamp()}")
    return "\n".join(lines) + "\n"
