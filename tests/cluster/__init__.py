"""Real multi-process tests: N ``sessionjwt serve`` processes on PostgreSQL + Redis."""
