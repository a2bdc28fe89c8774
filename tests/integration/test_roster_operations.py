"""Planned joint operations (常态化联合执法) with the roster (and the whistle service) as their own processes: an
occurrence about to start gets its team once (a restart forms no second one), each member is told on the
department's `planned` key with the operation's start and checks in, the team's assembly is no whistle's
business (nothing dead-lettered), and the team is released when the occurrence is over."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml

from services.common.auth.principals import Kind
from services.common.reference import DEFAULT_PATH
from services.department_client import DepartmentClient
from services.roster.officers import CHINA
from tests.support.bus import dead_letters
from tests.support.tokens import Tokens

pytestmark = pytest.mark.integration
LEAD_SECONDS, LASTS_SECONDS = 15, 5          # the occurrence starts this long after the roster is prepared


@pytest.fixture(scope="module")
def starts():
    return (datetime.now(timezone.utc) + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return Tokens(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module", autouse=True)
def roster(stack, tmp_path_factory, starts, tokens):
    data = yaml.safe_load(DEFAULT_PATH.with_name("roster.yaml").read_text(encoding="utf-8"))
    data["operations"] = [{
        "code": "daxigou-evening-vending", "name_zh": "滨江路夜市占道经营整治", "name_en": "Binjiang Road night market",
        "organiser": "daxigou", "category": "street_vending", "lead": "chengguan", "support": ["shichang"],
        "starts": starts.astimezone(CHINA).replace(tzinfo=None).isoformat(), "recurrence": "FREQ=DAILY",
        "duration": f"PT{LASTS_SECONDS}S", "street": "daxigou", "community": "daxigou-c1"}]
    path = tmp_path_factory.mktemp("roster") / "roster.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    stack.extra_env.update({"ROSTER_DATA": str(path), "ROSTER_SWEEP_SECONDS": "0.3",
                            "CHUISHAO_AUTH_DIR": str(tokens.root)})


def test_an_operation_about_to_start_gets_one_team_released_when_it_is_over(stack, bus, starts, tokens):
    chengguan = bus.listen("assignments", "*.chengguan.#")
    shichang = bus.listen("assignments", "*.shichang.#")
    assembled = bus.listen("events", "team.assembled")
    stack.start("whistle", "roster")
    member, _, method = chengguan.get(predicate=lambda p: p["type"] == "team.officer_assigned")
    assert method.routing_key == "assignment.chengguan.planned"
    assert (member["kind"], member["operation_code"], member["whistle_id"]) == ("operation", "daxigou-evening-vending",
                                                                               None)
    assert member["occurrence_id"] == f"daxigou-evening-vending-{starts.astimezone(CHINA):%Y%m%dT%H%M}"
    assert datetime.fromisoformat(member["starts_at"].replace("Z", "+00:00")) == starts
    assert datetime.fromisoformat(member["check_in_by"].replace("Z", "+00:00")) == starts + timedelta(minutes=30)
    assert member["description"] == "滨江路夜市占道经营整治"

    stack.processes["roster"].stop()                # formed once: a restart forms no second team
    stack.start("roster")
    assert chengguan.nothing_more(settle=2.0)
    team = requests.get(f"{stack.url('roster')}/api/v1/teams/{member['team_id']}",
                        headers=tokens.bearer(Kind.DEPARTMENT, "shichang"), timeout=5).json()
    assert team["departments"] == ["chengguan", "shichang"] and team["urgency"] == "planned"
    other, _, _ = shichang.get(predicate=lambda p: p["type"] == "team.officer_assigned")
    for code, who in (("chengguan", member), ("shichang", other)):
        with DepartmentClient(stack.amqp_uri, code, namespace=stack.namespace) as client:
            assert client.member_check_in(who["team_id"], who["officer"]["officer_code"]).outcome == "accepted"
    on_site, _, _ = assembled.get(predicate=lambda p: p["team_id"] == member["team_id"])
    assert (on_site["kind"], on_site["whistle_id"], on_site["gaps"]) == ("operation", None, [])

    released, _, _ = chengguan.get(timeout=LEAD_SECONDS + LASTS_SECONDS + 20,
                                   predicate=lambda p: p["type"] == "team.released")
    assert released["whole"] is True and released["team_id"] == member["team_id"]
    assert datetime.fromisoformat(released["released_at"].replace("Z", "+00:00")) >= starts + timedelta(
        seconds=LASTS_SECONDS)
    assert dead_letters(bus) == []          # the whistle service passed the operation's team events over
