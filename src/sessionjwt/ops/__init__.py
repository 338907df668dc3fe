"""Operations: readiness, background upkeep, the audit trail for operators."""
