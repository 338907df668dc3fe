"""The audit trail: one row per security event, written in the same transaction as the change."""
