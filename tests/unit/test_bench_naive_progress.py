"""The naive pipeline's department rows, turned into the bench's call-out and done records."""
from bench.clients import stamp
from bench.naive.observer import Progress


def row(seq, department, received, done, step="r0"):
    whistle = f"bench-{step}-{seq}"
    return (f"{whistle}:{department}", whistle, f"{stamp(step, seq, 100.0 + seq)} 压测吹哨", received, done)


def test_every_row_is_a_callout_delivered_when_its_handler_started():
    progress = Progress(fanout=3)
    records = progress.take("chengguan", row(7, "chengguan", 107.004, 107.006))
    assert records == [("callout", "r0", 7, 107.0, 107.004, 107.006, "chengguan", "bench-r0-7",
                        "bench-r0-7:chengguan")]


def test_a_whistle_is_done_once_every_department_has_its_row_at_the_latest_row_time():
    progress = Progress(fanout=3)
    assert [r[0] for r in progress.take("chengguan", row(1, "chengguan", 101.01, 101.03))] == ["callout"]
    assert [r[0] for r in progress.take("huanwei", row(1, "huanwei", 101.02, 101.09))] == ["callout"]
    records = progress.take("guihua", row(1, "guihua", 101.03, 101.05))
    assert records[-1] == ("done", "bench-r0-1", 101.09)


def test_a_row_read_twice_counts_once():
    progress = Progress(fanout=2)
    first = row(2, "chengguan", 102.01, 102.02)
    assert progress.take("chengguan", first)
    assert progress.take("chengguan", first) == []
    assert progress.take("guihua", row(2, "guihua", 102.01, 102.03))[-1] == ("done", "bench-r0-2", 102.03)


def test_a_row_without_the_bench_stamp_is_reported_without_a_raise_time():
    progress = Progress(fanout=1)
    records = progress.take("chengguan", ("x:chengguan", "x", "no stamp here", 1.0, 2.0))
    assert records[0][1:4] == (None, -1, None)
    assert records[1] == ("done", "x", 2.0)
