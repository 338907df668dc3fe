"""The benchmark still runs end to end, tiny, so `make bench` cannot rot between releases.

No timing is asserted: the suite runs on shared machines where any threshold would flake.
"""

from __future__ import annotations

import pytest
from benchmarks import check


def test_benchmark_runs_and_shows_revocation_is_immediate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = check.main(["--iterations", "50", "--repeats", "2", "--sessions", "10"])

    output = capsys.readouterr().out
    assert code == 0, output
    for row in (
        "sessionjwt warm check, +10 sessions",
        "sessionjwt warm check, 1 session in memory",
        "PyJWT HS256 decode (baseline)",
        "PyJWT EdDSA decode of our token",
        "sessionjwt cold check (no verified cache)",
        "dict look-up",
        "warm check / PyJWT HS256 decode:",
        "target ≤ 0.25x:",
        "os.cpu_count()=",
        "12 stored and 12 warm",
        "sessionjwt warm API-key check, +10 sessions",
        "sessionjwt API-key check, SHA-256 each call",
        "warm API-key check:",
        "target ≤ 2.0 µs:",
    ):
        assert row in output, row
    assert "revocation seen by next check: yes" in output
    assert "revocation seen by the other instances' next checks: yes" in output


@pytest.mark.postgres
@pytest.mark.redis
def test_visibility_benchmark_counts_next_requests_after_returned_revokes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """benchmarks/visibility.py end to end, tiny: two instances, then two workers."""
    from benchmarks import visibility

    from tests import backends

    reason = backends.postgres_unavailable_reason() or backends.redis_unavailable_reason()
    if reason is not None:
        if backends.IN_CI:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)

    code = visibility.main(["--revokes", "8", "--instances", "2", "--cut-interval", "0.02"])

    output = capsys.readouterr().out
    assert code == 0, output
    for line in (
        "2 `sessionjwt serve` processes on one PostgreSQL database",
        "== healthy, 2 instances: ",
        "== cut, 2 instances, instance 1's Redis connections cut: ",
        "== workers, `serve --workers 2` on SQLite: ",
        "next requests accepted after the revoke returned: 0 of ",
        "baseline (warm GET /auth/me alone, same connection, just before): p50",
        "added by the revoke (revoke - baseline, per revoke): p50",
        "revoke / baseline, per revoke: p50",
        "healthy: accepted next requests 0 (target 0), added revoke latency p99",
        "cut: accepted next requests 0 (target 0): PASS",
        "workers: accepted next requests 0 (target 0), added revoke latency p99",
    ):
        assert line in output, line
    assert " 0 other" in output and "other e.g." not in output
