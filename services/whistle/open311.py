"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), pure: the district's categories as
services, a POSTed service request as a resident's grid event, grid events as service requests, errors
in the spec's shape ([{"code": ..., "description": ...}], code = the HTTP status). JSON only.

jurisdiction_id, optional, is a street code (or the district's code, or absent: the whole district).
A request's location is lat/long or address_string (address_id needs an address registry we do not
have). lat/long is placed on the responsibility map by an injected `locate(lon, lat) -> grid_code|None`;
a point no grid owns, or an address_string, opens the event at the street named by jurisdiction_id
(refused without one).
email, phone, first_name, last_name, device_id and account_id are personal data: they leave as a
PersonalContact and nowhere else. Open311 has no request id: a resent identical POST (same fields) is
recognised by a digest of its fields and answered with the same service_request_id."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from services.common.events import MAX_EVENT_TEXT, FieldError, OpenGridEvent, PersonalContact, Place, iso
from services.common.reference import ReferenceData
from services.whistle import grid_texts
from services.common.errors import Refused
from services.whistle.grid_event import GridEventState, Locate, unit_names
from services.whistle.grid_texts import is_chinese

SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_SPAN = timedelta(days=90)          # GET requests: the widest date range, and the default one
MAX_RESULTS = 1000                     # GET requests: the default (and our only) limit
PERSONAL = ("email", "phone", "first_name", "last_name", "device_id", "account_id")
MAX_FIELD = 200
# our statuses behind the spec's two
STATUSES = {"open": ("reported", "accepted", "handled", "whistled"), "closed": ("closed",)}


class Open311Error(Exception):
    """An answer in the spec's error shape: HTTP `status` (400, 403 or 404) and one (code, description) each."""

    def __init__(self, status: int, errors: Iterable[tuple[int, str]]):
        self.status = status
        self.errors = tuple(errors)
        super().__init__("; ".join(d for _, d in self.errors))

    @classmethod
    def one(cls, status: int, description: str) -> "Open311Error":
        return cls(status, ((status, description),))

    @property
    def body(self) -> list[dict]:
        return [{"code": code, "description": description} for code, description in self.errors]


def from_field_errors(errors: Iterable[FieldError], status: int = 400) -> Open311Error:
    return Open311Error(status, ((status, f"{e.field}: {e.message}") for e in errors))


def from_refused(exc: Refused) -> Open311Error:
    """A refusal of the rules (unknown grid...) as an Open311 400."""
    return from_field_errors(exc.errors)


# ---------------------------------------------------------------- services

def discovery(endpoint_url: str, changeset: str, contact: str) -> dict:
    """The service discovery document for one GeoReport v2 endpoint serving JSON."""
    return {"changeset": changeset, "contact": contact, "key_service": contact,
            "endpoints": [{"specification": SPEC, "url": endpoint_url, "changeset": changeset,
                           "type": "production", "formats": ["application/json"]}]}


def services_list(reference: ReferenceData, lang: str = "zh_CN") -> list[dict]:
    """GET services.json: one realtime service per category, grouped by its lead department."""
    out = []
    zh = is_chinese(lang)
    for category in reference.categories:
        lead = reference.department(category.lead)
        other = category.name_en if zh else category.name_zh
        out.append({"service_code": category.code,
                    "service_name": category.name_zh if zh else category.name_en,
                    "description": f"{category.name_zh} / {category.name_en}",
                    "metadata": False, "type": "realtime", "keywords": f"{category.code}, {other}",
                    "group": (lead.name_zh if zh else lead.name_en) if lead else category.lead})
    return out


def service_definition(reference: ReferenceData, service_code: str) -> dict:
    """GET services/<code>.json: no extra attributes for any service (metadata is false)."""
    if reference.category(service_code) is None:
        raise Open311Error.one(404, f"service_code {service_code!r} not found")
    return {"service_code": service_code, "attributes": []}


# ---------------------------------------------------------------- POST requests.json

@dataclass(frozen=True)
class Open311Intake:
    command: OpenGridEvent
    contact: dict[str, str | None] | None    # the personal fields sent (see contact_for), or None


