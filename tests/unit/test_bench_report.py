"""The report's comparison of the pipelines: which way the ratios go, and what the targets table concludes."""
from bench import report

NAN = float("nan")


def latency(p99):
    return {"n": 10, "p50": p99 / 2, "p95": p99 * 0.9, "p99": p99, "max": p99 * 1.2}


def step(rate, done_per_s, p99_callout, cpu_ms, groups, duration=10.0, left=None, per_whistle=4.0):
    memory = {g: {"peak_mb": 60.0, "now_mb": 55.0, "processes": 1} for g in groups}
    return {
        "step": "r0", "rate": rate, "duration": duration, "sent": int(rate * duration),
        "whistles_per_s": done_per_s, "callouts_per_s": 3 * done_per_s,
        "callout_latency": latency(p99_callout), "all_checked_in_latency": latency(2 * p99_callout),
        "outcome_latency": {"n": 0, "p50": NAN, "p95": NAN, "p99": NAN, "max": NAN},
        "incomplete": 0, "drain_s": 0.5,
        "backlog_end": {"queues": {}, "queued": 0, "department_queued": 0, "outbox_unsent": {}, "deadletters": None},
        "left_behind": left or {}, "outbox_lag": {}, "memory": memory,
        "cpu": {g: 10.0 for g in groups} | {"rabbitmq": 5.0, "bench": 2.0, "_machine": 30.0},
        "pacer_max_lag_ms": 1.0,
        "bus": {"published": int(per_whistle * rate * duration), "per_s": per_whistle * rate,
                "per_whistle": per_whistle, "by_type": {"RaiseWhistle (bench)": int(rate * duration)}},
        "warmup_cost": {"whistles": 50, "rate": 10.0,
                        "cpu_ms_per_whistle": {groups[0]: cpu_ms - 5.0, "rabbitmq": 5.0, "bench": 1.0}},
    }


def ramp(knee):
    return {"segments": [{"rate": 5, "sent": 25, "completed": 25, "whistles_per_s": 5.0,
                          "callout_latency": latency(10), "all_checked_in_latency": latency(20),
                          "outstanding_at_check": 0}],
            "knee": knee, "stopped": "p99", "interval": 5, "max_whistles_per_s": 5.0, "memory": {}}


REAL = ["whistle", "dispatch", "roster", "metrics"]
NAIVE = ["dispatcher", "dept-a", "dept-b", "dept-c"]


def results(rounds):
    return {"meta": {"started": "now", "commit": "abc", "cpus": 2, "memory_gb": 8, "amqp": "127.0.0.1:5672",
                     "python": "3.11", "rates": [100, 200], "duration": 10, "categories": ["x"], "fanout": 3.0},
            "ceiling": None, "rounds": rounds, "notes": []}


def rnd(db, pipeline, steps, knee=None, replicas=1):
    return {"db": db, "pipeline": pipeline, "replicas": replicas, "groups": REAL if pipeline == "real" else NAIVE,
            "steps": steps, "ramp": ramp(knee) if knee is not None else None}


def line(markdown, starts):
    return next(row for row in markdown.splitlines() if row.startswith(starts))


def target(markdown, db):
    return line(markdown.split("## Against the targets")[1], f"| {db} | ")


def test_the_comparison_divides_real_by_naive():
    md = report.markdown(results([
        rnd("sqlite", "real", [step(100, 40.0, 900.0, 75.0, REAL)], knee=30),
        rnd("sqlite", "naive", [step(100, 100.0, 9.0, 7.5, NAIVE)], knee=150),
    ]))
    assert "| measure | sqlite real | sqlite naive | sqlite real ÷ naive |" in md
    assert line(md, "| knee").endswith("| 30 | 150 | 0.20× |")
    assert line(md, "| CPU per whistle: services + broker").endswith("| 75.0 ms | 7.5 ms | 10.00× |")
    assert line(md, "| whistles/s done at 100/s").endswith("| 40.0 | 100.0 | 0.40× |")


def test_the_targets_take_the_cpu_ratio_and_the_sustained_rate_from_the_same_run():
    md = report.markdown(results([
        rnd("sqlite", "real", [step(100, 100.0, 90.0, 14.0, REAL), step(200, 199.0, 240.0, 14.0, REAL, duration=300)]),
        rnd("sqlite", "naive", [step(100, 100.0, 9.0, 7.5, NAIVE), step(200, 200.0, 9.0, 7.5, NAIVE, duration=300)]),
    ]))
    targets = target(md, "sqlite")
    cells = [c.strip() for c in targets.strip("|").split("|")]
    assert cells[1].startswith("yes (199/s done over 300 s, left behind: nothing")
    assert cells[2].startswith("yes (90")          # p99 < 100 ms at 100/s
    assert cells[3].startswith("yes (240")         # p99 < 250 ms at 200/s
    assert cells[4].startswith("yes (1.9×")        # 14.0 ÷ 7.5 ≤ 2
    assert cells[6] == "PostgreSQL only"


