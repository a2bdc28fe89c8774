"""The demo load against running services: streets raise whistles over HTTP, every department answers
its call-outs (and its officers their joint-team assignments) over the bus with the department client,
streets close (or send back) and record follow-ups, the district decides arbitrations; a rich progress
bar shows how far it got.

Each actor is a thread of its own: one per department (a DepartmentClient owns one connection),
one for the streets, one for the district. What each does is drawn by services/demo/plan.py.
"""
from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

import requests

from services.common.reference import DEFAULT_PATH, ReferenceData
from services.demo import plan
from services.common.events import OfficerAssigned
from services.department_client.client import DepartmentClient, MemberRejected, ReportRejected, ReportTimeout

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
TIMEOUT = 10.0


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Config:
    whistle_url: str
    dispatch_url: str
    amqp_uri: str
    namespace: str = ""
    whistles: int = 60
    rate: float = 1.0                         # whistles raised per second
    horizon: timedelta = timedelta(minutes=2)  # the longest a department takes over a step
    linger: float = 180.0                     # seconds to keep answering after the last whistle
    seed: int = 15
    run: str = field(default_factory=lambda: f"demo-{int(time.time())}")
    mix: plan.Mix = plan.Mix()
    tokens: dict[str, str] = field(default_factory=dict)     # "street:<code>", "district" -> bearer token


class Tally:
    """What happened, counted across the actors' threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self.raised: dict[str, dict] = {}          # whistle id -> its request body
        self.closed: set[str] = set()              # closed, and not reopened since
        self.stuck: set[str] = set()               # a department will never answer one of its call-outs

    def add(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] += n

    def whistle(self, whistle_id: str, body: dict) -> None:
        with self._lock:
            self.raised[whistle_id] = body

    def close(self, whistle_id: str, closed: bool = True) -> None:
        with self._lock:
            (self.closed.add if closed else self.closed.discard)(whistle_id)

    def stick(self, whistle_id: str) -> None:
        with self._lock:
            self.stuck.add(whistle_id)

    def settled(self) -> bool:
        """Every whistle closed (and followed up), or held up by a department that will never answer."""
        with self._lock:
            return set(self.raised) <= self.closed | self.stuck and self.counts["follow-ups"] >= self.counts["closed"]

    def street_of(self, whistle_id: str) -> Optional[str]:
        with self._lock:
            body = self.raised.get(whistle_id)
        return body["street_code"] if body else None


class Http:
    def __init__(self, config: Config):
        self.config = config
        self.session = requests.Session()

    def _headers(self, principal: str) -> dict:
        token = self.config.tokens.get(principal)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, principal: str, **params) -> dict:
        answer = self.session.get(url, params=params, headers=self._headers(principal), timeout=TIMEOUT)
        answer.raise_for_status()
        return answer.json()

    def post(self, url: str, principal: str, body: dict) -> requests.Response:
        return self.session.post(url, json=body, headers=self._headers(principal), timeout=TIMEOUT)


class Actor(threading.Thread):
    """A thread that runs `step()` until stopped, and does its scheduled acts when they fall due."""

    def __init__(self, name: str, stop: threading.Event, tally: Tally):
        super().__init__(name=name, daemon=True)
        self.stop_event, self.tally = stop, tally
        self._due: list = []
        self._order = itertools.count()
        self.failure: Optional[BaseException] = None

    def busy(self) -> bool:
        return bool(self._due)

    def schedule(self, at: datetime, act: Callable[[], None]) -> None:
        heapq.heappush(self._due, (at, next(self._order), act))

    def run_due(self) -> None:
        while self._due and self._due[0][0] <= now():
            _, _, act = heapq.heappop(self._due)
            try:
                act()
            except (requests.RequestException, ReportTimeout) as exc:
                self.tally.add("errors")
                log.warning("%s: %s", self.name, exc)

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                self.step()
                self.run_due()
        except BaseException as exc:  # noqa: BLE001 - reported by the driver, which stops the run
            self.failure = exc
            log.exception("%s stopped", self.name)

    def step(self) -> None:
        self.stop_event.wait(POLL_SECONDS)


class DepartmentDesk(Actor):
    """One department's duty desk: takes its call-outs off its queue and reports on each in time (or not)."""

    def __init__(self, code: str, config: Config, stop: threading.Event, tally: Tally, rnd: random.Random):
        super().__init__(f"department {code}", stop, tally)
        self.code, self.config, self.rnd = code, config, rnd
        self.client: Optional[DepartmentClient] = None

    def run(self) -> None:
        with DepartmentClient(self.config.amqp_uri, self.code, self.config.namespace, timeout=TIMEOUT) as client:
            self.client = client
            super().run()

    def step(self) -> None:
        for callout in self.client.callouts(timeout=0.3):
            self.tally.add("call-outs received")
            acts = plan.department_acts(callout, self.rnd, self.config.mix, self.config.horizon)
            if not acts:
                self.tally.add("call-outs never answered")
                self.tally.stick(callout.whistle_id)
            for act in acts:
                self.schedule(act.at, lambda act=act: self.report(act))
            self.run_due()
            if self.stop_event.is_set():
                return
        for assignment in self.client.assignments(timeout=0.1):
            if isinstance(assignment, OfficerAssigned):          # replacements and releases need no answer
                at = plan.member_check_in_at(assignment, self.rnd, self.config.mix, self.config.horizon)
                if at is not None:
                    self.schedule(at, lambda a=assignment: self.member_check_in(a))
            self.run_due()
            if self.stop_event.is_set():
                return

    def member_check_in(self, assignment: OfficerAssigned) -> None:
        try:
            self.client.member_check_in(assignment.team_id, assignment.officer.officer_code,
                                        note="队员已到场")
            self.tally.add("member check-ins")
        except MemberRejected:
            self.tally.add("reports refused")       # e.g. the team was released meanwhile

    def report(self, act: plan.Act) -> None:
        send = {"checkin": self.client.check_in, "arrival": self.client.arrive, "completion": self.client.complete,
                "return": self.client.return_callout}[act.action]
        try:
            send(act.callout_id, **act.fields)
            self.tally.add(f"{act.action} reports")
        except ReportRejected:
            self.tally.add("reports refused")       # e.g. the whistle was closed meanwhile