def _value(form: Mapping[str, Any], key: str) -> Any:
    """One argument: the first of repeated values; empty means not passed (the spec's "optional")."""
    value = form.get(key)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text(form: Mapping[str, Any], key: str, limit: int, problems: list[tuple[int, str]]) -> str | None:
    value = _value(form, key)
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if len(value) > limit:
        problems.append((400, f"{key}: at most {limit} characters"))
    return value


def _coordinate(form: Mapping[str, Any], key: str, bound: float, problems: list[tuple[int, str]]) -> float | None:
    value = _value(form, key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        problems.append((400, f"{key}: must be a number, not {value!r}"))
        return None
    if not math.isfinite(number) or not -bound <= number <= bound:
        problems.append((400, f"{key}: must be between -{bound:g} and {bound:g}"))
        return None
    return number


def jurisdiction(reference: ReferenceData, form: Mapping[str, Any]) -> str | None:
    """The street named by jurisdiction_id (None: the whole district); 404 for one we do not serve."""
    value = _value(form, "jurisdiction_id")
    if value is None or value == reference.district.code:
        return None
    if not isinstance(value, str) or reference.street(value) is None:
        raise Open311Error.one(404, f"jurisdiction_id {value!r} not found")
    return value


def request_digest(form: Mapping[str, Any]) -> str:
    """The same POST sent twice has the same digest (api_key aside)."""
    fields = {k: _value(form, k) for k in sorted(form) if k != "api_key"}
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str)
    return "open311-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def parse_post(form: Mapping[str, Any], reference: ReferenceData, locate: Locate) -> Open311Intake:
    """POST requests.json (form-encoded or a JSON object, already decoded) → the grid-event command.

    The personal fields stay on the intake until contact_for(); Open311Error names each bad argument."""
    service_code = _value(form, "service_code")
    if service_code is None:
        raise Open311Error.one(400, "service_code: required (see services.json)")
    category = reference.category(str(service_code))
    if category is None:
        raise Open311Error.one(404, f"service_code {service_code!r} not found (see services.json)")
    street = jurisdiction(reference, form)
    problems: list[tuple[int, str]] = []
    lat = _coordinate(form, "lat", 90, problems)
    lon = _coordinate(form, "long", 180, problems)
    address = _text(form, "address_string", MAX_FIELD, problems)
    description = _text(form, "description", MAX_EVENT_TEXT, problems) or category.name_zh
    media_url = _text(form, "media_url", MAX_FIELD, problems)
    if media_url is not None and not media_url.lower().startswith(("http://", "https://")):
        problems.append((400, "media_url: must be an http or https URL"))
    personal = {k: _text(form, k, MAX_FIELD, problems) for k in PERSONAL}
    if (_value(form, "lat") is None) != (_value(form, "long") is None):
        problems.append((400, "lat, long: send both or neither"))
    if problems:
        raise Open311Error(400, problems)
    grid = street_code = None
    if lat is not None and lon is not None:
        grid = locate(lon, lat)
        placed = reference.street_of_grid(grid) if grid else None
        if placed is None:
            grid = None
            if street is None:
                raise Open311Error.one(400, "lat, long: no grid of the district owns this place; name its street "
                                            "as jurisdiction_id")
            street_code = street
        elif street is not None and placed[0] != street:
            raise Open311Error.one(400, f"lat, long: the place is in street {placed[0]}, not jurisdiction_id "
                                        f"{street}")
        else:
            street_code = placed[0]
    elif address is not None:
        if street is None:
            raise Open311Error.one(400, "jurisdiction_id: name the street when the location is an address_string")
        street_code = street
    elif _value(form, "address_id") is not None:
        raise Open311Error.one(400, "address_id: not supported here; send lat and long, or address_string")
    else:
        raise Open311Error.one(400, "location: send lat and long, or address_string")
    place = Place(address=address or f"{lat:.6f}, {lon:.6f}", lon=lon, lat=lat)
    command = OpenGridEvent(request_id=request_digest(form), street_code=street_code, grid_code=grid,
                            category=category.code, source="resident_report", description=description, place=place,
                            photos=(media_url,) if media_url else (),
                            reported_by=grid_texts.render("reporter.open311", {}))
    return Open311Intake(command, personal if any(personal.values()) else None)


