"""A load client that logs every answer, and the invariants judged on that log.

Threads against every instance of a cluster at once:

- *checkers*: ``GET /auth/me`` with a random session, live or revoked, on a random instance;
- a *revoker*: now and then ends a live session, by ``POST /auth/logout`` with its own token
  or ``DELETE /auth/sessions/{id}`` with a *controller* session of the same user (never
  revoked). A 503 is retried (always as the idempotent DELETE, which re-announces) until a
  2xx; the time that 2xx **returned** is what "after the revoke" means;
- a *churner*: logins (new sessions join the pool) and refreshes.

Every answer is an :class:`Answer`; transport errors are answers with status 0. Times are
``time.monotonic()`` of this process, so send and receive times compare across threads.
"""

from __future__ import annotations

import contextlib
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import httpx

from tests.cluster.harness import Cluster, error_code, register, unique_email
from tests.conftest import PASSWORD, bearer

REVOKE_EVERY_S = 0.25
CHURN_EVERY_S = 0.1
RETRY_PAUSE_S = 0.1
REVOKE_RETRY_LIMIT_S = 45.0  # a revoke still failing after this is a failure, not a wait
CLIENT_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str  # me, login, refresh, logout, delete
    instance: str
    session: str  # session id (for a login: the one it created, if any)
    sent: float
    received: float
    status: int  # 0: no HTTP answer (connection refused, time-out)
    error: str | None


@dataclass(slots=True)
class Session:
    id: str
    email: str
    access: str
    refresh: str
    controller: bool = False


@dataclass(slots=True)
class Revoke:
    session: str
    email: str
    started: float
    attempts: list[Answer] = field(default_factory=list)
    returned: float | None = None  # when the 2xx that completed it was received


class AnswerLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answers: list[Answer] = []

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


