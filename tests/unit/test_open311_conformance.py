"""The GeoReport v2 conformance check itself: it passes the spec's own JSON examples and catches each kind of
deviation, so a pass against the real endpoints means something."""
from __future__ import annotations

import pytest

from tests.support.open311_conformance import (check_content_type, check_discovery, check_errors,
                                               check_post_response, check_requests, check_service_definition,
                                               check_services)

# the spec's examples (https://wiki.open311.org/GeoReport_v2), its JSON leading-zero codes written as strings
SERVICE = {"service_code": "001", "service_name": "Cans left out 24x7",
           "description": "Garbage or recycling cans that have been left out for more than 24 hours.",
           "metadata": True, "type": "realtime", "keywords": "lorem, ipsum, dolor", "group": "sanitation"}
DEFINITION = {"service_code": "DMV66", "attributes": [
    {"variable": True, "code": "WHISHETN", "datatype": "singlevaluelist", "required": True,
     "datatype_description": None, "order": 1, "description": "What is the ticket/tag/DL number?",
     "values": [{"key": 123, "name": "Ford"}, {"key": 124, "name": "Chrysler"}]}]}
POSTED = {"service_request_id": 293944, "service_notice": "The City will inspect within 24 hours", "account_id": None}
REQUEST = {"service_request_id": 638344, "status": "closed", "status_notes": "Duplicate request.",
           "service_name": "Sidewalk and Curb Issues", "service_code": "006", "description": None,
           "agency_responsible": None, "service_notice": None, "requested_datetime": "2010-04-14T06:37:38-08:00",
           "updated_datetime": "2010-04-14T06:37:38-08:00", "expected_datetime": "2010-04-15T06:37:38-08:00",
           "address": "8TH AVE and JUDAH ST", "address_id": 545483, "zipcode": 94122, "lat": 37.762221815,
           "long": -122.4651145, "media_url": "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg"}
ERROR = [{"code": 403, "description": "Invalid api_key received -- can't proceed with create_request."}]


def test_the_specs_own_examples_conform():
    assert check_services([SERVICE, {**SERVICE, "service_code": "002"}]) == []
    assert check_service_definition(DEFINITION) == []
    assert check_post_response([POSTED]) == []
    assert check_post_response([{"token": 12345}]) == []
    assert check_requests([REQUEST]) == []
    assert check_errors(ERROR, 403) == []
    assert check_content_type("application/json; charset=utf-8") == []


@pytest.mark.parametrize("service, problem", [
    ({"metadata": "true"}, "services[0].metadata: must be bool, not str"),
    ({"type": "instant"}, "services[0].type: 'instant' is not one of realtime, batch, blackbox"),
    ({"service_name": None}, "services[0].service_name: must be str, not NoneType"),
    ({"colour": "red"}, "services[0]: foreign field 'colour'"),
])
def test_a_bad_service_is_caught(service, problem):
    assert problem in check_services([{**SERVICE, **service}])


def test_missing_fields_duplicate_codes_and_a_non_array_are_caught():
    without = {k: v for k, v in SERVICE.items() if k != "service_code"}
    assert "services[0].service_code: missing" in check_services([without])
    assert "services: service_code '001' appears twice" in check_services([SERVICE, SERVICE])
    assert check_services({"services": []}) == ["services: the body must be a JSON array"]


@pytest.mark.parametrize("request_, problem", [
    ({"status": "pending"}, "service_requests[0].status: 'pending' is neither open nor closed"),
    ({"requested_datetime": "2010-04-14 06:37:38"}, "service_requests[0].requested_datetime: '2010-04-14 06:37:38' "
                                                    "is not a w3 datetime with its time zone"),
    ({"updated_datetime": "2010-04-14T06:37:38"}, "service_requests[0].updated_datetime: '2010-04-14T06:37:38' "
                                                  "is not a w3 datetime with its time zone"),
    ({"lat": "37.7"}, "service_requests[0].lat: must be int/float/null, not str"),
    ({"long": 200.0}, "service_requests[0].long: 200.0 is out of range"),
    ({"lat": None}, "service_requests[0]: lat and long come together"),
    ({"description": "x" * 4001}, "service_requests[0].description: longer than 4000 characters"),
    ({"service_request_id": True}, "service_requests[0].service_request_id: must be str/int, not bool"),
])
def test_a_bad_service_request_is_caught(request_, problem):
    assert problem in check_requests([{**REQUEST, **request_}])


def test_a_post_answer_with_both_or_neither_id_and_token_is_caught():
    assert "service_requests[0]: exactly one of service_request_id and token" in check_post_response(
        [{**POSTED, "token": "t-1"}])
    assert "service_requests[0]: exactly one of service_request_id and token" in check_post_response(
        [{"service_notice": None}])
    assert check_post_response([]) == ["service_requests: empty; the created request is missing"]


def test_bad_errors_definitions_discovery_and_content_types_are_caught():
    assert "HTTP 422: errors are 400, 403 or 404" in check_errors(ERROR, 422)
    assert "errors: empty" in check_errors([], 400)
    assert "errors[0].code: must be int, not str" in check_errors([{"code": "403", "description": "x"}], 403)
    assert check_errors({"error": "x"}, 400) == ["errors: the body must be a JSON array"]
    bad_attribute = {**DEFINITION["attributes"][0], "datatype": "colour", "order": 0}
    problems = check_service_definition({"service_code": "X", "attributes": [bad_attribute]})
    assert "attributes[0].datatype: 'colour' is not a GeoReport datatype" in problems
    assert "attributes[0].order: must be a positive integer" in problems
    assert "discovery.endpoints: missing" in check_discovery({"changeset": "x", "contact": "y"})
    assert check_content_type("text/html") == ["Content-Type 'text/html' is not application/json"]
    assert check_content_type("application/json; charset=latin-1") == [
        "Content-Type 'application/json; charset=latin-1': the charset must be UTF-8"]
