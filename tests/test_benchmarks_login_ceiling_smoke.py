"""The login-ceiling benchmark still runs end to end, tiny (no figure is asserted but the
real user's: the known-device cookie must let them in at once)."""

from __future__ import annotations

import pytest
from benchmarks import login_ceiling


def test_benchmark_runs_and_the_known_device_waits_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert login_ceiling.main(["--addresses", "3", "--hours", "1"]) == 0
    output = capsys.readouterr().out
    assert "3 rotating addresses: guesses reaching argon2:" in output
    assert "known-device cookie, 0 s with it" in output
