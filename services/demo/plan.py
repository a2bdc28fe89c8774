"""What the demo district does, pure: which whistles are raised, and how departments, streets and the
district answer them. Every choice is drawn from a seeded `random.Random`, so a run can be repeated.

Proportions (plausible, not measured): 12345 hotline tickets are the largest share of whistles
(接诉即办 sends every complaint to its street), then grid patrols, leaders' street walks and the street
office itself; most cases are normal, a quarter urgent (water, power, gas, heating), a tenth
emergencies and a tenth complex. Parking, rubbish and street vending lead the categories.

Departments differ in diligence: each checks in on time with its own probability, sometimes late,
now and then never (the call-out climbs the escalation ladder to the city), and returns a share of
call-outs as "not ours" (退单). An officer assigned to a joint team checks in in time, or now and then
never (and is replaced). A step's time is drawn inside its deadline's window (or past it, when
late); a window longer than the demo's horizon (a deadline of 7 working days) is compressed into
the horizon, so it is met: within minutes nobody can be days late.
"""
from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional, Sequence

from services.common.events import CalloutIssued, OfficerAssigned
from services.common.reference import ReferenceData

SOURCES = {"hotline_12345": 45, "grid_patrol": 35, "road_office": 10, "street_office": 10}
URGENCIES = {"normal": 55, "urgent": 25, "emergency": 10, "complex": 10}
CATEGORIES = {"illegal_parking": 14, "garbage_dumping": 14, "street_vending": 12, "illegal_ads": 10, "noise": 10,
              "construction_dust": 8, "illegal_construction": 8, "heating_failure": 6, "unmanaged_block": 5,
              "dog_keeping": 5, "blocked_fire_lane": 4, "food_safety": 2, "water_outage": 2}
DESCRIPTIONS = {
    "illegal_parking": "私家车长期占用消防登高面和人行道", "garbage_dumping": "巷口有人倾倒建筑垃圾",
    "street_vending": "早市摊贩占道经营，行人无法通行", "illegal_ads": "单元门和电线杆上贴满小广告",
    "noise": "工地夜间施工噪音扰民", "construction_dust": "工地未覆盖裸土，扬尘严重",
    "illegal_construction": "楼顶正在加盖彩钢房", "heating_failure": "整栋楼暖气不热，室温不足16度",
    "unmanaged_block": "老旧小区无物业，楼道堆满杂物", "dog_keeping": "小区内大型犬未拴绳",
    "blocked_fire_lane": "消防通道被私家车堵死", "food_safety": "无证餐饮店后厨卫生堪忧",
    "water_outage": "小区突然停水，无任何通知"}
REPORTERS = {"hotline_12345": "12345 热线", "grid_patrol": "网格员", "road_office": "街道领导（马路办公）",
             "street_office": "街道办"}


def weighted(rnd: random.Random, weights: dict[str, int], allowed: Optional[Sequence[str]] = None) -> str:
    items = [(k, w) for k, w in weights.items() if allowed is None or k in allowed]
    return rnd.choices([k for k, _ in items], [w for _, w in items])[0]


@dataclass(frozen=True)
class Mix:
    """How often the unusual happens (fractions of whistles, call-outs, closures...)."""

    duplicate: float = 0.06          # a second report of an open whistle's problem, at the same spot
    unowned_place: float = 0.03      # a place no grid owns: the district must say whose it is
    never_check_in: float = 0.04     # a department that never answers
    late: float = 0.10               # the mean share of late steps (each department has its own)
    returned: float = 0.06           # "not ours" (退单)
    sent_back: float = 0.05          # the street does not accept the work
    unsatisfied: float = 0.08        # the complainant is not satisfied; half of them reopen the case
    arbitration_late: float = 0.30   # the district decides after its deadline (or not in the demo)
    unjustified: float = 0.40        # the district sends a returned call-out back to who returned it


@dataclass(frozen=True)
class Whistle:
    """One whistle to raise: the request body the whistle service takes, and which street raises it."""

    body: dict
    duplicate_of: Optional[str] = None      # the request_id of the report it repeats