class Load:
    """The pool of sessions, the threads, and their log. Use as a context manager."""

    def __init__(self, cluster: Cluster, users: int = 3, sessions_per_user: int = 2) -> None:
        self.cluster = cluster
        self.names = [instance.name for instance in cluster.instances]
        self.log = AnswerLog()
        self.revokes: list[Revoke] = []
        self.logins: list[Answer] = []  # every login that answered 200
        self.problems: list[str] = []  # what a thread saw that no answer records
        self._lock = threading.Lock()
        self._live: dict[str, Session] = {}
        self._controllers: dict[str, Session] = {}  # by email
        self._ended: list[Session] = []  # revoke started (maybe not returned yet)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rng = random.Random(secrets.randbits(32))  # not for security
        self._setup(users, sessions_per_user)

    # -- set-up --------------------------------------------------------------------------

    def _setup(self, users: int, sessions_per_user: int) -> None:
        with self._clients() as clients:
            for _ in range(users):
                email = unique_email("faults")
                register(clients[0], email)
                controller = self._login(clients, email)
                assert controller is not None, "a set-up login failed"
                controller.controller = True
                self._controllers[email] = controller
                for _ in range(sessions_per_user):
                    session = self._login(clients, email)
                    assert session is not None, "a set-up login failed"
                    self._live[session.id] = session
            # Warm every session on every instance: while the store is down, memory answers.
            for session in [*self._controllers.values(), *self._live.values()]:
                for index in range(len(clients)):
                    answer = self._me(clients, index, session)
                    assert answer.status == 200, f"warm-up check failed: {answer}"

    # -- threads -------------------------------------------------------------------------

    def __enter__(self) -> Load:
        workers: list[Callable[[], None]] = [self._checker, self._checker]
        workers += [self._revoker, self._churner]
        for worker in workers:
            thread = threading.Thread(target=self._guarded(worker), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REVOKE_RETRY_LIMIT_S + CLIENT_TIMEOUT_S)
            if thread.is_alive():
                self.problems.append(f"thread {thread.name} did not stop")
        self._threads = []

    def serves_everything(self) -> bool:
        """One probe round, logged like the load: on every instance a login, a check of the
        new session on every instance, and a refresh all answer 200."""
        email = next(iter(self._controllers))
        with self._clients() as clients:
            for index in range(len(clients)):
                session = self._login(clients, email, index)
                if session is None:
                    return False
                if any(self._me(clients, i, session).status != 200 for i in range(len(clients))):
                    return False
                if not self._refresh(clients, session, index):
                    return False
        return True

    def refused_everywhere(self) -> list[Answer]:
        """After the load: every revoked session on every instance; the answers not 401."""
        with self._clients() as clients:
            answers = [
                self._me(clients, index, session)
                for session in self._ended
                for index in range(len(clients))
            ]
        return [answer for answer in answers if answer.status != 401]

    def _guarded(self, worker: Callable[..., None]) -> Callable[..., None]:
        def run(*args: object) -> None:
            try:
                worker(*args)
            except Exception as error:  # reported by the test, not lost in a thread
                self.problems.append(f"{worker.__name__} crashed: {error!r}")

        return run

    @contextlib.contextmanager
    def _clients(self) -> Iterator[list[httpx.Client]]:
        clients = [
            httpx.Client(base_url=i.base_url, timeout=CLIENT_TIMEOUT_S, trust_env=False)
            for i in self.cluster.instances
        ]
        try:
            yield clients
        finally:
            for client in clients:
                client.close()

    def _checker(self) -> None:
        with self._clients() as clients:
            while not self._stop.is_set():
                with self._lock:
                    pool = [*self._live.values(), *self._controllers.values()]
                    ended = list(self._ended)
                if ended and self._rng.random() < 0.4:
                    session = self._rng.choice(ended)
                else:
                    session = self._rng.choice(pool)
                self._me(clients, self._pick(len(clients)), session)

    def _revoker(self) -> None:
        """Starts a revoke every REVOKE_EVERY_S, each in its own thread: one that waits out
        an outage in its retries does not hold up the next."""
        running: list[threading.Thread] = []
        while not self._stop.wait(REVOKE_EVERY_S):
            with self._lock:
                candidates = [s for s in self._live.values() if not s.controller]
                if len(candidates) <= 1:
                    continue  # keep a live session or two for the checkers
                session = self._rng.choice(candidates)
                del self._live[session.id]
                self._ended.append(session)
            thread = threading.Thread(target=self._guarded(self._revoke), args=(session,))
            running.append(thread)
            thread.start()
        for thread in running:
            thread.join(timeout=REVOKE_RETRY_LIMIT_S + CLIENT_TIMEOUT_S)
            if thread.is_alive():
                self.problems.append("a revoke did not finish")

    def _churner(self) -> None:
        with self._clients() as clients:
            while not self._stop.wait(CHURN_EVERY_S):
                if self._rng.random() < 0.5:
                    email = self._rng.choice(list(self._controllers))
                    session = self._login(clients, email)
                    if session is not None:
                        with self._lock:
                            self._live[session.id] = session
                else:
                    with self._lock:
                        pool = [s for s in self._live.values() if not s.controller]
                    if pool:
                        self._refresh(clients, self._rng.choice(pool))

    # -- requests, each logged -----------------------------------------------------------

    def _pick(self, count: int) -> int:
        with self._lock:
            return self._rng.randrange(count)

    def _send(
        self,
        kind: str,
        clients: Sequence[httpx.Client],
        index: int,
        session: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: dict[str, str] | None = None,
    ) -> tuple[Answer, httpx.Response | None]:
        headers = bearer(token) if token is not None else None
        sent = time.monotonic()
        response: httpx.Response | None = None
        try:
            response = clients[index].request(method, path, headers=headers, json=body)
            status, error = response.status_code, error_code(response)
        except httpx.TransportError as failure:
            status, error = 0, type(failure).__name__
        answer = Answer(kind, self.names[index], session, sent, time.monotonic(), status, error)
        self.log.add(answer)
        return answer, response

    def _me(self, clients: Sequence[httpx.Client], index: int, session: Session) -> Answer:
        answer, _ = self._send(
            "me", clients, index, session.id, "GET", "/auth/me", token=session.access
        )
        return answer

    def _login(
        self, clients: Sequence[httpx.Client], email: str, index: int | None = None
    ) -> Session | None:
        body = {"email": email, "password": PASSWORD}
        index = self._pick(len(clients)) if index is None else index
        answer, response = self._send("login", clients, index, "", "POST", "/auth/login", body=body)
        if response is None or response.status_code != 200:
            return None
        pair = response.json()
        with self._lock:
            self.logins.append(
                Answer(
                    "login",
                    answer.instance,
                    pair["session_id"],
                    answer.sent,
                    answer.received,
                    200,
                    None,
                )
            )
        return Session(pair["session_id"], email, pair["access_token"], pair["refresh_token"])

    def _refresh(
        self, clients: Sequence[httpx.Client], session: Session, index: int | None = None
    ) -> bool:
        index = self._pick(len(clients)) if index is None else index
        body = {"refresh_token": session.refresh}
        _, response = self._send(
            "refresh", clients, index, session.id, "POST", "/auth/refresh", body=body
        )
        if response is not None and response.status_code == 200:
            pair = response.json()
            with self._lock:
                session.access, session.refresh = pair["access_token"], pair["refresh_token"]
            return True
        return False

    def _revoke(self, session: Session) -> None:
        with self._clients() as clients:
            self._revoke_until_done(clients, session)

    def _revoke_until_done(self, clients: Sequence[httpx.Client], session: Session) -> None:
        """Logout or DELETE, then DELETE (idempotent, re-announces) until a 2xx."""
        revoke = Revoke(session.id, session.email, time.monotonic())
        with self._lock:
            self.revokes.append(revoke)
            controller = self._controllers[session.email]
            logout = self._rng.random() < 0.5
        while time.monotonic() - revoke.started < REVOKE_RETRY_LIMIT_S:
            index = self._pick(len(clients))
            if logout:
                answer, _ = self._send(
                    "logout", clients, index, session.id, "POST", "/auth/logout",
                    token=session.access,
                )  # fmt: skip
            else:
                answer, _ = self._send(
                    "delete", clients, index, session.id, "DELETE",
                    f"/auth/sessions/{session.id}", token=controller.access,
                )  # fmt: skip
            logout = False
            revoke.attempts.append(answer)
            if 200 <= answer.status < 300:
                revoke.returned = answer.received
                return
            time.sleep(RETRY_PAUSE_S)


