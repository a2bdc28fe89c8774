"""The assessment over the read model: the facts read back from it are the facts folded from the raw
events; bad periods, instants, formats, languages and decisions are refused naming the field."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine

from services.common.errors import Invalid, NotFound
from services.common.events import FollowUpRecorded, RecordDecision, WhistleReopened
from services.common.uow import UnitOfWork
from services.metrics import assessing, handlers, period_facts
from services.metrics.assessment import Period, assess
from services.metrics.assessment.export import as_dict
from services.metrics.assessment.from_events import facts_from_events
from services.metrics.orm import metadata
from tests.unit.assessment_samples import context
from tests.unit.test_metrics_readmodel import (T0, arrived, checked_in, closed, completed, escalated, issue,
                                               returned, whistle)

NOVEMBER = Period.parse("2026-11")


def events() -> list:
    out = []
    for k in range(8):
        wid, at = f"w{k}", T0 + timedelta(hours=k)
        i = issue(wid, departments=("chengguan", "huanwei"), at=at)
        out += [whistle(wid, at, street=("daxigou", "nanxiashu")[k % 2]), i,
                checked_in(i, timedelta(minutes=10 + 10 * (k % 3)))]
        if k % 3 == 0:
            out += [escalated(i, n=1), escalated(i, tier="district", n=1)]
        else:
            out += [returned(i, timedelta(minutes=20), 1, rerouted_to="shengtai")]
        out += [arrived(i, timedelta(minutes=25)), completed(i, timedelta(hours=2)),
                closed(wid, at + timedelta(hours=3))]
        if k % 4 == 1:
            out += [FollowUpRecorded(whistle_id=wid, street_code="nanxiashu", rating="unsatisfied", comment=None,
                                     recorded_by="回访员", reopened=True, occurred_at=at + timedelta(hours=4)),
                    WhistleReopened(whistle_id=wid, street_code="nanxiashu", reason="不满意",
                                    reopened_at=at + timedelta(hours=4), occurred_at=at + timedelta(hours=4))]
    return out


EVENTS = events()      # one set of event ids for the read model and the fold alike


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    metadata.create_all(engine)
    with engine.connect() as conn:
        uow = UnitOfWork(conn, T0)
        handlers.record(uow, EVENTS)
        conn.commit()
    return engine


def ordered(facts):
    return {kind: sorted(getattr(facts, kind), key=repr)
            for kind in ("callouts", "returns", "escalations", "whistles", "follow_ups", "decisions")}


def test_the_facts_read_back_are_the_facts_folded_from_the_events(engine):
    as_of = T0 + timedelta(days=3)
    with engine.connect() as conn:
        stored = period_facts.load(conn, NOVEMBER, as_of)
    folded = facts_from_events(EVENTS)
    assert ordered(stored) == ordered(folded)
    assert len(stored.callouts) == 16 and len(stored.escalations) == 6 and len(stored.follow_ups) == 2
    ctx = context()
    assert as_dict(assess(stored, NOVEMBER, as_of, ctx)) == as_dict(assess(folded, NOVEMBER, as_of, ctx))


def test_facts_after_as_of_are_not_read(engine):
    with engine.connect() as conn:
        early = period_facts.load(conn, NOVEMBER, T0 + timedelta(minutes=30))
    assert {w.whistle_id for w in early.whistles} == {"w0"}
    [fact] = [c for c in early.callouts if c.department == "chengguan"]
    assert fact.checked_in_at is not None and fact.completed_at is not None   # the assessment filters the steps


def test_a_decision_is_recorded_about_a_fact_it_holds_and_read_with_the_period(engine):
    with engine.connect() as conn:
        uow = UnitOfWork(conn, T0 + timedelta(days=1))
        command = RecordDecision(kind="exemption", fact_kind="whistle", fact_id="w3", reason="台风红色预警，道路封闭",
                                 decided_by="区考核办 王主任")
        recorded = assessing.record_decision(uow, command, "district:zhangwei")
        with pytest.raises(NotFound) as missing:
            assessing.record_decision(uow, command.model_copy(update={"fact_id": "w99"}), "district:zhangwei")
        with pytest.raises(Invalid) as returned_one:
            assessing.record_decision(uow, command.model_copy(update={"fact_kind": "return"}), "district:zhangwei")
        with pytest.raises(Invalid) as refused:
            assessing.record_decision(uow, command.model_copy(update={"upheld": False}), "district:zhangwei")
        conn.commit()
        facts = period_facts.load(conn, NOVEMBER, T0 + timedelta(days=3))
    assert recorded["fact"] == {"kind": "whistle", "id": "w3"} and recorded["recorded_by"] == "district:zhangwei"
    assert missing.value.errors[0].field == "fact_id"
    assert returned_one.value.errors[0].field == "fact_kind" and refused.value.errors[0].field == "upheld"
    [decision] = facts.decisions
    assert decision.fact.id == "w3" and decision.decided_by == "区考核办 王主任"
    result = assess(facts, NOVEMBER, T0 + timedelta(days=3), context())
    assert [line.effect for line in result.audit] == ["removed"] and len(result.audit[0].removed) > 3


@pytest.mark.parametrize("read, text, field", [
    (assessing.period_of, "2026-13", "period"), (assessing.period_of, "November", "period"),
    (lambda t: assessing.instant_of(t, T0), "yesterday", "as_of"),
    (lambda t: assessing.instant_of(t, T0), "2026-12-01T00:00:00", "as_of"),
    (assessing.language_of, "fr", "lang"), (lambda t: assessing.format_of(t, assessing.FORMATS), "pdf", "format")])
def test_bad_input_is_refused_naming_the_field(read, text, field):
    with pytest.raises(Invalid) as refused:
        read(text)
    assert refused.value.errors[0].field == field


def test_good_input_is_read():
    assert assessing.period_of("2026-q4") == Period("quarter", 2026, 4)
    assert assessing.instant_of("2026-12-01T00:00:00+08:00", T0) == datetime(2026, 11, 30, 16, tzinfo=timezone.utc)
    assert assessing.instant_of(None, T0) == T0
    assert [assessing.language_of(t) for t in (None, "zh_CN", "zh-CN", "en-GB")] == ["zh", "zh", "zh", "en"]
    assert assessing.format_of(None, assessing.FORMATS) == "json"


def test_every_format_renders(engine):
    as_of = T0 + timedelta(days=3)
    with engine.connect() as conn:
        result = assessing.assessment_of(conn, context(), NOVEMBER, as_of)
    ctx = context()
    assert assessing.render(result, ctx, "json", "zh").body["period"] == "2026-11"
    assert assessing.render(result, ctx, "csv", "zh").body.startswith("kind,rank,code")
    markdown = assessing.render(result, ctx, "md", "en", chart_path="ranking.png").body
    assert "ranking.png" in markdown and "Departments" in markdown
    html = assessing.render(result, ctx, "html", "zh")
    assert html.content_type.startswith("text/html") and "<svg" in html.body and "部门排名" in html.body