def grid_points(areas: dict) -> dict[str, tuple[float, float]]:
    """A point inside each grid polygon of a GeoJSON FeatureCollection (the mean of its ring)."""
    out = {}
    for feature in areas.get("features", ()):
        ring = feature["geometry"]["coordinates"][0][:-1]
        out[feature["properties"]["grid_code"]] = (sum(p[0] for p in ring) / len(ring),
                                                   sum(p[1] for p in ring) / len(ring))
    return out


class District:
    """Draws whistles from the reference district."""

    def __init__(self, reference: ReferenceData, points: dict[str, tuple[float, float]], rnd: random.Random,
                 mix: Mix = Mix(), run: str = "demo"):
        self.reference, self.points, self.rnd, self.mix, self.run = reference, points, rnd, mix, run
        self.categories = [c.code for c in reference.categories]
        self.count = 0
        self.raised: list[Whistle] = []

    def next(self) -> Whistle:
        rnd, self.count = self.rnd, self.count + 1
        request_id = f"{self.run}-{self.count:05d}"
        if self.raised and rnd.random() < self.mix.duplicate:
            first = rnd.choice(self.raised[-20:]).body
            body = {**first, "request_id": request_id, "source": weighted(rnd, SOURCES),
                    "reported_by": REPORTERS["hotline_12345"], "description": first["description"] + "（再次反映）"}
            return Whistle(body, duplicate_of=first["request_id"])
        street = rnd.choice(self.reference.streets)
        category = weighted(rnd, CATEGORIES, self.categories)
        source = weighted(rnd, SOURCES)
        body = {"request_id": request_id, "street_code": street.code, "category": category,
                "urgency": weighted(rnd, URGENCIES), "source": source,
                "description": DESCRIPTIONS.get(category, category), "reported_by": REPORTERS[source]}
        if rnd.random() < self.mix.unowned_place:
            lon, lat = self._somewhere(street.code)
            body["place"] = {"address": f"{street.name_zh}辖区边界空地", "lon": lon + 0.05, "lat": lat + 0.05}
        else:
            community = rnd.choice(street.communities)
            grid = rnd.choice(community.grids)
            lon, lat = self.points.get(grid.code, (None, None))
            body["grid_code"] = grid.code
            body["place"] = {"address": f"{street.name_zh}{community.name_zh}{rnd.randint(1, 40)}号",
                             **({"lon": round(lon + rnd.uniform(-3e-4, 3e-4), 6),
                                 "lat": round(lat + rnd.uniform(-3e-4, 3e-4), 6)} if lon is not None else {})}
        whistle = Whistle(body)
        self.raised.append(whistle)
        return whistle

    def _somewhere(self, street: str) -> tuple[float, float]:
        points = [p for code, p in self.points.items() if code.startswith(f"{street}-")]
        return points[0] if points else (106.55, 29.56)


# ---------------------------------------------------------------- the departments

@dataclass(frozen=True)
class Act:
    """One report a department will make: `action` (checkin, arrival, completion, return) at `at`."""

    at: datetime
    action: str
    callout_id: str
    department_code: str
    fields: dict = field(default_factory=dict)


def diligence(department: str, mix: Mix) -> float:
    """A department's share of steps done on time: the same for a department in every run."""
    spread = (zlib.crc32(department.encode()) % 1000) / 999     # 0..1, fixed per department
    return max(0.5, 1 - mix.late * (0.4 + 1.2 * spread))


def _moment(rnd: random.Random, start: datetime, due: datetime, on_time: bool, horizon: timedelta,
            after: datetime) -> datetime:
    window = due - start
    if window > horizon:                 # longer than the demo: compressed, hence on time
        moment = start + horizon * rnd.uniform(0.15, 0.8)
    elif on_time:
        moment = start + window * rnd.uniform(0.15, 0.85)
    else:
        moment = due + window * rnd.uniform(0.1, 0.6)
    return max(moment, after + timedelta(milliseconds=200))


