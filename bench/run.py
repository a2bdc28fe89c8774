"""The benchmark's course: per database backend, a fresh stack for each offered rate, then a ramp.

A *session* is one pipeline's stack (the four services in a fresh bus namespace with fresh
databases, or the naive reference pipeline in a namespace of its own) with the helper processes
that watch it. Each fixed rate gets a session of its own per pipeline, so peak RSS, database size
and any backlog belong to that rate alone; the pipelines take turns rate by rate, so both see the
same machine at nearly the same time.
"""
from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import clients
from bench import profile as profiler
from bench.analysis import KneeSearch, left_behind
from bench.naive.observer import run_observer
from bench.pipelines import NaivePipeline, RealPipeline
from bench.procstat import CpuWindow, memory_kb, pid_listening, pids_named
from bench.stats import summary_ms
from services.common.reference import load_reference

URGENCIES = ("emergency", "urgent", "normal", "complex")


@dataclass
class Options:
    amqp_uri: str
    rates: list[float]
    duration: float
    drain_timeout: float
    warmup_seconds: float = 5.0
    warmup_rate: float = 10.0
    ramp: bool = True
    ramp_start: float = 5.0
    ramp_step: float = 5.0
    ramp_interval: float = 5.0
    ramp_max: float = 1000.0
    ramp_p99_limit: float = 1.0          # seconds, raise -> done (real: all checked in)
    dept_procs: int = 1
    profile_seconds: float = 0.0         # py-spy the busiest service during the last fixed rate
    pipelines: tuple[str, ...] = ("real", "naive")
    replicas: tuple[int, ...] = (1,)     # real pipeline rounds on PostgreSQL: processes per service
    keep_tmp: bool = False
    log: object = print


# ---------------------------------------------------------------------------- the workload

@dataclass
class Workload:
    places: list[tuple[str, str]]          # (street, grid)
    categories: list[str]
    urgencies: list[str]
    departments: list[str]                 # every department these whistles call out
    streets: list[str]
    fanout: dict[tuple[str, str], int]     # (street, category) -> departments called

    def as_params(self) -> dict:
        return {"places": self.places, "categories": self.categories, "urgencies": self.urgencies}

    def mean_fanout(self) -> float:
        n = 2000
        return sum(self.fanout[(s, c)] for s, _, c, _ in
                   (clients.plan(i, self.as_params()) for i in range(n))) / n


def workload(min_departments: int = 3) -> Workload:
    """Categories that call at least `min_departments` departments in every street (权责清单)."""
    reference = load_reference()
    streets = [s.code for s in reference.streets]
    categories, departments, fanout = [], set(), {}
    for category in reference.categories:
        assignments = [reference.assignment(s, category.code) for s in streets]
        if all(a and 1 + len(a[1]) >= min_departments for a in assignments):
            categories.append(category.code)
            for street, (lead, support) in zip(streets, assignments):
                departments.update((lead, *support))
                fanout[(street, category.code)] = 1 + len(support)
    if not categories:
        raise SystemExit(f"no category in the reference data calls {min_departments}+ departments")
    places = [(s.code, min(s.grid_codes)) for s in reference.streets]
    places += [(s.code, g) for s in reference.streets for g in sorted(s.grid_codes) if g != min(s.grid_codes)]
    return Workload(places, categories, list(URGENCIES), sorted(departments), streets, fanout)


# ---------------------------------------------------------------------------- what the helpers saw

