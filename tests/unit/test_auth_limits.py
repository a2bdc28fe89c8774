"""Write buckets per principal and bounded pages: pure, with the clock passed in."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.auth.pagination import PageError, PageRequest, encode_cursor, page_request, paginate
from services.common.auth.ratelimit import Rate, TokenBuckets, retry_after_header


def test_a_bucket_allows_a_burst_then_one_write_per_refill_interval():
    buckets = TokenBuckets(Rate(per_minute=30, burst=2))        # one every 2 s
    assert buckets.take("street:daxigou", 0.0) == 0.0
    assert buckets.take("street:daxigou", 0.0) == 0.0
    assert buckets.take("street:daxigou", 0.0) == pytest.approx(2.0)
    assert buckets.take("street:daxigou", 1.0) == pytest.approx(1.0)     # half a token back: wait the rest
    assert buckets.take("street:nanxiashu", 1.0) == 0.0                 # buckets are per principal
    assert buckets.take("street:daxigou", 2.0) == 0.0
    assert buckets.take("street:daxigou", 100.0) == 0.0 and buckets.take("street:daxigou", 100.0) == 0.0
    assert buckets.take("street:daxigou", 100.0) > 0                    # refills to the burst, no further


def test_buckets_are_bounded_in_number():
    buckets = TokenBuckets(Rate(per_minute=60, burst=1), max_keys=3)
    for i in range(10):
        buckets.take(f"department:d{i}", 0.0)
    assert len(buckets._buckets) == 3


@given(st.lists(st.floats(min_value=0, max_value=3600), min_size=1, max_size=60))
def test_never_more_writes_than_the_burst_plus_the_refill(times):
    rate = Rate(per_minute=60, burst=5)
    buckets = TokenBuckets(rate)
    times = sorted(times)
    allowed = sum(1 for t in times if buckets.take("k", t) == 0.0)
    assert allowed <= rate.burst + (times[-1] - times[0]) * rate.per_minute / 60 + 1e-9


def test_retry_after_is_whole_seconds_rounded_up_and_a_rate_must_make_sense():
    assert retry_after_header(0.2) == "1" and retry_after_header(2.01) == "3"
    with pytest.raises(ValueError):
        Rate(per_minute=0, burst=1)
    with pytest.raises(ValueError, match="WRITE_RATE_PER_MINUTE"):
        Rate.from_env({"WRITE_RATE_PER_MINUTE": "lots"})
    assert Rate.from_env({}) == Rate(60, 20)


def test_page_requests_are_bounded_and_name_the_bad_parameter():
    assert page_request({}) == PageRequest(50, None)
    assert page_request({"limit": "200"}).limit == 200
    assert page_request({"cursor": encode_cursor("a07")}).after == "a07"
    for args, field in (({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "1.5"}, "limit"),
                        ({"cursor": "%%%"}, "cursor"), ({"cursor": encode_cursor("x") + "A" * 600}, "cursor"),
                        ({"cursor": "eyJhZnRlciI6IDF9"}, "cursor")):          # {"after": 1}
        with pytest.raises(PageError) as caught:
            page_request(args)
        assert caught.value.field == field


@given(st.sets(st.text(alphabet="abcdef0123", min_size=1, max_size=4), max_size=40), st.integers(1, 7))
def test_paging_through_a_list_yields_every_row_once_in_order(keys, limit):
    seen, cursor = [], None
    while True:
        page = paginate(list(keys), str, PageRequest(limit, cursor))
        assert len(page.items) <= limit
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page_request({"cursor": page.next_cursor}).after
    assert seen == sorted(keys)
