"""A GeoReport v2 conformance check, written from the spec (https://wiki.open311.org/GeoReport_v2), JSON format.

Each check_* takes a decoded JSON body and returns the problems found (empty: it conforms); the HTTP
tests run them against the real endpoints:

    problems = check_services(response.json()) + check_content_type(response.headers["Content-Type"])
    assert not problems, problems

Strict where the spec is: every field has its type, enumerated values are among the spec's, date/times
are w3 with a time zone, and no foreign fields (the spec recommends none, for every client to cope)."""
from __future__ import annotations

import re
from typing import Any

W3_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
TEXT_LIMIT = 4000

# field: (allowed JSON types, required). "id" allows a string or a number: the spec's own examples use both.
ID = (str, int)
OPT_TEXT = (str, type(None))
SERVICE = {"service_code": (ID, True), "service_name": ((str,), True), "description": (OPT_TEXT, False),
           "metadata": ((bool,), True), "type": ((str,), True), "keywords": (OPT_TEXT, False),
           "group": (OPT_TEXT, False)}
SERVICE_TYPES = ("realtime", "batch", "blackbox")
DEFINITION = {"service_code": (ID, True), "attributes": ((list,), True)}
ATTRIBUTE = {"variable": ((bool,), True), "code": (ID, True), "datatype": ((str,), True),
             "required": ((bool,), True), "datatype_description": (OPT_TEXT, False), "order": ((int,), True),
             "description": ((str,), True), "values": ((list,), False)}
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
POSTED = {"service_request_id": (ID, False), "token": (ID, False), "service_notice": (OPT_TEXT, False),
          "account_id": (ID + (type(None),), False)}
NUMBER = (int, float)
REQUEST = {"service_request_id": (ID, True), "status": ((str,), True), "status_notes": (OPT_TEXT, False),
           "service_name": ((str,), True), "service_code": (ID, True), "description": (OPT_TEXT, False),
           "agency_responsible": (OPT_TEXT, False), "service_notice": (OPT_TEXT, False),
           "requested_datetime": ((str,), True), "updated_datetime": ((str,), True),
           "expected_datetime": (OPT_TEXT, False), "address": (OPT_TEXT, False),
           "address_id": (ID + (type(None),), False), "zipcode": (ID + (type(None),), False),
           "lat": (NUMBER + (type(None),), False), "long": (NUMBER + (type(None),), False),
           "media_url": (OPT_TEXT, False)}
ERROR = {"code": ((int,), True), "description": ((str,), True)}
DISCOVERY = {"changeset": ((str,), True), "contact": ((str,), True), "key_service": ((str,), False),
             "endpoints": ((list,), True)}
ENDPOINT = {"specification": ((str,), True), "url": ((str,), True), "changeset": ((str,), True),
            "type": ((str,), True), "formats": ((list,), True)}
ERROR_STATUSES = (400, 403, 404)


def _typed(where: str, item: Any, fields: dict[str, tuple[tuple[type, ...], bool]]) -> list[str]:
    if not isinstance(item, dict):
        return [f"{where}: must be an object, not {type(item).__name__}"]
    problems = [f"{where}: foreign field {key!r}" for key in item if key not in fields]
    for key, (types, required) in fields.items():
        if key not in item:
            if required:
                problems.append(f"{where}.{key}: missing")
            continue
        value = item[key]
        # bool is an int in Python: only a field that allows bool takes one
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = "/".join("null" if t is type(None) else t.__name__ for t in types)
            problems.append(f"{where}.{key}: must be {names}, not {type(value).__name__}")
    return problems


def _items(body: Any, key: str) -> list:
    value = body.get(key) if isinstance(body, dict) else None
    return value if isinstance(value, list) else []


def _list_of(body: Any, what: str) -> list[str] | None:
    return None if isinstance(body, list) else [f"{what}: the body must be a JSON array"]


def _w3(where: str, value: Any, required: bool) -> list[str]:
    if value is None:
        return [f"{where}: missing"] if required else []
    if not isinstance(value, str) or not W3_DATETIME.match(value):
        return [f"{where}: {value!r} is not a w3 datetime with its time zone"]
    return []


def check_content_type(header: str | None) -> list[str]:
    """JSON answers are application/json, UTF-8 (the default for JSON, or said so)."""
    kind, _, params = (header or "").partition(";")
    problems = [] if kind.strip().lower() == "application/json" \
        else [f"Content-Type {header!r} is not application/json"]
    charset = re.search(r"charset=([^;\s]+)", params, re.I)
    if charset and charset.group(1).strip('"').lower() not in ("utf-8", "utf8"):
        problems.append(f"Content-Type {header!r}: the charset must be UTF-8")
    return problems