class Streets(Actor):
    """The street offices: close (销号) or send back what every department completed, then follow up (回访)."""

    def __init__(self, reference: ReferenceData, config: Config, stop: threading.Event, tally: Tally,
                 rnd: random.Random):
        super().__init__("streets", stop, tally)
        self.reference, self.config, self.rnd = reference, config, rnd
        self.http = Http(config)
        self.judged: set[tuple[str, int]] = set()

    def step(self) -> None:
        base = f"{self.config.whistle_url}/api/v1/whistles"
        for street in self.reference.streets:
            answer = self.http.get(base, f"street:{street.code}", street=street.code, status="all_completed", limit=200)
            for w in answer["whistles"]:
                key = (w["id"], w["round"])
                if w["id"] not in self.tally.raised or key in self.judged:
                    continue
                self.judged.add(key)
                self.judge(street.code, w)
        self.stop_event.wait(POLL_SECONDS)

    def judge(self, street: str, w: dict) -> None:
        verdict = plan.street_verdict(self.rnd, self.config.mix, w["round"])
        url = f"{self.config.whistle_url}/api/v1/whistles/{w['id']}"
        principal = f"street:{street}"
        if not verdict.accept:
            answer = self.http.post(f"{url}/send-back", principal, {
                "whistle_id": w["id"], "street_code": street, "by": f"{street} 街道办",
                "reason": "现场仍有遗留问题，请重新处置"})
            self.tally.add("sent back" if answer.ok else "street requests refused")
            _refused(answer)
            return
        answer = self.http.post(f"{url}/closure", principal, {
            "whistle_id": w["id"], "street_code": street, "confirmed_by": f"{street} 街道办",
            "evidence": {"before_photo": "photo://before", "after_photo": "photo://after",
                         "checklist": ["问题已整改", "现场已清理"]}})
        if not answer.ok:
            self.tally.add("street requests refused")
            _refused(answer)
            return
        self.tally.add("closed")
        self.tally.close(w["id"])
        at = now() + timedelta(seconds=self.rnd.uniform(0.5, 3))
        self.schedule(at, lambda: self.follow_up(url, principal, w["id"], verdict))

    def follow_up(self, url: str, principal: str, whistle_id: str, verdict: plan.Verdict) -> None:
        answer = self.http.post(f"{url}/follow-up", principal, {
            "whistle_id": whistle_id, "rating": verdict.rating, "reopen": verdict.reopen,
            "comment": "问题没有彻底解决" if verdict.rating == "unsatisfied" else None, "recorded_by": "回访员"})
        if answer.ok:
            self.tally.add("follow-ups")
            if verdict.reopen:
                self.tally.add("reopened")
                self.tally.close(whistle_id, closed=False)
        else:
            self.tally.add("street requests refused")
            _refused(answer)


