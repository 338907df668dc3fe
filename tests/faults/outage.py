"""One outage under load, the same for every server: run the load, take the server away for
a while, bring it back, wait until everything is served again, judge the whole log."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tests.cluster.harness import Cluster
from tests.faults.load import Load, Verdict, judge, last_503_after
from tests.faults.rows import Lost, lost_rows

BEFORE_S = 1.5  # load on a healthy cluster first
OUTAGE_S = 2.0
AFTER_S = 1.5  # load on the recovered cluster
RECOVERY_BOUND_S = 5.0  # from "server back" to logins, checks and refreshes served again
RECOVERY_GIVE_UP_S = 30.0  # past the bound: keep probing only to say how late it was


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    lost: Lost
    down_s: float  # from the start of the stop to the server answering again
    recovery_s: float  # from the server answering again to a full probe round of 200s
    last_503_s: float  # from the server answering again to the last 503 sent
    still_accepted: list[str]  # revoked sessions not refused on the final sweep
    while_down: dict[str, int]  # "kind status" -> answers to requests sent during the outage

    def report(self, what: str) -> str:
        return (
            f"\n{what}: down {self.down_s:.2f} s; recovered {self.recovery_s:.2f} s after "
            f"the restart (last 503 sent {self.last_503_s:.2f} s after it); "
            f"{self.verdict.summary()}; rows lost {self.lost.count()}; answers to requests "
            f"sent while down: {dict(sorted(self.while_down.items()))}"
        )


def run_outage(
    cluster: Cluster, dsn: str, take_down: Callable[[], None], bring_back: Callable[[], None]
) -> Outcome:
    load = Load(cluster)
    with load:
        time.sleep(BEFORE_S)
        went_down = time.monotonic()
        take_down()
        down = time.monotonic()
        time.sleep(OUTAGE_S)
        coming_back = time.monotonic()
        bring_back()
        back = time.monotonic()
        while not load.serves_everything():
            if time.monotonic() - back > RECOVERY_GIVE_UP_S:
                break
            time.sleep(0.1)
        recovery_s = time.monotonic() - back
        time.sleep(AFTER_S)
    assert not load.problems, load.problems
    still_accepted = [f"{a.session} on {a.instance}: {a.status}" for a in load.refused_everywhere()]
    answers = load.log.snapshot()
    while_down = Counter(f"{a.kind} {a.status}" for a in answers if down <= a.sent <= coming_back)
    return Outcome(
        verdict=judge(load),
        lost=lost_rows(dsn, load),
        down_s=back - went_down,
        recovery_s=recovery_s,
        last_503_s=last_503_after(answers, back),
        still_accepted=still_accepted,
        while_down=dict(while_down),
    )


def assert_invariants(outcome: Outcome) -> None:
    verdict = outcome.verdict
    assert verdict.answered_503 > 0, "the outage was never felt: no 503 at all"
    assert verdict.revokes_retried > 0, "no revoke met the outage: none answered 503 first"
    assert not verdict.server_errors, f"5xx other than 503: {verdict.server_errors[:5]}"
    assert not verdict.misleading_401, (
        f"401 for sessions nobody revoked (a store outage must never log anyone out): "
        f"{verdict.misleading_401[:5]}"
    )
    assert not verdict.unclear_503, f"503 without store_unavailable: {verdict.unclear_503[:5]}"
    assert not verdict.unanswered, f"requests with no HTTP answer: {verdict.unanswered[:5]}"
    assert verdict.checks_after_revoke > 0, "no revoked session was checked after its revoke"
    assert not verdict.accepted_after_revoke, (
        f"revoked sessions accepted after the revoke returned: {verdict.accepted_after_revoke[:5]}"
    )
    assert not verdict.unfinished_revokes, (
        f"revokes never answered 2xx: {[r.attempts[-3:] for r in verdict.unfinished_revokes][:3]}"
    )
    assert not outcome.still_accepted, f"revoked but not refused: {outcome.still_accepted[:5]}"
    assert outcome.recovery_s <= RECOVERY_BOUND_S, (
        f"not everything served again {RECOVERY_BOUND_S:g} s after the restart "
        f"(took {outcome.recovery_s:.2f} s)"
    )
    assert outcome.last_503_s <= RECOVERY_BOUND_S, (
        f"a 503 for a request sent {outcome.last_503_s:.2f} s after the restart"
    )
    assert outcome.lost.count() == 0, f"acknowledged writes missing: {outcome.lost}"
