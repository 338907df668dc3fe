"""The enumeration-timing benchmark runs end to end, tiny. No timing is asserted."""

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
    assert "5 tries each" in output
    assert "target < 5%" in output
