"""iCal feeds (RFC 5545) of duty shifts, per department and per officer, written with the icalendar
library; times are in the department's zone with its VTIMEZONE, so calendars show local hand-overs."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Literal, Mapping
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from services.roster.officers import Officer
from services.roster.schedule import Shift

PRODID = "-//chuishao//roster duty feed//ZH"
Language = Literal["zh", "en"]
_ORIGIN = {"zh": {"override": "顶班", "swap": "换班"}, "en": {"override": "cover", "swap": "swap"}}


def _summary(shift: Shift, officer: Officer | None, department_name: str, lang: Language) -> str:
    name = officer.name if officer else shift.officer
    extra = _ORIGIN[lang].get(shift.origin)
    if lang == "zh":
        return f"值班：{name}（{department_name}）" + (f"【{extra}】" if extra else "")
    return f"On duty: {name} ({department_name})" + (f" [{extra}]" if extra else "")


def feed(uid: str, title: str, shifts: Iterable[Shift], officers: Mapping[str, Officer],
         department_names: Mapping[str, str], zone: ZoneInfo, now: datetime, lang: Language = "zh") -> bytes:
    """A VCALENDAR with one VEVENT per shift (give it preview(..., whole=True) so edge shifts are
    whole). UIDs are stable, so a calendar refreshing the feed updates the shifts it has rather than
    duplicating them."""
    calendar = Calendar.new(uid=uid, prodid=PRODID, name=title, calscale="GREGORIAN", method="PUBLISH",
                            language="zh-CN" if lang == "zh" else "en")
    for shift in shifts:
        officer = officers.get(shift.officer)
        department_name = department_names.get(shift.department, shift.department)
        start = shift.start.astimezone(zone)
        calendar.add_component(Event.new(
            uid=f"{shift.department}.{shift.officer}.{shift.start:%Y%m%dT%H%M%SZ}@chuishao",
            start=start, end=shift.end.astimezone(zone), stamp=now,
            summary=_summary(shift, officer, department_name, lang),
            categories=[shift.department, shift.origin],
            contacts=[officer.contact] if officer else None,
            transparency="OPAQUE"))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def department_feed(department: str, shifts: Iterable[Shift], officers: Mapping[str, Officer],
                    department_names: Mapping[str, str], zone: ZoneInfo, now: datetime,
                    lang: Language = "zh") -> bytes:
    name = department_names.get(department, department)
    title = f"{name} 值班表" if lang == "zh" else f"{name} duty roster"
    return feed(f"department.{department}@chuishao", title, (s for s in shifts if s.department == department),
                officers, department_names, zone, now, lang)


def officer_feed(officer: Officer, shifts: Iterable[Shift], department_names: Mapping[str, str], zone: ZoneInfo,
                 now: datetime, lang: Language = "zh") -> bytes:
    title = f"{officer.name} 值班" if lang == "zh" else f"{officer.name} on duty"
    return feed(f"officer.{officer.code}@chuishao", title, (s for s in shifts if s.officer == officer.code),
                {officer.code: officer}, department_names, zone, now, lang)