class DistrictDesk(Actor):
    """District staff: decide each open arbitration, mostly in time."""

    def __init__(self, reference: ReferenceData, config: Config, stop: threading.Event, tally: Tally,
                 rnd: random.Random):
        super().__init__("district", stop, tally)
        self.reference, self.config, self.rnd = reference, config, rnd
        self.http = Http(config)
        self.seen: set[str] = set()

    def step(self) -> None:
        answer = self.http.get(f"{self.config.dispatch_url}/api/v1/arbitrations", "district")
        for a in answer["arbitrations"]:
            if a["arbitration_id"] in self.seen or a["whistle_id"] not in self.tally.raised:
                continue
            self.seen.add(a["arbitration_id"])
            self.tally.add("arbitrations")
            ruling = plan.district_ruling({**a, "street_code": self.tally.street_of(a["whistle_id"])},
                                          self.reference, self.rnd, now(), self.config.mix)
            self.schedule(ruling.at, lambda a=a, ruling=ruling: self.decide(a, ruling))
        self.stop_event.wait(POLL_SECONDS)

    def decide(self, a: dict, ruling: plan.Ruling) -> None:
        answer = self.http.post(f"{self.config.dispatch_url}/api/v1/arbitrations/{a['arbitration_id']}/decision",
                                "district", {"arbitration_id": a["arbitration_id"], "decided_by": "区城管委 值班员",
                                             "grid_code": ruling.grid_code, "department_code": ruling.department_code,
                                             "note": "经现场核查确定"})
        self.tally.add("arbitrations decided" if answer.ok else "district requests refused")
        _refused(answer)


def _refused(answer: requests.Response) -> None:
    if not answer.ok:
        log.warning("%s %s answered %s: %s", answer.request.method, answer.request.url, answer.status_code,
                    answer.text[:500])


def grid_points(reference_path: Path, reference: ReferenceData) -> dict[str, tuple[float, float]]:
    if not reference.areas:
        return {}
    path = Path(reference.areas)
    path = path if path.is_absolute() else reference_path.parent / path
    return plan.grid_points(json.loads(path.read_text(encoding="utf-8")))


def run(config: Config, reference: ReferenceData, reference_path: Path = DEFAULT_PATH,
        progress: Optional[Callable[[str, int], None]] = None) -> Tally:
    """Raises `config.whistles` whistles at `config.rate` per second while every actor answers; then keeps
    answering until every whistle is closed (or stuck: one of its departments never answers) and nobody
    has anything left to do, or `config.linger` seconds have passed. `progress(what, n)` is told
    "raised", "closed" and "stuck" as they happen (closed can go back: a reopened case), and "whistles",
    how many were raised (not joined to an open one), once the last is."""
    tally, stop = Tally(), threading.Event()
    seeds = random.Random(config.seed)
    actors: list[Actor] = [DepartmentDesk(d.code, config, stop, tally, random.Random(seeds.random()))
                           for d in reference.departments]
    actors += [Streets(reference, config, stop, tally, random.Random(seeds.random())),
               DistrictDesk(reference, config, stop, tally, random.Random(seeds.random()))]
    for actor in actors:
        actor.start()
    http = Http(config)
    district = plan.District(reference, grid_points(reference_path, reference), random.Random(seeds.random()),
                             config.mix, config.run)
    tell = progress or (lambda what, n: None)
    try:
        start = time.monotonic()
        for n in range(config.whistles):
            _check(actors)
            time.sleep(max(0.0, start + n / config.rate - time.monotonic()))
            whistle = district.next()
            street = whistle.body["street_code"]
            answer = http.post(f"{config.whistle_url}/api/v1/whistles", f"street:{street}", whistle.body)
            if answer.status_code != 201:
                raise RuntimeError(f"the whistle service answered {answer.status_code}: {answer.text[:300]}")
            body = answer.json()
            tally.add("linked" if body.get("linked_to") else "raised")
            if not body.get("linked_to"):
                tally.whistle(body["whistle_id"], whistle.body)
            tell("raised", 1)
        tell("whistles", len(tally.raised))
        told = Counter()
        quiet, until = 0, time.monotonic() + config.linger
        while time.monotonic() < until and quiet < 3:
            _check(actors)
            for what, now_ in (("closed", len(tally.closed)), ("stuck", len(tally.stuck))):
                tell(what, now_ - told[what])
                told[what] = now_
            quiet = quiet + 1 if tally.settled() and not any(a.busy() for a in actors) else 0
            time.sleep(1.0)
    finally:
        stop.set()
        for actor in actors:
            actor.join(timeout=30)
    return tally


def _check(actors: list[Actor]) -> None:
    failed = next((a for a in actors if a.failure is not None), None)
    if failed is not None:
        raise RuntimeError(f"{failed.name} stopped: {failed.failure}") from failed.failure
