"""Small helpers every layer may use: the rate limiter, counters, background tasks."""
