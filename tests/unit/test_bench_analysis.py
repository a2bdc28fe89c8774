"""The bench's arithmetic: the ramp's knee, ratios, CPU per whistle, replica factors, what was left behind."""
import math

from bench.analysis import KneeSearch, cpu_per_whistle, left_behind, ratio, replica_factor

# ---------------------------------------------------------------------------- the knee

def test_a_ramp_that_keeps_up_has_its_last_rate_as_knee():
    search = KneeSearch(p99_limit_ms=1000)
    assert all(search.check(rate, 50.0, 3) for rate in (5, 10, 15, 20))
    assert search.knee == 20
    assert search.reason is None


def test_p99_above_the_limit_stops_the_ramp_and_the_knee_is_the_rate_before():
    search = KneeSearch(p99_limit_ms=1000)
    assert search.check(5, 40.0, 1)
    assert search.check(10, 900.0, 2)
    assert not search.check(15, 1000.1, 3)
    assert search.knee == 10
    assert "15/s" in search.reason and "p99" in search.reason
    assert not search.check(20, 10.0, 0)          # once stopped, it stays stopped
    assert search.knee == 10


def test_a_first_interval_already_too_slow_leaves_no_knee():
    search = KneeSearch(p99_limit_ms=1000)
    assert not search.check(5, 2000.0, 0)
    assert search.knee is None


def test_the_backlog_growing_two_intervals_running_stops_the_ramp():
    search = KneeSearch(p99_limit_ms=10_000)
    assert search.check(20, 100.0, 0)
    assert search.check(40, 100.0, 21)            # grew by 21 > max(5, 20): once
    assert not search.check(60, 100.0, 52)        # grew by 31 > max(5, 30): twice running
    assert search.knee == 40
    assert "backlog grew" in search.reason and "60/s" in search.reason


def test_growth_that_stops_resets_the_count():
    search = KneeSearch(p99_limit_ms=10_000)
    assert search.check(20, 100.0, 0)
    assert search.check(40, 100.0, 30)            # grew
    assert search.check(60, 100.0, 30)            # flat: reset
    assert search.check(80, 100.0, 80)            # grew once more: only once running
    assert search.knee == 80


def test_growth_of_at_most_half_a_second_of_load_or_five_whistles_is_not_growth():
    search = KneeSearch(p99_limit_ms=10_000)
    assert search.check(4, 1.0, 0)
    assert search.check(4, 1.0, 5)                # +5 = max(5, 2): not more than, not growth
    assert search.check(4, 1.0, 10)
    assert search.check(100, 1.0, 60)             # +50 = half of 100/s: not growth
    assert search.check(100, 1.0, 110)
    assert search.reason is None


# ---------------------------------------------------------------------------- ratios

def test_ratio_divides_and_refuses_what_cannot_be_divided():
    assert ratio(75.0, 7.5) == 10.0
    assert ratio(30, 150) == 0.2
    assert ratio(3.0, 0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None
    assert ratio(math.nan, 2.0) is None
    assert ratio(2.0, math.nan) is None


# ---------------------------------------------------------------------------- CPU per whistle

def cost(whistles, **ms):
    return {"whistles": whistles, "rate": 10.0, "cpu_ms_per_whistle": ms}


def test_cpu_per_whistle_averages_the_warmups_and_leaves_the_bench_out_of_the_pipeline():
    result = cpu_per_whistle([cost(50, dispatcher=3.0, rabbitmq=5.0, bench=2.0),
                              cost(48, dispatcher=5.0, rabbitmq=7.0, bench=4.0)])
    assert result["groups"] == {"dispatcher": 4.0, "rabbitmq": 6.0, "bench": 3.0}
    assert result["pipeline"] == 10.0
    assert result["whistles"] == 98
    assert result["stacks"] == 2
    assert result["rate"] == 10.0


def test_a_group_measured_in_some_warmups_only_is_averaged_over_those():
    result = cpu_per_whistle([cost(50, whistle=10.0, postgres=4.0), cost(50, whistle=20.0)])
    assert result["groups"] == {"whistle": 15.0, "postgres": 4.0}
    assert result["pipeline"] == 19.0


def test_no_usable_warmup_means_no_cpu_figure():
    assert cpu_per_whistle([]) is None
    assert cpu_per_whistle([None, cost(0, whistle=1.0)]) is None


# ---------------------------------------------------------------------------- replicas

def test_the_replica_factor_compares_knees_and_the_rates_both_rounds_ran():
    one = {"ramp": {"knee": 20}, "steps": [{"rate": 50, "whistles_per_s": 20.0},
                                            {"rate": 200, "whistles_per_s": 25.0}]}
    two = {"ramp": {"knee": 35}, "steps": [{"rate": 200, "whistles_per_s": 40.0},
                                            {"rate": 400, "whistles_per_s": 41.0}]}
    factor = replica_factor(one, two)
    assert factor["knee"] == 1.75
    assert factor["rates"] == {200: 1.6}


def test_without_ramps_or_with_a_knee_below_the_first_step_there_is_no_knee_factor():
    assert replica_factor({"ramp": None, "steps": []}, {"ramp": None, "steps": []}) == {"knee": None, "rates": {}}
    assert replica_factor({"ramp": {"knee": None}, "steps": []}, {"ramp": {"knee": 10}, "steps": []})["knee"] is None


# ---------------------------------------------------------------------------- left behind

def test_left_behind_names_only_what_is_not_zero():
    assert left_behind({"queued": 0, "department_queued": 0, "outbox_unsent": {"whistle": 0, "dispatch": 0},
                        "deadletters": 0}, 0) == {}
    assert left_behind({"queued": 3, "department_queued": 0, "outbox_unsent": {"whistle": 2, "dispatch": 5},
                        "deadletters": 1}, 4) == {"unfinished whistles": 4, "service queues": 3,
                                                  "unsent outbox rows": 7, "dead letters": 1}


def test_a_pipeline_without_outbox_or_dead_letters_leaves_nothing_there():
    assert left_behind({"queued": 0, "department_queued": 0, "outbox_unsent": {}, "deadletters": None}, 0) == {}
