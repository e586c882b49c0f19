"""Tenant and environment administration (`px-admin`): tenants, groups, grants,
entitlements and environments, every change a plan (a diff) before one commit.

- `state`: read-only views of a revision (environments, tenants, groups, grants,
  entitlements) that `diff` and `drift` share.
- `plan`: the plan-then-apply engine (rights, validation, diff, commit / push / pull request).
- `tenants`, `grants`, `entitlements`, `environments`: the edits behind each command.
"""
