"""Dispatch's use cases run as its entrypoints run them, for tests without a broker or nameko.

Each call is one unit of work on the given database (no relay: what dispatch would publish stays in
its outbox, where tests read it); a consumed event is deduplicated by its tracking record under the
consumer's name, as the bus entrypoint does."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import sessionmaker

from services.common.events import Event
from services.common.reference import ReferenceData
from services.common.uow import Store
from services.dispatch import handlers
from services.dispatch import repository as repo
from services.common.areas import AreaMap
from services.dispatch.deadlines import IsWorkday
from services.dispatch.orm import platform
from services.dispatch.rules import Rules

WHISTLES, ROUNDS = "dispatch.whistles", "dispatch.rounds"


class DispatchDriver:
    def __init__(self, factory: sessionmaker, reference: ReferenceData, is_workday: IsWorkday,
                 areas: AreaMap | None = None):
        self.store = Store(platform, relay=False).attach(factory.kw["bind"])
        self.rules = Rules(reference, is_workday, areas)

    @property
    def matrix(self):
        return self.rules.matrix

    def _run(self, now: datetime, use_case, *args):
        with self.store.unit_of_work(now) as uow:
            return use_case(uow, self.rules, *args)

    def _consume(self, now: datetime, consumer: str, event: Event, use_case):
        with self.store.unit_of_work(now) as uow:
            if not self.store.first_time(uow, consumer, [event]):
                return None
            return use_case(uow, event)

    def store_matrix(self, now: datetime) -> str:
        return self._run(now, handlers.store_matrix)

    def on_whistle_raised(self, event, now: datetime, consumer: str = WHISTLES) -> int:
        return self._consume(now, consumer, event,
                             lambda uow, e: handlers.on_whistle_raised(uow, self.rules, e)) or 0

    def new_round(self, event, now: datetime, consumer: str = ROUNDS) -> int:
        return self._consume(now, consumer, event, lambda uow, e: handlers.new_round(uow, self.rules, e)) or 0

    def on_whistle_closed(self, event, now: datetime, consumer: str = ROUNDS) -> None:
        self._consume(now, consumer, event, handlers.on_whistle_closed)

    def report(self, report, now: datetime, by=None):
        return self._run(now, handlers.report, report, by)

    def add_department(self, command, now: datetime, by=None) -> str:
        return self._run(now, handlers.add_department, command, by)

    def decide_arbitration(self, command, now: datetime, by=None) -> dict:
        return self._run(now, handlers.decide_arbitration, command, by)

    def sweep(self, now: datetime, limit: int = 500) -> int:
        return self._run(now, handlers.sweep, limit)

    def callouts_of(self, whistle_id: str) -> list[dict]:
        with self.store.unit_of_work() as uow:
            return handlers.callouts_of(uow.conn, whistle_id)

    def case_of(self, whistle_id: str) -> dict | None:
        with self.store.unit_of_work() as uow:
            return repo.case_dict(uow.conn, whistle_id)

    def open_arbitrations(self) -> list[dict]:
        with self.store.unit_of_work() as uow:
            return repo.open_arbitrations(uow.conn)

    def overdue(self, now: datetime) -> list[dict]:
        with self.store.unit_of_work(now) as uow:
            return repo.overdue(uow.conn, now)