@dataclass
class Collector:
    """Everything the helper processes report, as it arrives."""

    out: object
    log: object = print
    callouts: dict = field(default_factory=lambda: defaultdict(list))    # step -> [record]
    seen_callouts: set = field(default_factory=set)
    duplicate_callouts: int = 0
    whistles: dict = field(default_factory=dict)        # whistle_id -> (step, seq, raised_at)
    done: dict = field(default_factory=dict)            # whistle_id -> done at (real: all checked in)
    outcomes: dict = field(default_factory=dict)        # request_id -> (whistle_id, outcome, repeated, t)
    ready: dict = field(default_factory=dict)
    summaries: dict = field(default_factory=dict)
    exited: set = field(default_factory=set)
    errors: list = field(default_factory=list)

    def pump(self, until: float) -> None:
        """Takes in reports until the wall clock reaches `until`."""
        while True:
            left = until - time.time()
            try:
                message = self.out.get(timeout=max(0.0, min(left, 0.1))) if left > 0 else self.out.get_nowait()
            except queue_module.Empty:
                if time.time() >= until:
                    return
                continue
            self._take(message)

    def pump_until(self, condition, timeout: float, poll: float = 0.1) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return True
            self.pump(min(deadline, time.time() + poll))
        return bool(condition())

    def _take(self, message) -> None:
        kind, name, payload = message
        if kind == "records":
            for record in payload:
                self._record(record)
        elif kind == "ready":
            self.ready[name] = payload
        elif kind == "summary":
            self.summaries[name] = payload
        elif kind == "exited":
            self.exited.add(name)
        elif kind == "error":
            self.errors.append(f"{name}: {payload}")
            self.log(f"  !! {name}: {payload}")

    def _record(self, record) -> None:
        if record[0] == "callout":
            _, step, seq, raised, received, checkin_sent, department, whistle_id, callout_id = record
            if callout_id in self.seen_callouts:
                self.duplicate_callouts += 1
                return
            self.seen_callouts.add(callout_id)
            self.callouts[step].append((seq, raised, received, checkin_sent, department, whistle_id))
            if whistle_id and raised is not None:
                self.whistles.setdefault(whistle_id, (step, seq, raised))
        elif record[0] == "done":
            _, whistle_id, t = record
            self.done.setdefault(whistle_id, t)
        elif record[0] == "outcome":
            _, request_id, whistle_id, outcome, repeated, t = record
            self.outcomes.setdefault(request_id, (whistle_id, outcome, repeated, t))

    def step_whistles(self, step: str) -> dict[str, tuple[int, float]]:
        """whistle_id -> (seq, raised_at) of one step's whistles that reached a department."""
        return {w: (seq, t) for w, (s, seq, t) in self.whistles.items() if s == step}

    def completed(self, step: str) -> int:
        return sum(1 for w in self.step_whistles(step) if w in self.done)


# ---------------------------------------------------------------------------- one stack

