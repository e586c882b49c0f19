"""Canary rollouts: tenant assignment, metric providers, the judge and the controller."""
