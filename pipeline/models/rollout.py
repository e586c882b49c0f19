"""`policies/rollout.yaml`: how a canary grows, how long a step runs, which metrics judge it."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pipeline import duration
from pipeline.models.base import Document, Name, Strict
from pipeline.urls import credential_problem


def parse_duration(value: object) -> object:
    """'90s', '5m', '1h30m', '1.5s' or a number of seconds -> seconds; anything else unchanged.

    The format is `pipeline.duration`'s, the one every duration in PowerX uses.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {duration.HINT}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return value
    return duration.parse_duration(value)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite duration")
    return value


Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    AfterValidator(_finite),
    Field(gt=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": duration.PATTERN},
            ],
            "description": "a duration: seconds, or e.g. '30s', '5m', '1h30m'",
        }
    ),
]
"""A positive duration in seconds; YAML may say `30`, `"30s"`, `"5m"` or `"1h30m"`."""


def _check_steps(steps: list[int]) -> list[int]:
    if any(step < 1 or step > 100 for step in steps):
        raise ValueError("each step is a percentage of tenants between 1 and 100")
    if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
        raise ValueError("steps must increase strictly, e.g. [10, 50, 100]")
    if steps[-1] != 100:
        raise ValueError("the last step must be 100 so that the rollout completes")
    return steps


Steps = Annotated[
    list[int],
    Field(min_length=1, description="percent of tenants on the canary at each step"),
    AfterValidator(_check_steps),
]


def _check_query(query: str) -> str:
    if "{group}" not in query and "{version}" not in query:
        raise ValueError(
            "the query must tell canary from stable: use the {group} or {version} placeholder"
        )
    return query


def render_query(template: str, *, plugin: str, version: str, group: str) -> str:
    """The PromQL of one side: `{plugin}`, `{version}` and `{group}` replaced, other braces kept."""
    return (
        template.replace("{plugin}", plugin).replace("{version}", version).replace("{group}", group)
    )


Direction = Literal["increase", "decrease", "either"]
NoDataRule = Literal["fail", "hold", "pass"]


class MetricSpec(Strict):
    """One metric the judge compares between canary and stable."""

    name: Name
    query: Annotated[
        str,
        Field(
            min_length=1,
            description="PromQL with {plugin}, {version} and {group} (canary|stable) placeholders",
        ),
        AfterValidator(_check_query),
    ]
    direction: Direction = Field(
        description="which change is bad: 'increase' (errors, latency), 'decrease' "
        "(throughput), or 'either'"
    )
    max_deviation: float = Field(
        default=0.05,
        ge=0,
        alias="maxDeviation",
        description="allowed relative deviation of the canary's mean from the stable's (0.05 = 5%)",
    )
    tolerance: float = Field(
        default=0.0,
        ge=0,
        description="an absolute difference of the means that is always acceptable; also the "
        "yardstick when the stable mean is 0",
    )
    weight: float = Field(default=1.0, gt=0, description="share of this metric in the score")
    critical: bool = Field(default=False, description="a failure fails the step at once")
    no_data: NoDataRule = Field(
        default="fail",
        alias="noData",
        description="what an empty, NaN or Inf result means: fail, hold or pass",
    )


def _unique_names(metrics: list[MetricSpec]) -> list[MetricSpec]:
    names = [metric.name for metric in metrics]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"metric names must be unique: {', '.join(duplicates)}")
    return metrics


Metrics = Annotated[list[MetricSpec], AfterValidator(_unique_names)]


class Thresholds(Strict):
    """Scores (0-100) at or above which a step passes, or holds instead of failing."""

    pass_: float = Field(default=95.0, ge=0, le=100, alias="pass")
    marginal: float = Field(default=75.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.marginal > self.pass_:
            raise ValueError("marginal must not be above pass")
        return self


class ProviderConfig(Strict):
    """Where metrics come from. Secrets stay out of git: name the env vars that hold them."""

    type: Literal["prometheus", "file"]
    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s@/]+(/\S*)?$",
        description="Prometheus base URL, e.g. http://prometheus:9090 (no credentials in it)",
    )
    path: str | None = Field(
        default=None, description="file provider: JSON or CSV samples, relative to the repo"
    )
    bearer_token_env: str | None = Field(
        default=None,
        alias="bearerTokenEnv",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="name of the environment variable holding a bearer token",
    )
    username_env: str | None = Field(
        default=None, alias="usernameEnv", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )
    password_env: str | None = Field(
        default=None, alias="passwordEnv", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )
    timeout: Seconds = Field(default=5.0, description="per request")
    retries: int = Field(default=2, ge=0, le=10, description="extra attempts after a failure")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str | None) -> str | None:
        problem = credential_problem(url) if url is not None else None
        if problem is not None:  # never echo the URL: it holds a secret
            raise ValueError(
                f"the Prometheus URL is refused: {problem}; name the environment variables "
                "holding it (bearerTokenEnv, usernameEnv/passwordEnv)"
            )
        return url

    @model_validator(mode="after")
    def _complete(self) -> ProviderConfig:
        if self.type == "prometheus" and not self.url:
            raise ValueError("a prometheus provider needs a url")
        if self.type == "file" and not self.path:
            raise ValueError("a file provider needs a path")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("basic auth needs both usernameEnv and passwordEnv")
        if self.bearer_token_env and self.username_env:
            raise ValueError("use either bearerTokenEnv or usernameEnv/passwordEnv, not both")
        return self


