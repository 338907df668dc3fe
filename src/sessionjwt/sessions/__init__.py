"""The session: its record and stores, issue, refresh, revoke, and what each process knows
of which sessions are alive (liveness/)."""