# -- judging the log ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the log shows; the test asserts on the lists and prints the counts."""

    requests: int
    checks: int
    revokes: int
    revokes_retried: int  # revokes whose first answer was not 2xx
    unfinished_revokes: list[Revoke]
    checks_after_revoke: int  # checks of a session sent after its revoke returned 2xx
    accepted_after_revoke: list[Answer]  # ... that answered 200
    misleading_401: list[Answer]  # a 401 for a check answered before any revoke started
    server_errors: list[Answer]  # 5xx other than 503
    unclear_503: list[Answer]  # 503 without code store_unavailable
    unanswered: list[Answer]  # no HTTP answer at all
    answered_503: int
    logins_ok: int
    refreshes_ok: int

    def summary(self) -> str:
        return (
            f"requests {self.requests} (checks {self.checks}, logins 200 {self.logins_ok}, "
            f"refreshes 200 {self.refreshes_ok}); revokes {self.revokes} "
            f"({self.revokes_retried} retried after 503, "
            f"{len(self.unfinished_revokes)} unfinished); "
            f"accepted-after-revoke {len(self.accepted_after_revoke)} "
            f"of {self.checks_after_revoke} checks sent after their revoke returned; "
            f"401 before any revoke {len(self.misleading_401)}; "
            f"5xx-non-503 {len(self.server_errors)}; 503 {self.answered_503} "
            f"({len(self.unclear_503)} without store_unavailable); "
            f"no answer {len(self.unanswered)}"
        )


def judge(load: Load) -> Verdict:
    answers = load.log.snapshot()
    returned: dict[str, float] = {
        r.session: r.returned for r in load.revokes if r.returned is not None
    }
    after_revoke = [
        a
        for a in answers
        if a.kind == "me" and a.session in returned and a.sent > returned[a.session]
    ]
    started = {r.session: r.started for r in load.revokes}
    misleading = [
        a
        for a in answers
        if a.kind == "me" and a.status == 401 and a.received < started.get(a.session, math.inf)
    ]
    return Verdict(
        requests=len(answers),
        checks=sum(1 for a in answers if a.kind == "me"),
        revokes=len(load.revokes),
        revokes_retried=sum(1 for r in load.revokes if len(r.attempts) > 1),
        unfinished_revokes=[r for r in load.revokes if r.returned is None],
        checks_after_revoke=len(after_revoke),
        accepted_after_revoke=[a for a in after_revoke if a.status == 200],
        misleading_401=misleading,
        server_errors=[a for a in answers if a.status >= 500 and a.status != 503],
        unclear_503=[a for a in answers if a.status == 503 and a.error != "store_unavailable"],
        unanswered=[a for a in answers if a.status == 0],
        answered_503=sum(1 for a in answers if a.status == 503),
        logins_ok=len(load.logins),
        refreshes_ok=sum(1 for a in answers if a.kind == "refresh" and a.status == 200),
    )


def last_503_after(answers: Sequence[Answer], since: float) -> float:
    """Seconds from ``since`` to the send time of the last 503 sent after it (0: none)."""
    sent = [a.sent for a in answers if a.status == 503 and a.sent >= since]
    return max(sent) - since if sent else 0.0
