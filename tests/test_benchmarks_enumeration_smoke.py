"""The enumeration-timing benchmark (logins, then password resets) runs end to end, tiny. No
timing is asserted."""

from __future__ import annotations

import pytest
from benchmarks import enumeration


def test_enumeration_benchmark_prints_both_medians_and_the_difference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert enumeration.main(["--tries", "5", "--warmup", "2", "--cheap-argon2"]) == 0
    output = capsys.readouterr().out
    for row in ("known email   median", "unknown email median", "difference of medians:"):
        assert row in output, output
        assert f"reset {row}" in output, output  # password reset, after the logins
    assert output.count("5 tries each") == 2
    assert output.count("target < 5%") == 2
