"""Planned joint operations (常态化联合执法): RRULE occurrences in local time, checks, and their cases."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.events import ContractError, parse
from services.roster.operations import JointOperation, check_operation, due, occurrences, operation_case
from tests.unit.roster_samples import CODES, SHANGHAI, UTC, local

BODY = dict(code="dust-weekly", name_zh="扬尘联合检查", name_en="Dust inspection", organiser="district",
            category="construction_dust", lead="shengtai", support=["zhujian", "chengguan"],
            starts="2025-01-08T09:00:00", recurrence="FREQ=WEEKLY;BYDAY=WE", duration="2h")


def operation(**more) -> JointOperation:
    return JointOperation.model_validate({**BODY, **more})


def test_weekly_occurrences_at_local_nine_with_stable_ids():
    found = occurrences(operation(), local(SHANGHAI, 2025, 2, 24), local(SHANGHAI, 2025, 3, 10))
    assert [(o.occurrence_id, o.start, o.end) for o in found] == [
        ("dust-weekly-20250226T0900", local(SHANGHAI, 2025, 2, 26, 9), local(SHANGHAI, 2025, 2, 26, 11)),
        ("dust-weekly-20250305T0900", local(SHANGHAI, 2025, 3, 5, 9), local(SHANGHAI, 2025, 3, 5, 11)),
    ]


def test_monthly_first_monday_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    op = operation(time_zone="Europe/Berlin", starts="2025-01-06T09:00:00", recurrence="FREQ=MONTHLY;BYDAY=1MO")
    found = occurrences(op, local(berlin, 2025, 3, 1), local(berlin, 2025, 5, 1))
    assert [o.start.astimezone(berlin).strftime("%m-%d %H:%M") for o in found] == ["03-03 09:00", "04-07 09:00"]
    assert found[1].start - found[0].start == timedelta(days=35, hours=-1)       # summer time in between


def test_an_occurrence_in_progress_overlaps_but_is_not_due():
    op = operation()
    during = local(SHANGHAI, 2025, 3, 5, 10)
    assert [o.occurrence_id for o in occurrences(op, during, during + timedelta(minutes=1))] == [
        "dust-weekly-20250305T0900"]
    assert [o.occurrence_id for o in due(op, during, timedelta(days=8))] == ["dust-weekly-20250312T0900"]
    assert due(operation(active=False), during, timedelta(days=8)) == ()


def test_an_operation_becomes_a_planned_case_starting_at_the_occurrence():
    op = operation(organiser="daxigou", street="daxigou", community="daxigou-c1")
    occurrence = due(op, local(SHANGHAI, 2025, 3, 1), timedelta(days=7))[0]
    case = operation_case(op, occurrence)
    assert (case.kind, case.ref, case.operation, case.urgency, case.street, case.community, case.starts_at) == (
        "operation", occurrence.occurrence_id, "dust-weekly", "planned", "daxigou", "daxigou-c1", occurrence.start)
    assert operation_case(operation(organiser="nanxiashu"), occurrence).street == "nanxiashu"
    assert operation_case(operation(), occurrence).street is None


def test_the_shipped_kind_of_operation_checks_clean():
    assert check_operation(operation(), CODES) == []


@pytest.mark.parametrize("more, fields", [
    (dict(organiser="atlantis"), ["organiser"]),
    (dict(category="flying"), ["category"]),
    (dict(lead="nosuch", support=["zhujian", "ghost"]), ["lead", "support.1"]),
    (dict(support=["shengtai"]), ["support"]),
    (dict(street="daxigou", community="nanxiashu-c1"), ["street"]),
    (dict(organiser="daxigou", street="nanxiashu"), ["street"]),
    (dict(grid="daxigou-c9-g9"), ["grid"]),
])
def test_bad_operations_name_their_fields(more, fields):
    assert [e.field for e in check_operation(operation(**more), CODES)] == fields


@pytest.mark.parametrize("more, field", [
    (dict(recurrence="FREQ=SOMETIMES"), "recurrence"),
    (dict(recurrence="DTSTART:20250101T000000\nRRULE:FREQ=DAILY"), "recurrence"),
    (dict(duration="0m"), "duration"),
    (dict(duration="2d"), "duration"),
    (dict(time_zone="Nowhere/Land"), "time_zone"),
    (dict(support=[]), "support"),
])
def test_malformed_operations_name_their_fields(more, field):
    with pytest.raises(ContractError) as caught:
        parse(JointOperation, {**BODY, **more})
    assert [e.field for e in caught.value.errors] == [field]


def test_an_rrule_prefix_and_until_are_accepted():
    op = operation(recurrence="RRULE:FREQ=DAILY;UNTIL=20250110T235959")
    assert len(occurrences(op, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))) == 3