class Session:
    """One pipeline's stack with the helpers that watch it, for one fixed rate or the ramp."""

    def __init__(self, opts: Options, load: Workload, db_label: str, db_template: str | None,
                 tmp_root: Path, pipeline: str = "real", replicas: int = 1):
        self.opts = opts
        self.load = load
        self.db_label = db_label
        self.db_template = db_template
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{db_label}-{pipeline}-", dir=tmp_root))
        self.ctx = multiprocessing.get_context("spawn")
        self.out = self.ctx.Queue()
        self.collector = Collector(self.out, opts.log)
        self.stop_helpers = self.ctx.Event()
        self.helpers: dict[str, multiprocessing.Process] = {}
        self.pacers: dict[str, multiprocessing.Process] = {}
        if pipeline == "naive":
            self.pipeline = NaivePipeline(opts.amqp_uri, load, db_template, self.tmp)
        else:
            self.pipeline = RealPipeline(opts.amqp_uri, load, db_template, self.tmp, replicas)
        self.log = opts.log

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> "Session":
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        t = time.time()
        note = self.pipeline.start()
        self.log(f"  {self.pipeline.label} pipeline up in {time.time() - t:.1f}s ({note}, {self.db_label})")
        names = []
        for kind, params in self.pipeline.helpers(self.opts.dept_procs):
            self._spawn(kind, params)
            names.append(params.get("name", kind))
        if not self.collector.pump_until(lambda: all(n in self.collector.ready for n in names), 60):
            raise RuntimeError(f"helpers not ready: {self.collector.errors or names}")

    def _spawn(self, kind: str, params: dict, stop=None, max_seconds: float = 3600) -> multiprocessing.Process:
        name = params.get("name", kind)
        stop = stop or self.stop_helpers
        if kind == "rows":
            target, args = run_observer, (self.out, stop, max_seconds, params)
        else:
            target = clients.run_client
            args = (kind, self.opts.amqp_uri, self.pipeline.namespace, self.out, stop, max_seconds, params)
        process = self.ctx.Process(target=target, name=f"bench-{name}", daemon=True, args=args)
        process.start()
        (self.pacers if kind == "pacer" else self.helpers)[name] = process
        return process

    def __exit__(self, *exc) -> None:
        self.stop_helpers.set()
        for processes in (self.pacers, self.helpers):
            for name, process in processes.items():
                process.join(timeout=10)
                if process.is_alive():
                    self.log(f"  {name} did not stop in time; killing it (pid {process.pid})")
                    process.kill()
                    process.join(timeout=5)
        try:
            self.pipeline.close()
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            self.log(f"  cleanup of {self.pipeline.label} pipeline failed: {error}")

    # ---------------------------------------------------------------- driving whistles
    def pace(self, step: str, segments: list[tuple[float, float]]) -> tuple[str, object, float]:
        """Starts a pacer; returns (its name, its stop event, the wall time its schedule starts)."""
        name = f"pacer-{step}"
        stop = self.ctx.Event()
        total = sum(s for _, s in segments)
        self._spawn("pacer", {"name": name, "step": step, "segments": segments, "start_delay": 1.0,
                              "workload": self.load.as_params()}, stop=stop, max_seconds=total + 60)
        if not self.collector.pump_until(lambda: name in self.collector.ready, 60):
            raise RuntimeError(f"{name} not ready: {self.collector.errors}")
        return name, stop, self.collector.ready[name]

    def _drain(self, step: str, sent_of, timeout: float) -> float:
        """Waits (bounded) until every whistle of the step is done; returns seconds waited."""
        t = time.time()
        self.collector.pump_until(lambda: self.collector.completed(step) >= sent_of(), timeout, poll=0.25)
        return time.time() - t

    def _settle(self, timeout: float) -> float:
        """Waits (bounded) until nothing is ready in the pipeline's queues and no outbox row is unsent:
        the work a whistle causes after it is done (joint team, metrics...); returns seconds waited."""
        t = time.time()
        deadline = t + timeout
        while True:
            b = self.backlog()
            if not (b["queued"] or b["department_queued"] or sum(b["outbox_unsent"].values())):
                break
            if time.time() >= deadline:
                break
            self.collector.pump(min(deadline, time.time() + 0.5))
        return time.time() - t

    def warmup(self) -> dict | None:
        """A few seconds at a low rate; returns the CPU each process spent per whistle meanwhile."""
        if self.opts.warmup_seconds <= 0:
            return None
        idle = CpuWindow(self._cpu_groups({})).start()      # what the stack burns doing nothing
        self.collector.pump(time.time() + 2.0)
        baseline = idle.stop()
        name, _, t0 = self.pace("warmup", [(self.opts.warmup_rate, self.opts.warmup_seconds)])
        self.collector.pump(t0)
        window = CpuWindow(self._cpu_groups({"pacer": [self.pacers[name].pid]})).start()
        self.collector.pump_until(lambda: name in self.collector.summaries, self.opts.warmup_seconds + 30)
        sent = self.collector.summaries.get(name, {}).get("sent", 0)
        waited = self._drain("warmup", lambda: sent, 60)
        settled = self._settle(30)
        cpu = window.stop()
        done = self.collector.completed("warmup")
        self.log(f"  warm-up: {done}/{sent} whistles done {waited:.1f}s after the last, "
                 f"queues and outboxes empty {settled:.1f}s later")
        if not done:
            return None
        # idle again, once everything has settled: the quieter of the two idle windows is the baseline
        # (the broker is often still busy for a while after the previous stack's queues were deleted)
        idle = CpuWindow(self._cpu_groups({})).start()
        self.collector.pump(time.time() + 2.0)
        after = idle.stop()
        wall = cpu.pop("_wall")
        cpu.pop("_machine", None)
        quietest = {g: min(baseline.get(g, 0.0), after.get(g, 0.0)) for g in cpu}
        # less the idle baseline (timers, sweeps, heartbeats; other users' queues on a shared broker)
        return {"whistles": done, "rate": self.opts.warmup_rate,
                "cpu_ms_per_whistle": {g: max(0.0, pct - quietest[g]) / 100 * wall * 1000 / done
                                       for g, pct in cpu.items()},
                "idle_cpu_pct": quietest,
                "idle_cpu_pct_before": {g: v for g, v in baseline.items() if not g.startswith("_")},
                "idle_cpu_pct_after": {g: v for g, v in after.items() if not g.startswith("_")}}

    def _cpu_groups(self, extra_pids: dict[str, list[int]]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for process, pid in self.pipeline.process_pids().items():
            groups.setdefault(self.pipeline.group_of(process), []).append(pid)
        broker = pid_listening(urlsplit(self.opts.amqp_uri).port or 5672)
        groups["rabbitmq"] = [broker] if broker else pids_named("beam.smp")
        if self.db_label == "postgres":
            groups["postgres"] = pids_named("postgres")
        groups["bench"] = [os.getpid()] + [p.pid for p in self.helpers.values()] + \
            [pid for pids in extra_pids.values() for pid in pids]
        return groups

    def backlog(self, since: float | None = None, until: float | None = None) -> dict:
        return self.pipeline.backlog(since, until)

    def memory(self) -> dict:
        """Per process group: the largest peak RSS of its processes (replicas), and how many there are."""
        out: dict[str, dict] = {}
        for process, pid in self.pipeline.process_pids().items():
            mem = memory_kb(pid)
            group = out.setdefault(self.pipeline.group_of(process), {"peak_mb": 0.0, "now_mb": 0.0, "processes": 0})
            group["peak_mb"] = max(group["peak_mb"], mem.get("VmHWM", 0) / 1024)
            group["now_mb"] = max(group["now_mb"], mem.get("VmRSS", 0) / 1024)
            group["processes"] += 1
        return out

    # ---------------------------------------------------------------- one fixed rate
    def fixed(self, step: str, rate: float, duration: float, profile: bool = False) -> dict:
        c = self.collector
        name, _, t0 = self.pace(step, [(rate, duration)])
        pacer_pid = self.pacers[name].pid
        c.pump(t0)
        window = CpuWindow(self._cpu_groups({"pacer": [pacer_pid]})).start()
        t1 = t0 + duration
        spy = self._start_profile(t0, t1, step) if profile else None
        c.pump(t1)
        cpu = window.stop()
        at_end = self.backlog()
        c.pump_until(lambda: name in c.summaries, 30)
        pacer = c.summaries.get(name, {})
        sent = pacer.get("sent", 0)
        drained = self._drain(step, lambda: sent, self.opts.drain_timeout)
        settled = self._settle(max(0.0, self.opts.drain_timeout - drained))
        c.pump(time.time() + 0.5)       # the last batches of records
        after = self.backlog(since=t0, until=t1)
        result = self._step_result(step, rate, duration, t0, t1, pacer, cpu, at_end, after, drained + settled)
        result["done_drain_s"] = drained
        if after.get("deadletters"):
            result["dead_letters"] = self.pipeline.dead_letters()
        if spy:
            result["profile"] = self._finish_profile(*spy)
        return result

    def _start_profile(self, t0: float, t1: float, step: str):
        """After a few seconds of load, starts py-spy on the service that used the most CPU so far."""
        if profiler.pyspy() is None:
            self.log("  (no py-spy: pip install py-spy to profile the busiest service)")
            return None
        pids = self.pipeline.process_pids()
        probe = CpuWindow({n: [p] for n, p in pids.items()}).start()
        self.collector.pump(t0 + min(3.0, (t1 - t0) / 4))
        usage = {n: pct for n, pct in probe.stop().items() if not n.startswith("_")}   # not _machine, _wall
        busiest = max(usage, key=usage.get)
        seconds = min(self.opts.profile_seconds, t1 - time.time() - 0.5)
        if seconds < 1:
            return None
        raw = self.tmp / f"profile-{step}-{busiest}.txt"
        process = profiler.start(pids[busiest], seconds, raw)
        self.log(f"  profiling {busiest} (pid {pids[busiest]}, {usage[busiest]:.0f} % CPU) "
                 f"for {seconds:.0f}s with py-spy")
        return process, raw, busiest, usage[busiest], seconds

    def _finish_profile(self, process, raw, service, cpu, seconds) -> dict:
        try:
            _, err = process.communicate(timeout=seconds + 30)
        except Exception:  # noqa: BLE001 - a profiler that hangs is killed; the run goes on
            process.kill()
            return {"service": service, "error": "py-spy did not finish"}
        if process.returncode != 0 or not raw.exists():
            return {"service": service, "error": (err or b"").decode(errors="replace").strip()[-300:]}
        return {"service": service, "cpu_pct": cpu, "seconds": seconds, "raw": str(raw),
                **profiler.summarise(raw, seconds)}

    def _step_result(self, step, rate, duration, t0, t1, pacer, cpu, at_end, after, drained) -> dict:
        c = self.collector
        records = c.callouts.get(step, [])
        whistles = c.step_whistles(step)
        sent = pacer.get("sent", 0)
        completed = {w: c.done[w] - raised for w, (_, raised) in whistles.items() if w in c.done}
        completed_in_window = sum(1 for w in whistles if w in c.done and t0 <= c.done[w] <= t1)
        callouts_in_window = sum(1 for r in records if t0 <= r[2] <= t1)
        times = list(clients.schedule(t0, [(rate, duration)]))
        # what never arrived counts at its age when the bench stopped waiting: a lower bound, so a
        # saturated run's percentiles are not computed over the lucky ones only
        ended = time.time()
        done_seqs = {seq for w, (seq, _) in whistles.items() if w in c.done}
        unfinished = [ended - times[seq] for seq in range(min(sent, len(times))) if seq not in done_seqs]
        per_seq = defaultdict(int)
        for r in records:
            per_seq[r[0]] += 1
        params = self.load.as_params()
        undelivered = []
        for seq in range(min(sent, len(times))):
            street, _, category, _ = clients.plan(seq, params)
            missing = self.pipeline.expected_callouts(street, category) - per_seq.get(seq, 0)
            undelivered += [ended - times[seq]] * max(0, missing)
        outcome_latency = []
        for request_id, (_, _outcome, _, t) in c.outcomes.items():
            if request_id.startswith(f"bench-{step}-"):
                seq = int(request_id.rsplit("-", 1)[1])
                if seq < len(times):
                    outcome_latency.append(t - times[seq])
        raises_in_window = sum(1 for t in times[:sent] if t0 <= t <= t1)
        by_type = self.pipeline.published(after, records, raises_in_window, t0, t1)
        published = sum(by_type.values())
        incomplete = max(0, sent - len(completed))
        after_drain = {k: after[k] for k in ("queued", "department_queued", "outbox_unsent", "deadletters")}
        return {
            "step": step, "rate": rate, "duration": duration,
            "sent": sent, "confirmed": pacer.get("confirmed", 0), "nacked": pacer.get("nacked", 0),
            "returned": pacer.get("returned", 0),
            "pacer_max_lag_ms": 1000 * pacer.get("max_lag", 0.0), "pacer_late": pacer.get("late", 0),
            "whistles_per_s": completed_in_window / duration,
            "callouts_per_s": callouts_in_window / duration,
            "callouts_received": len(records),
            "callout_latency": {**summary_ms([r[2] - r[1] for r in records] + undelivered),
                                "unfinished": len(undelivered)},
            "all_checked_in_latency": {**summary_ms([*completed.values(), *unfinished]),
                                       "unfinished": len(unfinished)},
            "outcome_latency": summary_ms(outcome_latency),
            "completed": len(completed), "incomplete": incomplete,
            "drain_s": drained,
            "backlog_end": {k: at_end[k] for k in ("queues", "queued", "department_queued", "outbox_unsent",
                                                   "deadletters")},
            "backlog_after_drain": after_drain,
            "left_behind": left_behind(after_drain, incomplete),
            "outbox_lag": after["outbox_lag"],
            "memory": self.memory(), "cpu": cpu,
            "bus": {"published": published, "per_s": published / duration, "by_type": by_type,
                    "per_whistle": published / raises_in_window if raises_in_window else 0.0},
            "duplicate_callouts": c.duplicate_callouts, "errors": list(c.errors),
        }

    # ---------------------------------------------------------------- the ramp
    def ramp(self) -> dict:
        """Open loop, the offered rate rising every interval, until p99 or the backlog says stop."""
        o = self.opts
        c = self.collector
        rates = []
        r = o.ramp_start
        while r <= o.ramp_max and len(rates) < 200:
            rates.append(r)
            r += o.ramp_step
        segments = [(rate, o.ramp_interval) for rate in rates]
        name, stop, t0 = self.pace("ramp", segments)
        pacer_pid = self.pacers[name].pid
        starts, seq_ranges, first = [], [], 0
        for k, (rate, seconds) in enumerate(segments):
            n = int(round(rate * seconds))
            starts.append(t0 + k * seconds)
            seq_ranges.append((first, first + n))
            first += n
        times = list(clients.schedule(t0, segments))
        grace = 1.5
        window = CpuWindow(self._cpu_groups({"pacer": [pacer_pid]})).start()
        search = KneeSearch(p99_limit_ms=1000 * o.ramp_p99_limit)
        for k, rate in enumerate(rates):
            end = starts[k] + o.ramp_interval
            check_at = end + grace
            c.pump(check_at)
            lo, hi = seq_ranges[k]
            done_at = {seq: c.done.get(w) for w, (s, seq, _) in c.whistles.items() if s == "ramp"}
            now = time.time()
            ages = []
            for seq in range(lo, hi):
                finished = done_at.get(seq)
                ages.append((finished if finished else now) - times[seq])
            censored = summary_ms(ages)
            sent_by_now = sum(1 for t in times if t <= now)
            completed = sum(1 for v in done_at.values() if v)
            outstanding = sent_by_now - completed
            o.log(f"  ramp {rate:6.0f}/s: p99 raise→done ≥ {censored['p99']:.0f} ms, "
                  f"{outstanding} whistles outstanding")
            if not search.check(rate, censored["p99"], outstanding):
                break
        checks = search.checks
        stop.set()
        cpu = window.stop()
        c.pump_until(lambda: name in c.summaries, 30)
        pacer = c.summaries.get(name, {})
        sent = pacer.get("sent", 0)
        drained = self._drain("ramp", lambda: sent, self.opts.drain_timeout)
        c.pump(time.time() + 0.5)
        # final figures per segment, now that (nearly) everything has finished
        by_seq = {seq: w for w, (s, seq, _) in c.whistles.items() if s == "ramp"}
        callouts_by_seq = defaultdict(list)
        for seq, raised, received, *_ in c.callouts.get("ramp", []):
            callouts_by_seq[seq].append(received - raised)
        segments_out = []
        for k, rate in enumerate(rates[:len(checks)]):
            lo, hi = seq_ranges[k]
            hi = min(hi, sent)
            end = starts[k] + o.ramp_interval
            done = [c.done[by_seq[s]] - times[s] for s in range(lo, hi) if s in by_seq and by_seq[s] in c.done]
            completions = sum(1 for w in by_seq.values() if w in c.done and starts[k] <= c.done[w] < end)
            segments_out.append({
                "rate": rate, "sent": max(0, hi - lo), "completed": len(done),
                "whistles_per_s": completions / o.ramp_interval,
                "callout_latency": summary_ms(v for s in range(lo, hi) for v in callouts_by_seq.get(s, [])),
                "all_checked_in_latency": summary_ms(done),
                "outstanding_at_check": checks[k]["outstanding"],
            })
        return {"segments": segments_out, "knee": search.knee, "stopped": search.reason or "reached --ramp-max",
                "interval": o.ramp_interval, "sent": sent, "drain_s": drained, "cpu": cpu,
                "memory": self.memory(), "errors": list(c.errors),
                "max_whistles_per_s": max((s["whistles_per_s"] for s in segments_out), default=0.0)}


# ---------------------------------------------------------------------------- a database round

def variants(opts: Options, db_label: str) -> list[tuple[str, int]]:
    """(pipeline, replicas) to run on one database: the real pipeline at each replica count (one on
    SQLite), the naive one once."""
    out = []
    if "real" in opts.pipelines:
        counts = opts.replicas if db_label == "postgres" else (1,)
        out += [("real", n) for n in counts]
    if "naive" in opts.pipelines:
        out.append(("naive", 1))
    return out


def round_label(pipeline: str, replicas: int) -> str:
    return pipeline + (f" ×{replicas} replicas" if replicas > 1 else "")


def run_round(opts: Options, load: Workload, db_label: str, db_template: str | None, tmp_root: Path,
              profile: bool = False, into: list | None = None) -> list[dict]:
    """Every variant on one database, rate by rate in turn, then their ramps; one result per variant.

    `into` receives the variants' results as they are created, so an interrupted run keeps its steps."""
    log = opts.log
    rounds = into if into is not None else []
    mine = {}
    for pipeline, replicas in variants(opts, db_label):
        mine[(pipeline, replicas)] = {"db": db_label, "pipeline": pipeline, "replicas": replicas,
                                      "groups": None, "steps": [], "ramp": None}
        rounds.append(mine[(pipeline, replicas)])
    first = next(iter(mine), None)
    for i, rate in enumerate(opts.rates):
        for (pipeline, replicas), rnd in mine.items():
            log(f"[{db_label} · {round_label(pipeline, replicas)}] offered {rate:g} whistles/s "
                f"for {opts.duration:g}s")
            with Session(opts, load, db_label, db_template, tmp_root, pipeline, replicas) as session:
                rnd["groups"] = session.pipeline.groups
                cost = session.warmup()
                result = session.fixed(f"r{i}", rate, opts.duration,
                                       profile=profile and (pipeline, replicas) == first
                                       and i == len(opts.rates) - 1)
            result["db"] = db_label
            result["warmup_cost"] = cost
            rnd["steps"].append(result)
            left = result["left_behind"]
            log(f"  -> {result['whistles_per_s']:.1f} whistles/s done, "
                f"p99 raise→call-out {result['callout_latency']['p99']:.0f} ms, "
                f"p99 raise→done {result['all_checked_in_latency']['p99']:.0f} ms, "
                f"{result['incomplete']} incomplete, bus {result['bus']['per_s']:.0f} msg/s, "
                f"drained in {result['drain_s']:.1f}s, left behind: "
                + (", ".join(f"{k} {v}" for k, v in left.items()) or "nothing"))
    if opts.ramp:
        for (pipeline, replicas), rnd in mine.items():
            log(f"[{db_label} · {round_label(pipeline, replicas)}] open-loop ramp from {opts.ramp_start:g}/s, "
                f"+{opts.ramp_step:g}/s every {opts.ramp_interval:g}s")
            with Session(opts, load, db_label, db_template, tmp_root, pipeline, replicas) as session:
                rnd["groups"] = session.pipeline.groups
                cost = session.warmup()
                ramp = session.ramp()
                ramp["warmup_cost"] = cost
            rnd["ramp"] = ramp
            log(f"  -> knee: {ramp['knee']} whistles/s offered ({ramp['stopped']})")
    return rounds
