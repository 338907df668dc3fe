"""The session: its record and stores, issue, refresh and revoke, and liveness (what each process knows)."""
