"""Bulk import of officers (CSV, YAML) with a per-row report, and the shipped reference roster."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services.common.reference import load_reference
from services.roster.errors import InvalidRoster
from services.roster.importing import CSV_COLUMNS, import_csv, import_yaml, parse_roster
from services.roster.operations import due, operation_case
from services.roster.schedule import DutyRoster, coverage_gaps
from services.roster.teams import Availability, Case, TeamRules, Workload, form, participants
from tests.unit.roster_samples import CODES, UTC, by_code, officer

TODAY = date(2026, 12, 1)
ROSTER_FILE = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "roster.yaml"
HEADER = ",".join(CSV_COLUMNS)
GOOD = ("cg-11,王小明,chengguan,CG0011,50-CG-0011,2029-06-30,illegal_construction;street_vending,13800000011,是,"
        "grid:daxigou-c1-g1;street:daxigou")


def test_a_good_csv_imports_every_row():
    text = "\ufeff" + "\n".join([HEADER, GOOD,
                                 "gh-11,李四,guihua,GH0011,50-GH-0011,2030-01-01,illegal_construction,13800000012,,"])
    report = import_csv(text, CODES, TODAY, {})
    assert report.errors == () and report.rows == 2
    first, second = report.officers
    assert first.qualifications == ("illegal_construction", "street_vending") and first.active
    assert [(p.level, p.code) for p in first.postings] == [("grid", "daxigou-c1-g1"), ("street", "daxigou")]
    assert second.postings == () and second.active


def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_taken_from_them():
    rows = [
        HEADER,
        GOOD,                                                                         # row 2: fine
        "cg-12,张三,nosuch,CG0012,50-CG-0012,2029-06-30,illegal_construction,138,yes,",   # 3: department
        "cg-13,张三,chengguan,CG0013,50-CG-0013,2020-06-30,illegal_construction,138,yes,",  # 4: expired
        "",                                                                           # 5: blank, skipped
        "cg-14,张三,chengguan,CG0011,50-CG-0014,2029-06-30,flying,138,maybe,",             # 6: active
        "cg-15,张三,chengguan,CG0011,50-CG-0015,2029-06-30,flying,138,no,grid",            # 7: postings
        "cg-16,张三,chengguan,CG0011,50-CG-0016,2029-06-31,flying;illegal_ads,138,no,",    # 8: badge, date, category
        "cg-17,张三,chengguan",                                                         # 9: short
        "cg-11,重复,chengguan,CG0099,50-CG-0099,2029-06-30,illegal_ads,138,,",             # 10: code taken by row 2
    ]
    report = import_csv("\n".join(rows), CODES, TODAY, {})
    assert [o.code for o in report.officers] == ["cg-11"]
    assert report.rows == 8 and report.rejected_rows == (3, 4, 6, 7, 8, 9, 10)
    found = {(e.row, e.field) for e in report.errors}
    assert found >= {(3, "department"), (4, "certificate_expires_on"), (6, "active"), (7, "postings"),
                     (8, "certificate_expires_on"), (9, "(row)"), (10, "code")}
    assert (8, "qualifications") not in found        # a malformed row is not checked further
    assert any("expired on 2020-06-30" in e.message for e in report.errors if e.row == 4)


def test_a_badge_already_in_the_roster_is_refused():
    existing = by_code(officer("cg-01", badge="CG0011"))
    report = import_csv("\n".join([HEADER, GOOD]), CODES, TODAY, existing)
    assert report.officers == () and [(e.row, e.field) for e in report.errors] == [(2, "badge")]


def test_a_bad_header_imports_nothing():
    report = import_csv("code,name,colour\n" + GOOD, CODES, TODAY, {})
    assert report.officers == () and report.rows == 0
    assert {e.field for e in report.errors} >= {"department", "badge", "colour"}
    assert {e.row for e in report.errors} == {1}
    assert import_csv("", CODES, TODAY, {}).errors[0].field == "(file)"


def test_yaml_import_reports_entries_by_number():
    text = """
officers:
  - {code: cg-21, name: 王五, department: chengguan, badge: CG0021, contact: '138',
     certificate: {number: 50-CG-0021, expires_on: 2029-01-01}, qualifications: [illegal_ads]}
  - {code: cg-22, name: 赵六, department: chengguan, badge: CG0021, contact: '138',
     certificate: {number: 50-CG-0022, expires_on: 2029-01-01}, qualifications: [illegal_ads]}
  - just a string
  - {code: cg-23, name: 钱七, department: chengguan, badge: CG0023, contact: '138',
     certificate: {number: 50-CG-0023}, qualifications: [illegal_ads], shifts: [day]}
