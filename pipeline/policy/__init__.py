"""The gate engine: what a change must pass before it lands."""

from pipeline.policy.check import CheckRequest, run_check
from pipeline.policy.results import CheckReport, GateResult

__all__ = ["CheckReport", "CheckRequest", "GateResult", "run_check"]
