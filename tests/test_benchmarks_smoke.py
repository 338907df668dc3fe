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
        "11 stored and 11 warm",
    ):
        assert row in output, row
    assert "revocation seen by next check: yes" in output
    assert "revocation seen by the other instances' next checks: yes" in output