def test_a_short_or_leaky_sustained_run_does_not_meet_the_target():
    short = report.markdown(results([rnd("sqlite", "real", [step(200, 200.0, 50.0, 14.0, REAL, duration=10)])]))
    assert "for 10 s only" in target(short, "sqlite")
    leaky = report.markdown(results([rnd("sqlite", "real", [
        step(200, 200.0, 50.0, 14.0, REAL, duration=300, left={"dead letters": 2})])]))
    assert target(leaky, "sqlite").split("|")[2].strip().startswith("no (")
    assert "dead letters 2" in leaky


def test_replica_rounds_get_their_factor():
    md = report.markdown(results([
        rnd("postgres", "real", [step(200, 20.0, 900.0, 110.0, REAL)], knee=15),
        rnd("postgres", "real", [step(200, 30.0, 700.0, 115.0, REAL)], knee=25, replicas=2),
    ]))
    assert "## Replicas" in md
    assert line(md, "| postgres | 2 vs 1 | knee").endswith("| 15 | 25 | 1.67× |")
    assert line(md, "| postgres | 2 vs 1 | whistles/s done at 200/s").endswith("| 20.0 | 30.0 | 1.50× |")
    assert "yes (knee 1.67×, 1.50× at 200/s)" in target(md, "postgres")
    assert "## postgres · real ×2 replicas: fixed offered rates" in md


def test_results_from_before_the_naive_pipeline_still_read_as_real_rounds():
    old = rnd("sqlite", "real", [step(50, 30.0, 100.0, 70.0, REAL)])
    del old["pipeline"], old["replicas"], old["groups"]
    md = report.markdown(results([old]))
    assert "## sqlite · real: fixed offered rates" in md
    assert report.diff(results([old]), results([rnd("sqlite", "real", [step(50, 31.0, 90.0, 70.0, REAL)])]))[1] \
        .startswith("  sqlite · real 50/s: done 30.0 -> 31.0/s")


def test_dead_letters_found_after_the_drain_are_named_with_their_reason():
    leaky = step(30, 30.0, 50.0, 14.0, REAL, left={"dead letters": 1})
    leaky["dead_letters"] = [{"consumer": "dispatch.on_whistle_raised", "routing_key": "whistle.raised",
                              "reason": "IntegrityError: duplicate key"}]
    md = report.markdown(results([rnd("postgres", "real", [leaky], replicas=2)]))
    assert "- 30/s: `dispatch.on_whistle_raised` on `whistle.raised`: IntegrityError: duplicate key" in md


def test_with_replica_rounds_only_the_fewest_processes_are_the_baseline():
    md = report.markdown(results([
        rnd("postgres", "real", [step(200, 30.0, 700.0, 115.0, REAL)], knee=25, replicas=2),
        rnd("postgres", "real", [step(200, 36.0, 600.0, 118.0, REAL)], knee=30, replicas=3),
        rnd("postgres", "naive", [step(200, 150.0, 50.0, 11.5, NAIVE)], knee=150),
    ]))
    assert "| measure | postgres real ×2 | postgres naive | postgres real ÷ naive |" in md
    assert line(md, "| postgres | 3 vs 2 | knee").endswith("| 25 | 30 | 1.20× |")
    assert "yes (knee 1.20×, 1.20× at 200/s)" in target(md, "postgres")


def test_cpu_per_whistle_at_a_rate_is_the_window_s_cpu_over_the_whistles_done():
    from bench.report import cpu_per_whistle_at
    rnd = {"groups": ["whistle", "dispatch"]}
    step = {"cpu": {"whistle": 20.0, "dispatch": 30.0, "rabbitmq": 50.0, "bench": 40.0, "_wall": 20.0},
            "whistles_per_s": 50.0}
    assert cpu_per_whistle_at(rnd, step) == 20.0        # 100 % of a core = 1000 ms/s, over 50 whistles/s
    assert cpu_per_whistle_at(rnd, {**step, "whistles_per_s": 0}) is None
    assert cpu_per_whistle_at(None, step) is None