def contact_for(intake: Open311Intake, grid_event_id: str) -> PersonalContact | None:
    """The intake's personal contact, for the event it opened (None if the resident left none)."""
    if intake.contact is None:
        return None
    fields = intake.contact
    name = " ".join(p for p in (fields["first_name"], fields["last_name"]) if p) or None
    return PersonalContact(grid_event_id=grid_event_id, channel="open311", name=name, phone=fields["phone"],
                           email=fields["email"], device_id=fields["device_id"], account_id=fields["account_id"])


def post_response(state: GridEventState, reference: ReferenceData, account_id: str | None = None,
                  lang: str = "zh_CN") -> list[dict]:
    """The POST answer: realtime, so the service_request_id (never a token)."""
    notice = None
    if state.status == "reported" and state.accept_by is not None:
        notice = grid_texts.render("notice.opened", {"accept_by": state.accept_by, **unit_names(reference, state)},
                                   lang)
    return [{"service_request_id": state.event_id, "service_notice": notice, "account_id": account_id}]


# ---------------------------------------------------------------- GET requests.json

def status_notes(state: GridEventState, lang: str = "zh_CN") -> str:
    key = f"status.closed.{state.outcome}" if state.status == "closed" else f"status.{state.status}"
    return grid_texts.render(key, {"tier": state.tier}, lang)


def service_request(state: GridEventState, reference: ReferenceData, updated_at: datetime,
                    lang: str = "zh_CN") -> dict:
    """One grid event as a GeoReport v2 service request."""
    zh = is_chinese(lang)
    category = reference.category(state.category)
    names = unit_names(reference, state)
    expected = state.accept_by or state.handle_by
    return {
        "service_request_id": state.event_id,
        "status": "closed" if state.status == "closed" else "open",
        "status_notes": status_notes(state, lang),
        "service_name": (category.name_zh if zh else category.name_en) if category else state.category,
        "service_code": state.category,
        "description": state.description,
        "agency_responsible": names["unit_zh"] if zh else names["unit_en"],
        "service_notice": None,
        "requested_datetime": iso(state.opened_at),
        "updated_datetime": iso(state.closed_at or updated_at),
        "expected_datetime": iso(expected) if expected else None,
        "address": state.place.address,
        "address_id": None,
        "zipcode": None,
        "lat": state.place.lat,
        "long": state.place.lon,
        "media_url": state.photos[0] if state.photos else None,
    }


@dataclass(frozen=True)
class RequestQuery:
    """GET requests.json's arguments: ids override everything else."""

    ids: tuple[str, ...] | None
    service_codes: tuple[str, ...] | None
    start: datetime
    end: datetime
    statuses: tuple[str, ...]          # ours (STATUSES), never empty
    limit: int = MAX_RESULTS


def _list(form: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    raw = form.get(key)
    values = raw if isinstance(raw, (list, tuple)) else [raw] if raw is not None else []
    items = tuple(p.strip() for v in values for p in str(v).split(",") if p.strip())
    return items or None


def parse_w3(value: str, key: str) -> datetime:
    """A w3 datetime with its time zone (2010-01-01T00:00:00Z); Open311Error 400 otherwise."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or "T" not in value or parsed.tzinfo is None:
        raise Open311Error.one(400, f"{key}: must be a w3 datetime with its time zone, e.g. 2010-01-01T00:00:00Z")
    return parsed


def parse_query(form: Mapping[str, Any], now: datetime) -> RequestQuery:
    """GET requests.json arguments → a query; the range defaults to the most recent 90 days."""
    statuses: list[str] = []
    for status in _list(form, "status") or ("open", "closed"):
        if status not in STATUSES:
            raise Open311Error.one(400, f"status: {status!r} is neither open nor closed")
        statuses.extend(STATUSES[status])
    start_text, end_text = _value(form, "start_date"), _value(form, "end_date")
    start = parse_w3(str(start_text), "start_date") if start_text is not None else None
    end = parse_w3(str(end_text), "end_date") if end_text is not None else None
    if start is None and end is None:
        end = now
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error.one(400, "end_date: before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error.one(400, "start_date, end_date: the range may not span more than 90 days")
    return RequestQuery(ids=_list(form, "service_request_id"), service_codes=_list(form, "service_code"),
                        start=start, end=end, statuses=tuple(dict.fromkeys(statuses)))
