"""Disabling an account from the CLI (another process) while every instance is under load.

One thread per instance sends ``GET /auth/me`` with the account's token back to back, and
records for each exchange when it was started (before httpx wrote a byte, so never later than
the real send) and when its answer was read. The CLI's exit time is taken after
``subprocess.run`` returned (so never earlier than the real exit). Any 200 for a request started
after that moment is a request sent after the disable returned and accepted anyway: a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.cluster.harness import (
    Cluster,
    error_code,
    login,
    me,
    register,
    unique_email,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WARM_ANSWERS = 5  # 200s per instance before the CLI runs
AFTER_EXIT_ANSWERS = 20  # answers per instance to requests started after the CLI exited
DEADLINE_S = 30.0
PAUSE_S = 0.002  # between requests: leave CPU for the CLI process on a small machine


@dataclass(frozen=True, slots=True)
class Exchange:
    instance: str
    started: float
    received: float
    status: int  # 0: no HTTP answer at all
    error: str | None


class Prober(threading.Thread):
    """Sends ``GET /auth/me`` to one instance until told to stop, on a client of its own."""

    def __init__(self, name: str, base_url: str, token: str, stop: threading.Event) -> None:
        super().__init__(name=f"prober-{name}", daemon=True)
        self.instance = name
        self._base_url = base_url
        self._token = token
        self._halt = stop
        self.exchanges: list[Exchange] = []

    def run(self) -> None:
        with httpx.Client(base_url=self._base_url, timeout=15.0, trust_env=False) as client:
            while not self._halt.is_set():
                started = time.monotonic()
                try:
                    response = me(client, self._token)
                    status, error = response.status_code, error_code(response)
                except httpx.HTTPError as failure:
                    status, error = 0, repr(failure)
                self.exchanges.append(
                    Exchange(self.instance, started, time.monotonic(), status, error)
                )
                time.sleep(PAUSE_S)

    def count(self, *, after: float = float("-inf"), status: int | None = None) -> int:
        return sum(
            1
            for exchange in list(self.exchanges)
            if exchange.started > after and (status is None or exchange.status == status)
        )


def wait_for(condition: str, predicate: Callable[[], bool], deadline: float) -> None:
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


def test_cli_disable_is_refused_by_every_instance_for_every_request_sent_after_it_returned(
    cluster: Cluster,
) -> None:
    a, _, c = cluster.clients
    email = unique_email("disable")
    register(a, email)
    token = login(c, email)["access_token"]

    stop = threading.Event()
    probers = [Prober(i.name, i.base_url, token, stop) for i in cluster.instances]
    deadline = time.monotonic() + DEADLINE_S
    try:
        for prober in probers:
            prober.start()
        wait_for(
            "every instance to answer 200 under load",
            lambda: all(p.count(status=200) >= WARM_ANSWERS for p in probers),
            deadline,
        )

        cli_started = time.monotonic()
        result = cluster.cli("users", "disable", email)
        cli_exited = time.monotonic()
        assert result.returncode == 0, result.stderr
        assert f"disabled {email}" in result.stdout

        wait_for(
            "answers to requests sent after the CLI exited",
            lambda: all(p.count(after=cli_exited) >= AFTER_EXIT_ANSWERS for p in probers),
            deadline,
        )
    finally:
        stop.set()
        for prober in probers:
            prober.join(timeout=20)

    exchanges = sorted((e for p in probers for e in p.exchanges), key=lambda e: e.started)
    no_answer_or_5xx = [e for e in exchanges if e.status == 0 or e.status >= 500]
    assert not no_answer_or_5xx, f"failed exchanges: {no_answer_or_5xx[:5]}"
    unexpected = [
        e for e in exchanges if (e.status, e.error) not in ((200, None), (401, "account_disabled"))
    ]
    assert not unexpected, f"answers other than 200 or 401 account_disabled: {unexpected[:5]}"
    refused_before = [e for e in exchanges if e.received < cli_started and e.status != 200]
    assert not refused_before, f"refused before the CLI even started: {refused_before[:5]}"
    accepted_after = [e for e in exchanges if e.started > cli_exited and e.status == 200]
    late = [(e.instance, round(e.started - cli_exited, 4)) for e in accepted_after[:5]]
    assert not accepted_after, (
        f"{len(accepted_after)} requests sent after `sessionjwt users disable` exited were "
        f"accepted (instance, seconds after the exit): {late}"
    )
    for prober in probers:
        refused = prober.count(after=cli_exited, status=401)
        assert refused >= AFTER_EXIT_ANSWERS, (prober.instance, refused)

    # The last 200 each instance gave, relative to the CLI's exit (negative: before it).
    last_accepted = {
        p.instance: max((e.received for e in p.exchanges if e.status == 200), default=0.0)
        - cli_exited
        for p in probers
    }
    print(
        f"\ndisable via CLI: CLI ran {cli_exited - cli_started:.2f} s; "
        f"{len(exchanges)} exchanges; last 200 received relative to CLI exit: "
        + ", ".join(f"{name} {delta * 1000:+.1f} ms" for name, delta in last_accepted.items())
    )
