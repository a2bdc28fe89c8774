"""Who took an action: a bus command's verified sender, and the principal on the whistle's timeline lines."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.common.attribution import actor, sender_record, stamp_sender
from services.common.auth.principals import Kind
from services.common.events import (Actor, CalloutCheckedIn, CalloutEscalated, CheckIn, ContractError, RaiseWhistle,
                                    parse)
from services.common.settings import load_settings
from services.whistle.domain import timeline_entries
from tests.support.samples import whistle_request

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)


def settings(**env):
    return load_settings("dispatch", env)


def report() -> CheckIn:
    return CheckIn(callout_id="c-1", department_code="chengguan", officer="王建国")


def test_without_the_sender_check_nobody_vouches_for_a_bus_sender():
    assert sender_record(settings(), Kind.DEPARTMENT, "chengguan", report()) is None


def test_the_broker_user_the_bus_stamped_is_the_sender_with_or_without_the_sender_check():
    for check in (settings(), settings(SENDER_CHECK="user_id")):
        stamped = report()
        stamp_sender(stamped, "dept-chengguan")
        assert sender_record(check, Kind.DEPARTMENT, "chengguan", stamped) == {
            "kind": "department", "code": "chengguan", "token_id": "amqp:dept-chengguan"}
        raised = parse(RaiseWhistle, whistle_request())
        stamp_sender(raised, "street-daxigou")
        assert sender_record(check, Kind.STREET, "daxigou", raised) == {
            "kind": "street", "code": "daxigou", "token_id": "amqp:street-daxigou"}
        assert sender_record(check, Kind.STREET, "daxigou", parse(RaiseWhistle, whistle_request())) is None


def test_with_superusers_an_unstamped_sender_is_not_guessed_and_a_stamped_one_is_named():
    check = settings(SENDER_CHECK="user_id", SENDER_SUPERUSERS="ops-duty")
    assert sender_record(check, Kind.DEPARTMENT, "chengguan", report()) is None     # it may be a replay
    replayed = report()
    stamp_sender(replayed, "ops-duty")
    assert sender_record(check, Kind.DEPARTMENT, "chengguan", replayed) == {
        "kind": "operator", "code": "duty", "token_id": "amqp:ops-duty"}
    own = report()
    stamp_sender(own, "dept-chengguan")
    assert sender_record(check, Kind.DEPARTMENT, "chengguan", own)["token_id"] == "amqp:dept-chengguan"
    guest = report()
    stamp_sender(guest, "guest")                       # an account that speaks for no principal
    assert sender_record(check, Kind.DEPARTMENT, "chengguan", guest) is None


def test_the_stamp_never_reaches_the_wire_and_cannot_be_sent():
    stamped = report()
    stamp_sender(stamped, "dept-chengguan")
    assert "sent_by" not in stamped.model_dump_json() and "dept-chengguan" not in stamped.model_dump_json()
    forged = {**report().model_dump(mode="json"), "_sent_by": "dept-chengguan"}
    with pytest.raises(ContractError, match="_sent_by: unexpected field"):
        parse(CheckIn, forged)


def checked_in(by: Actor | None) -> CalloutCheckedIn:
    return CalloutCheckedIn(callout_id="c-1", whistle_id="w-1", department_code="chengguan", street_code="daxigou",
                            category="illegal_construction", urgency="urgent", issued_at=NOW, officer="王建国",
                            checked_in_at=NOW + timedelta(minutes=5), check_in_by=NOW + timedelta(minutes=30),
                            on_time=True, by=by)


def test_a_line_names_the_principal_of_its_event_and_only_when_there_is_one():
    desk = actor({"kind": "department", "code": "chengguan", "token_id": "t-1"})
    [line] = timeline_entries(checked_in(desk))
    assert line.detail["principal"] == {"kind": "department", "code": "chengguan", "token_id": "t-1"}
    assert line.actor == "chengguan" and line.detail["officer"] == "王建国"
    [unverified] = timeline_entries(checked_in(None))
    assert "principal" not in unverified.detail
    swept = CalloutEscalated(callout_id="c-1", whistle_id="w-1", department_code="chengguan", street_code="daxigou",
                             category="illegal_construction", urgency="urgent", issued_at=NOW, step="check_in",
                             due_at=NOW, level=1, tier="street", chased_by="daxigou", chased_by_name_zh="街道",
                             escalated_at=NOW)
    assert "principal" not in timeline_entries(swept)[0].detail
    assert actor(None) is None


def test_actor_kinds_are_the_principal_kinds():
    from typing import get_args

    from services.common.events import ActorKind
    assert set(get_args(ActorKind)) == {kind.value for kind in Kind}
