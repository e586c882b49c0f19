"""PowerX Release: a GitOps release pipeline for PowerX plugins."""

__version__ = "0.1.0"