class RolloutOverride(Strict):
    """Per-plugin changes to the rollout policy; metrics replace or add by name."""

    steps: Steps | None = None
    interval: Seconds | None = None
    min_step_duration: Seconds | None = Field(default=None, alias="minStepDuration")
    analysis_window: Seconds | None = Field(default=None, alias="analysisWindow")
    sample_interval: Seconds | None = Field(default=None, alias="sampleInterval")
    min_samples: int | None = Field(default=None, ge=1, alias="minSamples")
    fail_after: Seconds | None = Field(default=None, alias="failAfter")
    thresholds: Thresholds | None = None
    metrics: Metrics = Field(default_factory=list)
    provider: ProviderConfig | None = None


MAX_POINTS = 11_000
"""Prometheus refuses a query_range of more points per series than this."""


def check_sampling(window: float, interval: float, min_samples: int) -> None:
    """An analysis window must hold `min_samples` samples and no more than Prometheus serves."""
    points = math.floor(window / interval) + 1
    if points < min_samples:
        raise ValueError(
            f"analysisWindow {window:g}s / sampleInterval {interval:g}s gives at most {points} "
            f"sample(s), fewer than minSamples {min_samples}: every analysis would have no data"
        )
    if points > MAX_POINTS:
        raise ValueError(
            f"analysisWindow {window:g}s / sampleInterval {interval:g}s gives {points} samples; "
            f"Prometheus serves at most {MAX_POINTS:,}: widen sampleInterval"
        )


class RolloutSpec(Strict):
    """The effective, fully resolved rollout settings of one plugin (`RolloutPolicy.for_plugin`)."""

    plugin: Name
    steps: Steps
    interval: Seconds
    min_step_duration: Seconds = Field(alias="minStepDuration")
    analysis_window: Seconds = Field(alias="analysisWindow")
    sample_interval: Seconds = Field(alias="sampleInterval")
    min_samples: int = Field(ge=1, alias="minSamples")
    fail_after: Seconds = Field(alias="failAfter")
    thresholds: Thresholds
    metrics: Metrics
    provider: ProviderConfig | None = None

    @model_validator(mode="after")
    def _sampling(self) -> RolloutSpec:
        check_sampling(self.analysis_window, self.sample_interval, self.min_samples)
        return self


class RolloutPolicy(Document):
    """Canary steps, timing and metrics: `policies/rollout.yaml`."""

    kind: Literal["RolloutPolicy"]
    steps: Steps = Field(default_factory=lambda: [10, 50, 100])
    interval: Seconds = Field(default=60.0, description="time between two analyses of a step")
    min_step_duration: Seconds = Field(
        default=600.0,
        alias="minStepDuration",
        description="minimum time a step runs before the canary may expand",
    )
    analysis_window: Seconds = Field(
        default=300.0,
        alias="analysisWindow",
        description="each analysis compares the samples of this last stretch of time",
    )
    sample_interval: Seconds = Field(
        default=10.0,
        alias="sampleInterval",
        description="spacing of the samples in the window (the query_range step)",
    )
    min_samples: int = Field(
        default=5,
        ge=1,
        alias="minSamples",
        description="fewer finite samples on either side count as no data",
    )
    fail_after: Seconds = Field(
        default=900.0,
        alias="failAfter",
        description="how long a step may hold for missing data or a provider that is down "
        "before the rollout fails",
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    metrics: Metrics = Field(default_factory=list)
    provider: ProviderConfig | None = None
    plugins: dict[Name, RolloutOverride] = Field(
        default_factory=dict, description="per-plugin overrides"
    )

    @model_validator(mode="after")
    def _sampling(self) -> RolloutPolicy:
        check_sampling(self.analysis_window, self.sample_interval, self.min_samples)
        for plugin, override in self.plugins.items():
            try:
                check_sampling(
                    override.analysis_window or self.analysis_window,
                    override.sample_interval or self.sample_interval,
                    override.min_samples or self.min_samples,
                )
            except ValueError as error:
                raise ValueError(f"plugins.{plugin}: {error}") from None
        return self

    def for_plugin(self, plugin: str) -> RolloutSpec:
        """The settings that apply to `plugin`: the policy with its override laid on top."""
        override = self.plugins.get(plugin)
        values: dict[str, Any] = {
            name: getattr(self, name)
            for name in RolloutSpec.model_fields
            if name not in ("plugin", "metrics")
        }
        metrics = {metric.name: metric for metric in self.metrics}
        if override is not None:
            values.update(
                {
                    name: value
                    for name in override.model_fields_set - {"metrics"}
                    if (value := getattr(override, name)) is not None
                }
            )
            metrics.update({metric.name: metric for metric in override.metrics})
        return RolloutSpec.model_validate(
            {**values, "plugin": plugin, "metrics": [*metrics.values()]}
        )
