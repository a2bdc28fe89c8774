"""Officers: the checks against the reference codes and the other officers, postings, and 双长制 pairs."""
from __future__ import annotations

from datetime import date

import pytest

from services.common.events import ContractError, parse
from services.roster.errors import InvalidRoster
from services.roster.officers import (COMMUNITY, ELSEWHERE, GRID, STREET, ChiefPair, Posting, check_officer,
                                      check_pairs, chiefs_of, pairs_of, posting_rank, register, update)
from tests.unit.roster_samples import CODES, by_code, officer

TODAY = date(2025, 3, 14)


def test_a_good_officer_registers():
    new = officer("cg-01", postings=(("grid", "daxigou-c1-g1"), ("street", "nanxiashu")))
    assert register(new, CODES, TODAY, {}) == new


def test_every_bad_field_is_named():
    bad = officer("cg-01", "nosuch", qualifications=("illegal_construction", "flying", "illegal_construction"),
                  postings=(("grid", "daxigou"), ("street", "atlantis")), expires=date(2025, 3, 13))
    errors = {e.field: e.message for e in check_officer(bad, CODES, TODAY, ())}
    assert errors == {
        "department": "unknown department 'nosuch'",
        "qualifications.1": "unknown category 'flying'",
        "qualifications.2": "category 'illegal_construction' is listed twice",
        "postings.0.code": "unknown grid 'daxigou'",
        "postings.1.code": "unknown street 'atlantis'",
        "certificate.expires_on": "enforcement certificate C-cg-01 expired on 2025-03-13",
    }


def test_a_certificate_expiring_today_is_still_valid():
    assert check_officer(officer("cg-01", expires=TODAY), CODES, TODAY, ()) == []


def test_codes_badges_and_certificate_numbers_are_unique():
    existing = by_code(officer("cg-01", badge="CG0001", certificate="50-CG-1"))
    with pytest.raises(InvalidRoster) as caught:
        register(officer("cg-01", badge="CG0001", certificate="50-CG-1"), CODES, TODAY, existing)
    assert [e.field for e in caught.value.errors] == ["code", "badge", "certificate.number"]


def test_an_update_keeps_the_code_and_department():
    existing = by_code(officer("cg-01"), officer("cg-02", badge="CG0002"))
    assert update(officer("cg-01", active=False), CODES, TODAY, existing).active is False
    with pytest.raises(InvalidRoster) as caught:
        update(officer("cg-01", badge="CG0002"), CODES, TODAY, existing)
    assert [e.field for e in caught.value.errors] == ["badge"]
    with pytest.raises(InvalidRoster, match="transfer"):
        update(officer("cg-01", "gongan"), CODES, TODAY, existing)
    with pytest.raises(InvalidRoster) as caught:
        update(officer("cg-99"), CODES, TODAY, existing)
    assert caught.value.errors[0].field == "code"


@pytest.mark.parametrize("body, field", [
    ({"code": "Bad Code"}, "code"),
    ({"certificate": {"number": "x", "expires_on": "someday"}}, "certificate.expires_on"),
    ({"qualifications": []}, "qualifications"),
    ({"postings": [{"level": "district", "code": "demo"}]}, "postings.0.level"),
    ({"shifts": ["day"]}, "shifts"),
])
def test_malformed_officer_fields_are_named(body, field):
    data = {**officer("cg-01").model_dump(mode="json"), **body}
    with pytest.raises(ContractError) as caught:
        parse(type(officer("x")), data)
    assert field in [e.field for e in caught.value.errors]


@pytest.mark.parametrize("postings, rank", [
    ((("grid", "daxigou-c1-g1"),), GRID),
    ((("grid", "daxigou-c1-g2"),), COMMUNITY),
    ((("community", "daxigou-c1"),), COMMUNITY),
    ((("community", "daxigou-c2"),), STREET),
    ((("street", "daxigou"),), STREET),
    ((("street", "nanxiashu"),), ELSEWHERE),
    ((), ELSEWHERE),
    ((("street", "nanxiashu"), ("grid", "daxigou-c1-g1")), GRID),
])
def test_posting_rank(postings, rank):
    case = CODES.place("grid", "daxigou-c1-g1")
    assert posting_rank(officer("cg-01", postings=postings), case, CODES) == rank


def test_posting_rank_for_a_case_known_only_by_street_or_not_at_all():
    street = CODES.place("street", "daxigou")
    assert posting_rank(officer("a", postings=(("grid", "daxigou-c1-g1"),)), street, CODES) == STREET
    assert posting_rank(officer("a", postings=(("grid", "daxigou-c1-g1"),)), None, CODES) == ELSEWHERE


# --- 双长制 --------------------------------------------------------------------------------------

def pair(**more) -> ChiefPair:
    body = dict(kind="street", street="daxigou", cadre="cg-01", leader_name="陈红梅", leader_title="街道办副主任",
                leader_contact="13900000000")
    return ChiefPair(**{**body, **more})


def test_pairs_are_recorded_and_found_by_street_road_and_officer():
    pairs = (pair(), pair(kind="road", road="滨江路", cadre="cg-02"), pair(street="nanxiashu"))
    officers = by_code(officer("cg-01"), officer("cg-02"))
    assert check_pairs(pairs, officers, CODES) == []
    assert [p.cadre for p in chiefs_of(pairs, "daxigou")] == ["cg-01"]
    assert [p.cadre for p in chiefs_of(pairs, "daxigou", "滨江路")] == ["cg-02"]
    assert [p.street for p in pairs_of(pairs, "cg-01")] == ["daxigou", "nanxiashu"]


def test_bad_pairs_are_named():
    officers = by_code(officer("cg-01"), officer("ga-01", "gongan"), officer("cg-09", active=False))
    pairs = (pair(street="atlantis"), pair(kind="road", road="一路", cadre="ga-01"),
             pair(kind="road", road="二路", cadre="nobody"), pair(kind="road", road="三路", cadre="cg-09"),
             pair(), pair())
    errors = {e.field: e.message for e in check_pairs(pairs, officers, CODES)}
    assert set(errors) == {"0.street", "1.cadre", "2.cadre", "3.cadre", "5"}
    assert "not a city-management department" in errors["1.cadre"] and "inactive" in errors["3.cadre"]
    with pytest.raises(ContractError) as caught:
        parse(ChiefPair, {**pair().model_dump(), "kind": "road"})
    assert caught.value.errors[0].field == "road"
    with pytest.raises(ContractError):
        parse(ChiefPair, {**pair().model_dump(), "road": "滨江路"})


def test_posting_model_rejects_an_unknown_level():
    with pytest.raises(ContractError):
        parse(Posting, {"level": "city", "code": "x"})