"""
    report = import_yaml(text, CODES, TODAY, {})
    assert [o.code for o in report.officers] == ["cg-21"]
    assert {(e.row, e.field) for e in report.errors} == {
        (2, "badge"), (3, "(row)"), (4, "certificate.expires_on"), (4, "shifts")}


def test_yaml_that_is_not_a_list_or_not_yaml():
    assert import_yaml("officers: 3", CODES, TODAY, {}).errors[0].field == "(file)"
    broken = import_yaml("officers: [", CODES, TODAY, {})
    assert broken.officers == () and "not YAML" in broken.errors[0].message


# --- the shipped roster --------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def roster():
    return parse_roster(ROSTER_FILE.read_text(encoding="utf-8"), CODES, NOW, TODAY)


def test_the_shipped_roster_is_valid_and_covers_every_officer_department(roster):
    departments = {o.department for o in roster.officers}
    assert departments == {s.department for s in roster.schedules} == CODES.departments - {"jiedao", "shequ"}
    for schedule in roster.schedules:
        assert coverage_gaps(schedule, NOW, NOW + timedelta(weeks=4)) == (), schedule.department
    assert {p.street for p in roster.chief_pairs if p.kind == "street"} == CODES.streets


def test_the_shipped_roster_can_staff_every_joint_enforcement_category_around_the_clock(roster):
    reference = load_reference()
    duty = DutyRoster({s.department: s for s in roster.schedules}, CODES)
    officers = roster.officer_map()
    rostered = frozenset(officers[o].department for o in officers)
    hours = [NOW + timedelta(hours=h) for h in range(0, 24 * 7, 5)]
    on_duty = {at: {d: duty.on_duty(d, at) for d in rostered} for at in hours}
    for category in (c for c in reference.categories if c.joint_enforcement):
        for street in reference.streets:
            lead, support = reference.assignment(street.code, category.code)
            for at in hours:
                case = Case("whistle", "w", category.code, "urgent", street.code)
                team = form("t", case, lead, participants(lead, support, rostered),
                            Availability(at, officers, on_duty[at]), Workload(), TeamRules(), CODES, at).team
                assert team.gaps == (), (category.code, street.code, at)


def test_the_shipped_operations_can_be_staffed(roster):
    duty = DutyRoster({s.department: s for s in roster.schedules}, CODES)
    officers = roster.officer_map()
    for operation in roster.operations:
        occurrences = due(operation, NOW, timedelta(days=35))
        assert occurrences, operation.code
        for occurrence in occurrences:
            departments = (operation.lead, *operation.support)
            availability = Availability(occurrence.start, officers,
                                        {d: duty.on_duty(d, occurrence.start) for d in departments})
            team = form("t", operation_case(operation, occurrence), operation.lead, operation.support,
                        availability, Workload(), TeamRules(), CODES, NOW).team
            assert team.gaps == (), (operation.code, occurrence.occurrence_id)


def test_a_roster_file_with_bad_entries_names_them_all():
    text = ROSTER_FILE.read_text(encoding="utf-8")
    text = text.replace("department: gongan, badge: GA0001", "department: gongan, badge: CG0001", 1)
    text = text.replace("leader_name: 陈红梅", "leader_name: ''", 1)
    with pytest.raises(InvalidRoster) as caught:
        parse_roster(text, CODES, NOW, TODAY)
    assert [e.field for e in caught.value.errors] == ["chief_pairs.0.leader_name"]   # shape is checked first
    text = text.replace("leader_name: ''", "leader_name: 陈红梅", 1)
    text = text.replace("members: [[gongan-01, gongan-02]", "members: [[gongan-01, chengguan-02]", 1)
    with pytest.raises(InvalidRoster) as caught:
        parse_roster(text, CODES, NOW, TODAY)
    fields = [e.field for e in caught.value.errors]
    assert "officers.10.badge" in fields and "schedules.1.rotations.0.members.0.1" in fields
    with pytest.raises(InvalidRoster) as caught:
        parse_roster(text, CODES, NOW.replace(year=2032), date(2032, 1, 1))
    assert any(e.field.endswith("certificate.expires_on") for e in caught.value.errors)
