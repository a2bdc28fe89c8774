"""An HTTP client reading from every service while the stream runs: what a street's browser or the district's
dashboard sees during faults, behind a load balancer that tries the next replica when one does not answer.

Each round reads one thing from each service (a whistle, its call-outs, its joint team, /metrics), for
whistles the streets have raised. A request goes to the service's replicas in turn, starting at the
next one each time: a replica that refuses the connection, resets it or does not answer in time is a
*connection error* and the next replica is tried (a replica being down is no error of the service);
a request no replica answered is *unanswered*. A response is counted by its status: 2xx, 4xx (a team
not assembled yet is a 404), and 5xx, which is always a failure. Only GETs: safe to send again."""
from __future__ import annotations

import random
import threading
from collections import Counter

import requests

from tests.chaos.traffic import Ledger

PATHS = {
    "whistle": "/api/v1/whistles/{whistle_id}",
    "dispatch": "/api/v1/whistles/{whistle_id}/callouts",
    "roster": "/api/v1/whistles/{whistle_id}/team",
    "metrics": "/metrics",
}


def auth_headers(stack) -> dict:
    """A service principal's bearer token where the stack issues them (tests/support/processes.Stack.bearer,
    once the services check tokens); none otherwise."""
    bearer = getattr(stack, "bearer", None)
    return bearer() if bearer else {}


class HttpPoller(threading.Thread):
    def __init__(self, stack, services=tuple(PATHS), pause: float = 0.05, timeout: float = 10.0):
        super().__init__(name="http-poller", daemon=True)
        self.stack = stack
        self.services = services
        self.pause = pause
        self.timeout = timeout
        self.stopping = threading.Event()
        self.ledger: Ledger | None = None
        self.turn = Counter()                 # service -> requests sent, to rotate over its replicas
        self.statuses: dict[str, Counter] = {s: Counter() for s in services}   # service -> "2xx"... -> count
        self.connection_errors = Counter()    # service -> attempts a replica did not answer
        self.unanswered = Counter()           # service -> requests no replica answered
        self.server_errors: list[str] = []    # examples: service, URL, status, body
        self.error: BaseException | None = None

    def start(self, ledger: Ledger | None = None) -> None:   # noqa: D102 - Observer.start
        self.ledger = ledger
        super().start()

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(self.timeout * 2)

    def run(self):
        try:
            while not self.stopping.is_set():
                whistle_id = self._a_whistle()
                if whistle_id is None:
                    self.stopping.wait(0.5)
                    continue
                for service in self.services:
                    self.get(service, PATHS[service].format(whistle_id=whistle_id))
                self.stopping.wait(self.pause)
        except BaseException as exc:  # noqa: BLE001 - reported as a problem
            self.error = exc

    def _a_whistle(self) -> str | None:
        with self.ledger.lock:
            raised = list(self.ledger.outcomes_raised.values())
        raised = [w for w in raised if w]
        return random.choice(raised) if raised else None

    def get(self, service: str, path: str) -> None:
        urls = self.stack.urls(service)
        first = self.turn[service] % len(urls)
        self.turn[service] += 1
        for base in urls[first:] + urls[:first]:
            try:
                response = requests.get(base + path, headers=auth_headers(self.stack), timeout=(2.0, self.timeout))
            except requests.RequestException:
                self.connection_errors[service] += 1
                continue
            status = f"{response.status_code // 100}xx"
            self.statuses[service][status] += 1
            if response.status_code >= 500 and len(self.server_errors) < 20:
                self.server_errors.append(f"{service} {base}{path} {response.status_code} {response.text[:200]}")
            return
        self.unanswered[service] += 1

    # ------------------------------------------------------------------ Observer
    def figures(self) -> dict:
        out = {}
        for service in self.services:
            answered = self.statuses[service]
            out[f"HTTP {service}: requests answered (2xx / 4xx / 5xx)"] = (
                f"{answered['2xx']} / {answered['4xx']} / {answered['5xx']}")
            out[f"HTTP {service}: connection errors (retried on another replica) / unanswered"] = (
                f"{self.connection_errors[service]} / {self.unanswered[service]}")
        return out

    def problems(self) -> list[str]:
        found = []
        if self.error is not None:
            found.append(f"the HTTP poller failed: {self.error!r}")
        five = {s: c["5xx"] for s, c in self.statuses.items() if c["5xx"]}
        if five:
            found.append(f"HTTP 5xx answers {five}: {self.server_errors[:5]}")
        if sum(self.unanswered.values()):
            found.append(f"HTTP requests no replica answered: {dict(self.unanswered)}")
        if not all(c["2xx"] for c in self.statuses.values()):
            found.append(f"a service never answered 2xx: { {s: dict(c) for s, c in self.statuses.items()} }")
        return found