def check_discovery(body: Any) -> list[str]:
    problems = _typed("discovery", body, DISCOVERY)
    for i, endpoint in enumerate(_items(body, "endpoints")):
        problems += _typed(f"endpoints[{i}]", endpoint, ENDPOINT)
        if isinstance(endpoint, dict) and isinstance(endpoint.get("formats"), list):
            problems += [f"endpoints[{i}].formats: {f!r} is not a media type" for f in endpoint["formats"]
                         if not isinstance(f, str) or "/" not in f]
    return problems


def check_services(body: Any) -> list[str]:
    """GET services.json."""
    problems = _list_of(body, "services")
    if problems is not None:
        return problems
    problems = []
    codes = []
    for i, service in enumerate(body):
        problems += _typed(f"services[{i}]", service, SERVICE)
        if isinstance(service, dict):
            if service.get("type") not in SERVICE_TYPES:
                problems.append(f"services[{i}].type: {service.get('type')!r} is not one of {', '.join(SERVICE_TYPES)}")
            codes.append(service.get("service_code"))
    twice = sorted({c for c in codes if codes.count(c) > 1}, key=str)
    problems += [f"services: service_code {c!r} appears twice" for c in twice]
    return problems


def check_service_definition(body: Any) -> list[str]:
    """GET services/<service_code>.json."""
    problems = _typed("service_definition", body, DEFINITION)
    orders = []
    for i, attribute in enumerate(_items(body, "attributes")):
        problems += _typed(f"attributes[{i}]", attribute, ATTRIBUTE)
        if isinstance(attribute, dict):
            if attribute.get("datatype") not in DATATYPES:
                problems.append(f"attributes[{i}].datatype: {attribute.get('datatype')!r} is not a GeoReport datatype")
            if isinstance(attribute.get("order"), int) and attribute["order"] < 1:
                problems.append(f"attributes[{i}].order: must be a positive integer")
            orders.append(attribute.get("order"))
    problems += [f"attributes: order {o} is used twice" for o in sorted({o for o in orders if orders.count(o) > 1})]
    return problems


def check_post_response(body: Any) -> list[str]:
    """POST requests.json: one entry with a service_request_id or a token, never both."""
    problems = _list_of(body, "service_requests")
    if problems is not None:
        return problems
    problems = [] if body else ["service_requests: empty; the created request is missing"]
    for i, request in enumerate(body):
        problems += _typed(f"service_requests[{i}]", request, POSTED)
        if isinstance(request, dict):
            has_id, has_token = request.get("service_request_id") is not None, request.get("token") is not None
            if has_id == has_token:
                problems.append(f"service_requests[{i}]: exactly one of service_request_id and token")
    return problems


def check_requests(body: Any) -> list[str]:
    """GET requests.json and GET requests/<id>.json."""
    problems = _list_of(body, "service_requests")
    if problems is not None:
        return problems
    problems = []
    for i, request in enumerate(body):
        where = f"service_requests[{i}]"
        problems += _typed(where, request, REQUEST)
        if not isinstance(request, dict):
            continue
        if request.get("status") not in ("open", "closed"):
            problems.append(f"{where}.status: {request.get('status')!r} is neither open nor closed")
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            problems += _w3(f"{where}.{key}", request.get(key), key != "expected_datetime")
        if isinstance(request.get("description"), str) and len(request["description"]) > TEXT_LIMIT:
            problems.append(f"{where}.description: longer than {TEXT_LIMIT} characters")
        for key, bound in (("lat", 90), ("long", 180)):
            value = request.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not -bound <= value <= bound:
                problems.append(f"{where}.{key}: {value} is out of range")
        if (request.get("lat") is None) != (request.get("long") is None):
            problems.append(f"{where}: lat and long come together")
    return problems


def check_errors(body: Any, http_status: int) -> list[str]:
    """An error answer: HTTP 400, 403 or 404, and a non-empty array of {code, description}."""
    problems = [] if http_status in ERROR_STATUSES else [f"HTTP {http_status}: errors are 400, 403 or 404"]
    listed = _list_of(body, "errors")
    if listed is not None:
        return problems + listed
    if not body:
        problems.append("errors: empty")
    for i, error in enumerate(body):
        problems += _typed(f"errors[{i}]", error, ERROR)
        if isinstance(error, dict) and isinstance(error.get("description"), str) and not error["description"].strip():
            problems.append(f"errors[{i}].description: empty")
    return problems
