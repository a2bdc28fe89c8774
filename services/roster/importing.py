"""Bulk import of officers from CSV or YAML, with a report of every bad row (row, field, message);
nothing is taken from a bad row. And the reference roster file (deploy/reference/roster.yaml):
officers, duty schedules, 双长制 pairs, planned operations and how teams are run, checked as a whole."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping, Optional

import yaml
from pydantic import Field, ValidationError

from services.common.events import FieldError, field_errors
from services.common.reference import Strict
from services.roster.codes import Codes
from services.roster.errors import InvalidRoster, error, require
from services.roster.officers import ChiefPair, Officer, check_officer, check_pairs
from services.roster.operations import JointOperation, check_operation
from services.roster.rules import TeamSettings
from services.roster.schedule import DepartmentSchedule, check_rotations

CSV_COLUMNS = ("code", "name", "department", "badge", "certificate_number", "certificate_expires_on",
               "qualifications", "contact", "active", "postings")
OPTIONAL_COLUMNS = {"active", "postings"}
TRUE, FALSE = {"true", "yes", "y", "1", "是"}, {"false", "no", "n", "0", "否"}


@dataclass(frozen=True)
class RowError:
    row: int              # CSV: the line as a spreadsheet numbers it (header = 1); YAML: the entry, from 1
    field: str
    message: str


@dataclass(frozen=True)
class ImportReport:
    officers: tuple[Officer, ...]     # the good rows, to be stored
    errors: tuple[RowError, ...]
    rows: int                         # data rows read

    @property
    def rejected_rows(self) -> tuple[int, ...]:
        return tuple(sorted({e.row for e in self.errors}))


def _check_rows(rows: Iterable[tuple[int, Any]], codes: Codes, today: date, existing: Mapping[str, Officer],
                field_name=lambda loc: loc, department: str | None = None) -> ImportReport:
    accepted: list[Officer] = []
    errors: list[RowError] = []
    count = 0
    for row, data in rows:
        count += 1
        if isinstance(data, RowError):
            errors.append(data)
            continue
        try:
            officer = Officer.model_validate(data)
        except ValidationError as exc:
            errors += [RowError(row, field_name(e.field), e.message) for e in field_errors(exc)]
            continue
        problems = check_officer(officer, codes, today, (*existing.values(), *accepted))
        if department is not None and officer.department != department:
            problems.append(error("department", f"officer {officer.code} is in {officer.department}; this "
                                                f"import is {department}'s"))
        if problems:
            errors += [RowError(row, field_name(e.field), e.message) for e in problems]
        else:
            accepted.append(officer)
    return ImportReport(tuple(accepted), tuple(errors), count)


# ---------------------------------------------------------------- CSV

def _csv_field(loc: str) -> str:
    """A model field path as the CSV column it came from."""
    head = loc.split(".")[0]
    if loc.startswith("certificate."):
        return "certificate_" + ("number" if ".number" in loc else "expires_on")
    return head if head in CSV_COLUMNS else loc


def _postings(text: str, row: int) -> list[dict] | RowError:
    out = []
    for item in filter(None, (p.strip() for p in text.split(";"))):
        level, sep, code = item.partition(":")
        if not sep:
            return RowError(row, "postings", f"{item!r} should be level:code, e.g. grid:daxigou-c1-g1")
        out.append({"level": level.strip(), "code": code.strip()})
    return out


def _csv_record(values: dict[str, str], row: int) -> dict | RowError:
    active = values.get("active", "").strip().lower()
    if active and active not in TRUE | FALSE:
        return RowError(row, "active", f"{values['active']!r} is not yes/no (true/false, 是/否)")
    postings = _postings(values.get("postings", ""), row)
    if isinstance(postings, RowError):
        return postings
    return {
        "code": values["code"], "name": values["name"], "department": values["department"],
        "badge": values["badge"], "contact": values["contact"],
        "certificate": {"number": values["certificate_number"], "expires_on": values["certificate_expires_on"]},
        "qualifications": [q.strip() for q in values["qualifications"].split(";") if q.strip()],
        "active": active not in FALSE, "postings": postings,
    }


def import_csv(text: str, codes: Codes, today: date, existing: Mapping[str, Officer],
               department: str | None = None) -> ImportReport:
    """Officers from CSV text (UTF-8, header row with CSV_COLUMNS; lists separated by ';', postings as
    level:code). A bad header imports nothing. With `department`, a row of another department is bad."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        return ImportReport((), (RowError(1, "(file)", "empty file: expected a header row"),), 0)
    header = [h.strip() for h in header]
    problems = [RowError(1, c, "missing column") for c in CSV_COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    problems += [RowError(1, c or f"column {i + 1}", "unknown column") for i, c in enumerate(header)
                 if c not in CSV_COLUMNS]
    problems += [RowError(1, c, "column appears twice") for c in sorted({c for c in header if header.count(c) > 1})]
    if problems:
        return ImportReport((), tuple(problems), 0)

    def rows():
        for row, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield row, RowError(row, "(row)", f"{len(cells)} cells where the header has {len(header)}")
                continue
            yield row, _csv_record({h: c.strip() for h, c in zip(header, cells)}, row)

    return _check_rows(rows(), codes, today, existing, _csv_field, department)


# ---------------------------------------------------------------- YAML

def _load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InvalidRoster.one("(file)", f"not YAML{f' (line {mark.line + 1})' if mark else ''}: "
                                          f"{getattr(exc, 'problem', None) or exc}") from None


def import_yaml(text: str, codes: Codes, today: date, existing: Mapping[str, Officer],
                department: str | None = None) -> ImportReport:
    """Officers from YAML: a list of officer mappings, or a mapping with an `officers` list. Rows are
    the entries' numbers, from 1. With `department`, an entry of another department is bad."""
    try:
        data = _load_yaml(text)
    except InvalidRoster as exc:
        return ImportReport((), tuple(RowError(0, e.field, e.message) for e in exc.errors), 0)
    if isinstance(data, dict) and set(data) == {"officers"}:
        data = data["officers"]
    if not isinstance(data, list):
        return ImportReport((), (RowError(0, "(file)", "expected a list of officers, or officers: [...]"),), 0)
    rows = ((i, item if isinstance(item, dict) else RowError(i, "(row)", "an officer is a mapping of fields"))
            for i, item in enumerate(data, start=1))
    return _check_rows(rows, codes, today, existing, department=department)


# ---------------------------------------------------------------- the reference roster file

class RosterFile(Strict):
    officers: tuple[Officer, ...] = ()
    schedules: tuple[DepartmentSchedule, ...] = ()
    chief_pairs: tuple[ChiefPair, ...] = ()
    operations: tuple[JointOperation, ...] = ()
    teams: TeamSettings = TeamSettings()
    check_weeks: int = Field(default=8, ge=1, le=104)   # how far ahead overlapping shifts are looked for

    def officer_map(self) -> dict[str, Officer]:
        return {o.code: o for o in self.officers}


def parse_roster(text: str, codes: Codes, now: datetime, today: Optional[date] = None) -> RosterFile:
    """The whole roster file, or InvalidRoster naming every bad field (as officers.3.badge,
    schedules.0.rotations.1.members...). `today` is the date in the district's zone (default: now's
    UTC date); overlapping shifts are looked for from `now` for the file's check_weeks."""
    data = _load_yaml(text)
    try:
        roster = RosterFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidRoster(field_errors(exc)) from None
    today = today or now.date()
    errors: list[FieldError] = []
    for i, officer in enumerate(roster.officers):
        errors += _prefixed(f"officers.{i}", check_officer(officer, codes, today, roster.officers[:i]))
    officers = roster.officer_map()
    departments = [s.department for s in roster.schedules]
    for i, schedule in enumerate(roster.schedules):
        if departments.index(schedule.department) != i:
            errors.append(error(f"schedules.{i}.department", f"{schedule.department} has a schedule already"))
        errors += _prefixed(f"schedules.{i}", check_rotations(schedule, officers, codes, now,
                                                               now + timedelta(weeks=roster.check_weeks)))
    errors += _prefixed("chief_pairs", check_pairs(roster.chief_pairs, officers, codes))
    codes_seen = [o.code for o in roster.operations]
    for i, operation in enumerate(roster.operations):
        if codes_seen.index(operation.code) != i:
            errors.append(error(f"operations.{i}.code", f"operation {operation.code} is defined twice"))
        errors += _prefixed(f"operations.{i}", check_operation(operation, codes))
    require(errors)
    return roster


def _prefixed(prefix: str, errors: Iterable[FieldError]) -> list[FieldError]:
    return [error(f"{prefix}.{e.field}", e.message) for e in errors]
