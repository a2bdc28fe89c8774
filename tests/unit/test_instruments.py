"""The metrics service's instruments: bucket bounds exactly at the deadlines in force, bounded labels."""
from __future__ import annotations

import yaml
from prometheus_client import REGISTRY

import services.metrics.instruments as m
from services.common.reference import DEFAULT_PATH, load_reference, parse_reference


def test_every_clock_deadline_is_a_bucket_bound():
    reference = load_reference()
    for level in reference.urgencies.values():
        check_in = level.check_in.as_timedelta().total_seconds()
        assert check_in in m.CHECKIN_BUCKETS
        for tier in reference.escalation:               # when a missed check-in reaches each tier
            assert check_in + tier.after.as_timedelta().total_seconds() in m.CHECKIN_BUCKETS
        assert level.arrival.as_timedelta().total_seconds() in m.ARRIVAL_BUCKETS
        completion = level.completion.as_timedelta()
        if completion is not None:                      # working days have no fixed length
            assert completion.total_seconds() in m.COMPLETION_BUCKETS
            assert completion.total_seconds() in m.CLOSURE_BUCKETS
    assert 24 * 3600 in m.CHECKIN_BUCKETS               # 24小时签收率
    assert 1800 in m.CHECKIN_BUCKETS and 7200 in m.COMPLETION_BUCKETS
    assert list(m.COMPLETION_BUCKETS) == sorted(set(m.COMPLETION_BUCKETS))


def test_buckets_follow_another_district_s_deadlines():
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["urgencies"]["urgent"]["check_in"] = "50m"
    data["urgencies"]["normal"]["completion"] = "36h"
    other = parse_reference(yaml.safe_dump(data, allow_unicode=True))
    assert 3000 in m.deadline_buckets(other, ["check_in"])
    assert 3000 not in m.deadline_buckets(load_reference(), ["check_in"])
    assert 36 * 3600 in m.deadline_buckets(other, ["completion"])
    assert 7 * 86400 in m.deadline_buckets(other, ["completion"], days=True)


def test_no_instrument_is_labelled_by_an_id():
    labelled = 0
    for collector in list(REGISTRY._collector_to_names):
        for name in getattr(collector, "_labelnames", ()):
            labelled += 1
            assert not name.endswith("_id") and name not in ("id", "whistle", "callout", "officer"), name
    assert labelled > 20