def department_acts(callout: CalloutIssued, rnd: random.Random, mix: Mix = Mix(),
                    horizon: timedelta = timedelta(minutes=2)) -> list[Act]:
    """What one department does with one call-out, in order (nothing: it never answers)."""
    if rnd.random() < mix.never_check_in:
        return []
    d, c = callout.deadlines, callout
    ok = diligence(c.department_code, mix)
    act = lambda at, action, **fields: Act(at, action, c.callout_id, c.department_code, fields)  # noqa: E731
    officer = f"{c.department_name_zh} 值班员"
    if rnd.random() < mix.returned:
        at = _moment(rnd, c.issued_at, d.check_in_by, rnd.random() < ok, horizon, c.issued_at)
        return [act(at, "return", reason=f"经核查不属{c.department_name_zh}职责范围，请重新派单")]
    checked = _moment(rnd, c.issued_at, d.check_in_by, rnd.random() < ok, horizon, c.issued_at)
    arrived = _moment(rnd, c.issued_at, d.arrival_by, rnd.random() < ok, horizon, checked)
    completed = _moment(rnd, c.issued_at, d.completion_by, rnd.random() < ok, horizon, arrived)
    return [act(checked, "checkin", officer=officer, note="收到，马上出发"),
            act(arrived, "arrival", officer=officer, location=c.place.model_dump(), evidence_ref="photo://arrival"),
            act(completed, "completion", summary="已现场处置完毕", evidence_refs=["photo://done"])]


def member_check_in_at(assignment: OfficerAssigned, rnd: random.Random, mix: Mix = Mix(),
                       horizon: timedelta = timedelta(minutes=2)) -> Optional[datetime]:
    """When an officer assigned to a joint team checks in personally, inside the check-in window (None:
    never, and the roster replaces the no-show once the deadline passes; a late check-in would be refused)."""
    if rnd.random() < mix.never_check_in:
        return None
    return _moment(rnd, assignment.assigned_at, assignment.check_in_by, True, horizon, assignment.assigned_at)


# ---------------------------------------------------------------- the streets and the district

@dataclass(frozen=True)
class Verdict:
    """What the street does once every department has completed."""

    accept: bool                     # close (销号), or send the work back
    rating: str = "satisfied"
    reopen: bool = False


def street_verdict(rnd: random.Random, mix: Mix = Mix(), round_: int = 1) -> Verdict:
    if round_ == 1 and rnd.random() < mix.sent_back:
        return Verdict(accept=False)
    if rnd.random() < mix.unsatisfied:
        return Verdict(accept=True, rating="unsatisfied", reopen=round_ == 1 and rnd.random() < 0.5)
    return Verdict(accept=True, rating=rnd.choices(("satisfied", "basically_satisfied"), (4, 1))[0])


@dataclass(frozen=True)
class Ruling:
    """When the district decides an arbitration, and what (a grid, or the department that acts)."""

    at: datetime
    grid_code: Optional[str] = None
    department_code: Optional[str] = None


def district_ruling(arbitration: dict, reference: ReferenceData, rnd: random.Random, now: datetime,
                    mix: Mix = Mix()) -> Ruling:
    """`arbitration` as dispatch lists it (reason, candidates, decide_by, street_code)."""
    decide_by = datetime.fromisoformat(arbitration["decide_by"].replace("Z", "+00:00"))
    window = max(decide_by - now, timedelta(seconds=1))
    at = decide_by + window * rnd.uniform(0.2, 0.6) if rnd.random() < mix.arbitration_late \
        else now + window * rnd.uniform(0.1, 0.7)
    if arbitration["reason"] in ("unowned_place", "disputed_place"):
        street = reference.street(arbitration["street_code"]) or reference.streets[0]
        grids = [g.code for c in street.communities for g in c.grids]
        candidates = [g for g in arbitration["candidates"] if g in grids]
        return Ruling(at, grid_code=rnd.choice(candidates or grids))
    tried = list(arbitration["candidates"])
    if tried and rnd.random() < mix.unjustified:
        return Ruling(at, department_code=rnd.choice(tried))
    others = [d.code for d in reference.departments if d.code not in tried and d.code not in ("jiedao", "shequ")]
    return Ruling(at, department_code=rnd.choice(others))
