"""Below the whistle, in Prometheus: where events are resolved (grid, community, street, or whistled), how long
they take, how often a tier passes them up, and the 12345 answers with their two indicators.

A consumer of its own (queue metrics.grid_events) mixed into MetricsService: grid events on `events` by type,
12345 answers on `hotline` (`answer.*`). Counters live in memory, like the service's other event counters;
labels are of bounded cardinality (street, tier, source, class), never an id."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.common.consumer import consume
from services.common.events import (EVENTS, HOTLINE, Event, GridEventClosed, GridEventOpened, GridEventPassedUp,
                                    GridEventReopened, GridEventWhistled, TicketAnswered)
from services.common.uow import UnitOfWork

# a minute to a day, then the nominal working-day marks (the tiers' handle deadlines are 1 to 3 working days)
TO_CLOSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 2 * 86400, 3 * 86400,
                    5 * 86400, 7 * 86400, 15 * 86400, 30 * 86400)

GRID_EVENTS_OPENED = Counter("chuishao_grid_events_opened_total", "Events opened below the whistle (网格事件)",
                             ["street", "source", "tier"])
GRID_EVENTS_OVER_CAP = Counter("chuishao_grid_events_over_daily_cap_total",
                               "Grid reports beyond the daily cap (南夏墅's rule, when switched on)", ["street"])
GRID_EVENTS_CLOSED = Counter("chuishao_grid_events_closed_total",
                             "Events closed, by where they were resolved (grid, community, street, whistle) and how",
                             ["street", "resolved_by", "outcome"])
GRID_EVENT_TO_CLOSE = Histogram("chuishao_grid_event_close_seconds", "Time from an event's report to its closure",
                                ["resolved_by"], buckets=TO_CLOSE_BUCKETS)
GRID_EVENTS_PASSED_UP = Counter("chuishao_grid_events_passed_up_total",
                                "Events passed up a tier, by hand or by the sweep on a missed deadline",
                                ["street", "from_tier", "automatic"])
GRID_EVENTS_WHISTLED = Counter("chuishao_grid_events_whistled_total",
                               "Events the street whistled (吹哨), and whether they joined an open whistle",
                               ["street", "linked"])
GRID_EVENTS_REOPENED = Counter("chuishao_grid_events_reopened_total", "Whistled events reopened with their whistle",
                               ["street"])
TICKETS_ANSWERED = Counter("chuishao_tickets_answered_total", "12345 tickets answered (办结), by class and deadline",
                           ["street", "hotline_class", "outcome", "on_time"])
TICKET_INDICATORS = Counter("chuishao_ticket_indicators_total",
                            "First answers of 12345 tickets against 24小时签收率 and 7日办结率",
                            ["street", "indicator", "met"])

GRID_EVENTS = (GridEventOpened, GridEventPassedUp, GridEventWhistled, GridEventClosed, GridEventReopened)
BINDINGS = (*((EVENTS, e.event_type) for e in GRID_EVENTS), (HOTLINE, "answer.*"))


def _flag(value: bool) -> str:
    return str(bool(value)).lower()


def observations(event: Event) -> list:
    """What to observe in Prometheus for one event."""
    if isinstance(event, GridEventOpened):
        found = [GRID_EVENTS_OPENED.labels(event.street_code, event.source, event.tier).inc]
        return found + ([GRID_EVENTS_OVER_CAP.labels(event.street_code).inc] if event.over_daily_cap else [])
    if isinstance(event, GridEventClosed):
        seconds = event.seconds_to_close
        return [GRID_EVENTS_CLOSED.labels(event.street_code, event.resolved_by, event.outcome).inc,
                lambda: GRID_EVENT_TO_CLOSE.labels(event.resolved_by).observe(seconds)]
    if isinstance(event, GridEventPassedUp):
        return [GRID_EVENTS_PASSED_UP.labels(event.street_code, event.from_tier, _flag(event.automatic)).inc]
    if isinstance(event, GridEventWhistled):
        return [GRID_EVENTS_WHISTLED.labels(event.street_code, _flag(event.linked)).inc]
    if isinstance(event, GridEventReopened):
        return [GRID_EVENTS_REOPENED.labels(event.street_code).inc]
    if isinstance(event, TicketAnswered):
        found = [TICKETS_ANSWERED.labels(event.street_code, event.hotline_class, event.outcome,
                                         _flag(event.on_time)).inc]
        if event.answer_no == 1:
            found += [TICKET_INDICATORS.labels(event.street_code, "signed_within_24h",
                                               _flag(event.signed_within_24h)).inc,
                      TICKET_INDICATORS.labels(event.street_code, "completed_within_7d",
                                               _flag(event.completed_within_7d)).inc]
        return found
    return []


def record(uow: UnitOfWork, events: list[Event]) -> None:
    """Observes each new event once its batch's tracking records have committed."""
    for event in events:
        for observe in observations(event):
            uow.after_commit(observe)


class GridFigures:
    """The tier figures' consumer, mixed into MetricsService."""

    @consume("metrics.grid_events", BINDINGS, (*GRID_EVENTS, TicketAnswered), batch=True)
    def on_grid_events(self, uow, events):
        record(uow, events)
