"""Open311 GeoReport v2 mapping: services from the categories, a POSTed request as a resident's grid event
(personal data apart), grid events as service requests, errors in the spec's shape; each answer passes the
conformance check written from the spec."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.common.events import WhistleClosed
from services.common.reference import load_reference
from services.whistle.grid_event import InvalidGridEvent, open_event, whistle, whistle_closed, whistle_raised
from services.whistle.open311 import (MAX_SPAN, STATUSES, Open311Error, contact_for, discovery, from_refused,
                                      parse_post, parse_query, post_response, service_definition, service_request,
                                      services_list)
from services.whistle.verification import verify
from tests.support.grid_samples import EVIDENCE, T0, minutes, rules, verifying, whistling
from tests.support.open311_conformance import (check_discovery, check_errors, check_post_response, check_requests,
                                               check_service_definition, check_services)

REFERENCE = load_reference()
RULES = rules()
IN_DAXIGOU = {"lat": "29.5625", "long": "106.5415"}


def locate(lon, lat):
    return "daxigou-c1-g1" if (round(lon, 4), round(lat, 4)) == (106.5415, 29.5625) else None


def form(**overrides) -> dict:
    body = {"api_key": "k-1", "service_code": "illegal_ads", **IN_DAXIGOU,
            "description": "电线杆上贴满小广告", "media_url": "https://img.example.cn/ads/1.jpg",
            "email": "wang@example.cn", "phone": "13900139000", "first_name": "小明", "last_name": "王",
            "device_id": "dev-7", "account_id": "acct-42"}
    return {**body, **overrides}


def refused(**overrides) -> Open311Error:
    with pytest.raises(Open311Error) as error:
        parse_post(form(**overrides), REFERENCE, locate)
    assert not check_errors(error.value.body, error.value.status), error.value.body
    return error.value


# ---------------------------------------------------------------- services

def test_services_are_the_districts_categories_and_conform():
    for lang in ("zh", "en"):
        services = services_list(REFERENCE, lang)
        assert not check_services(services)
        assert [s["service_code"] for s in services] == [c.code for c in REFERENCE.categories]
    ads = next(s for s in services_list(REFERENCE) if s["service_code"] == "illegal_ads")
    assert ads == {"service_code": "illegal_ads", "service_name": "牛皮癣小广告",
                   "description": "牛皮癣小广告 / Illegal small ads", "metadata": False, "type": "realtime",
                   "keywords": "illegal_ads, Illegal small ads", "group": "区城管执法局"}


def test_a_service_definition_has_no_attributes_and_an_unknown_one_is_404():
    assert not check_service_definition(service_definition(REFERENCE, "noise"))
    with pytest.raises(Open311Error) as error:
        service_definition(REFERENCE, "potholes")
    assert error.value.status == 404 and not check_errors(error.value.body, 404)


def test_discovery_names_the_v2_endpoint():
    document = discovery("https://chuishao.example.cn/open311/v2", "2025-03-14T00:00:00Z", "12345@example.cn")
    assert not check_discovery(document)


# ---------------------------------------------------------------- POST requests.json

def test_a_post_becomes_a_residents_grid_event_located_on_the_map_with_its_contact_apart():
    intake = parse_post(form(), REFERENCE, locate)
    command = intake.command
    assert (command.street_code, command.grid_code, command.category, command.source) == (
        "daxigou", "daxigou-c1-g1", "illegal_ads", "resident_report")
    assert (command.place.lat, command.place.lon, command.photos) == (29.5625, 106.5415,
                                                                       ("https://img.example.cn/ads/1.jpg",))
    assert command.reported_by == "市民（Open311）"
    for secret in ("wang@example.cn", "13900139000", "小明", "dev-7", "acct-42", "k-1"):
        assert secret not in command.model_dump_json()
    contact = contact_for(intake, "e-1")
    assert contact.model_dump() == {"grid_event_id": "e-1", "channel": "open311", "name": "小明 王",
                                    "phone": "13900139000", "email": "wang@example.cn", "device_id": "dev-7",
                                    "account_id": "acct-42"}
    state = open_event(command, "e-1", RULES, T0).state
    answer = post_response(state, REFERENCE, account_id="acct-42")
    assert not check_post_response(answer)
    assert answer == [{"service_request_id": "e-1", "service_notice": "已转滨江社区第一网格，2025-03-14 11:30前受理",
                       "account_id": "acct-42"}]


def test_the_same_post_twice_is_one_request_and_a_different_one_is_not():
    first = parse_post(form(), REFERENCE, locate).command.request_id
    assert parse_post(form(api_key="another"), REFERENCE, locate).command.request_id == first
    assert parse_post(form(description="又贴了一批"), REFERENCE, locate).command.request_id != first


def test_json_numbers_and_repeated_form_values_are_read_like_form_text():
    intake = parse_post(form(lat=29.5625, long=106.5415, service_code=["illegal_ads"]), REFERENCE, locate)
    assert intake.command.grid_code == "daxigou-c1-g1"
    anonymous = parse_post({"service_code": "noise", **IN_DAXIGOU, "email": ""}, REFERENCE, locate)
    assert anonymous.contact is None and contact_for(anonymous, "e-1") is None
    assert anonymous.command.description == "噪音扰民"           # no description: the service's name


def test_an_address_string_opens_at_the_street_named_as_jurisdiction():
    intake = parse_post({"service_code": "noise", "jurisdiction_id": "daxigou",
                         "address_string": "大溪沟街道人和街8号"}, REFERENCE, locate)
    assert (intake.command.street_code, intake.command.grid_code) == ("daxigou", None)
    assert open_event(intake.command, "e-1", RULES, T0).state.tier == "street"


def test_an_unknown_service_code_is_404_in_the_specs_error_shape():
    error = refused(service_code="potholes")
    assert error.status == 404
    assert error.body == [{"code": 404, "description": "service_code 'potholes' not found (see services.json)"}]


@pytest.mark.parametrize("overrides, status, says", [
    ({"service_code": ""}, 400, "service_code: required"),
    ({"jurisdiction_id": "gotham"}, 404, "jurisdiction_id 'gotham' not found"),
    ({"lat": "north"}, 400, "lat: must be a number"),
    ({"lat": "91"}, 400, "lat: must be between -90 and 90"),
    ({"long": ""}, 400, "lat, long: send both or neither"),
    ({"lat": "", "long": ""}, 400, "location: send lat and long, or address_string"),
    ({"lat": "", "long": "", "address_string": "人和街8号"}, 400, "jurisdiction_id: name the street"),
    ({"lat": "", "long": "", "address_id": "A-17"}, 400, "address_id: not supported here"),
    ({"lat": "30.0", "long": "107.0"}, 400, "lat, long: no grid of the district owns this place"),
    ({"jurisdiction_id": "nanxiashu"}, 400, "the place is in street daxigou, not jurisdiction_id nanxiashu"),
    ({"description": "字" * 4001}, 400, "description: at most 4000 characters"),
    ({"media_url": "file:///etc/passwd"}, 400, "media_url: must be an http or https URL"),
])
def test_bad_posts_are_refused_naming_the_argument(overrides, status, says):
    error = refused(**overrides)
    assert error.status == status
    assert says in error.body[0]["description"]


def test_a_place_outside_every_grid_opens_at_the_street_that_is_the_jurisdiction():
    intake = parse_post(form(lat="30.0", long="107.0", jurisdiction_id="daxigou"), REFERENCE, locate)
    assert (intake.command.street_code, intake.command.grid_code) == ("daxigou", None)


def test_a_refusal_of_the_rules_is_an_open311_400():
    with pytest.raises(InvalidGridEvent) as refusal:
        open_event(parse_post(form(), REFERENCE, locate).command.model_copy(update={"grid_code": "jinhaihu-c1-g1"}),
                   "e-1", RULES, T0)
    error = from_refused(refusal.value)
    assert error.status == 400 and error.body[0]["description"].startswith("grid_code: grid 'jinhaihu-c1-g1'")
    assert not check_errors(error.body, error.status)


# ---------------------------------------------------------------- GET requests.json

def test_a_grid_event_is_an_open_service_request_until_closed_and_conforms_all_along():
    state = open_event(parse_post(form(), REFERENCE, locate).command, "e-1", RULES, T0).state
    opened = service_request(state, REFERENCE, T0)
    assert not check_requests([opened])
    assert (opened["status"], opened["status_notes"], opened["agency_responsible"]) == (
        "open", "已上报，待网格受理", "滨江社区第一网格")
    assert opened["expected_datetime"] == "2025-03-14T03:30:00Z" and opened["media_url"].endswith("1.jpg")
    at_street = replace(verify(state, verifying(role="grid_worker"), RULES, minutes(5)).state, tier="street")
    whistled = whistle_raised(whistle(at_street, whistling(), RULES, minutes(9)).state, "w-1", False, "赵敏",
                              minutes(9)).state
    during = service_request(whistled, REFERENCE, minutes(9), "en")
    assert (during["status"], during["status_notes"], during["agency_responsible"]) == (
        "open", "whistled: the district departments are on it", "Daxigou Subdistrict")
    closed = whistle_closed(whistled, WhistleClosed(whistle_id="w-1", street_code="daxigou", confirmed_by="赵敏",
                                                    evidence=EVIDENCE, closed_at=minutes(99),
                                                    occurred_at=minutes(99))).state
    done = service_request(closed, REFERENCE, minutes(99))
    assert (done["status"], done["status_notes"], done["updated_datetime"]) == ("closed", "经吹哨处置，已办结",
                                                                                "2025-03-14T03:09:00Z")
    assert not check_requests([opened, during, done])


def test_the_query_defaults_to_the_last_90_days_of_every_status():
    query = parse_query({}, T0)
    assert (query.start, query.end, query.ids, query.limit) == (T0 - MAX_SPAN, T0, None, 1000)
    assert query.statuses == STATUSES["open"] + STATUSES["closed"]
    chosen = parse_query({"status": "closed", "service_code": "noise,illegal_ads",
                          "service_request_id": "e-1, e-2", "start_date": "2025-03-01T00:00:00+08:00"}, T0)
    assert chosen.statuses == ("closed",) and chosen.service_codes == ("noise", "illegal_ads")
    assert chosen.ids == ("e-1", "e-2") and chosen.end - chosen.start == MAX_SPAN


@pytest.mark.parametrize("args, says", [
    ({"status": "pending"}, "status: 'pending' is neither open nor closed"),
    ({"start_date": "2025-03-01"}, "start_date: must be a w3 datetime with its time zone"),
    ({"end_date": "2025-03-01T00:00:00"}, "end_date: must be a w3 datetime with its time zone"),
    ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"}, "may not span more than 90 days"),
    ({"start_date": "2025-03-02T00:00:00Z", "end_date": "2025-03-01T00:00:00Z"}, "end_date: before start_date"),
])
def test_bad_queries_are_400_naming_the_argument(args, says):
    with pytest.raises(Open311Error) as error:
        parse_query(args, T0)
    assert error.value.status == 400 and says in error.value.body[0]["description"]
    assert not check_errors(error.value.body, 400)


def test_the_query_window_is_measured_from_the_dates_given():
    query = parse_query({"end_date": "2025-03-10T00:00:00Z"}, T0)
    assert query.end - query.start == timedelta(days=90)
