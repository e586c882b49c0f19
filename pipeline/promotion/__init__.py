"""Promotion across environments: rollback reverts and the audit trail (more to come)."""
