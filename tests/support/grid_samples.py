"""Samples below the whistle, built from the shipped reference data and tiers.yaml."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from services.common.events import (AcceptGridEvent, CloseGridEvent, Evidence, HandleGridEvent, HotlineTicket,
                                    OpenGridEvent, PassUpGridEvent, Place, VerifyGridEvent, WhistleGridEvent, parse)
from services.common.reference import load_reference
from services.common.tiers import DailyCap, load_tiers
from services.whistle.grid_event import Rules

T0 = datetime(2025, 3, 14, 1, 30, tzinfo=timezone.utc)       # Friday 09:30 in Beijing
PLACE = Place(address="大溪沟街道滨江路12号", lon=106.5415, lat=29.5625)
EVIDENCE = Evidence(before_photo="photo://before/1", after_photo="photo://after/1",
                    checklist=("垃圾已清运", "现场已冲洗"))


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def rules(daily_cap: DailyCap | None = None, is_workday=weekdays) -> Rules:
    tiers = load_tiers()
    if daily_cap is not None:
        tiers = tiers.model_copy(update={"daily_cap": daily_cap})
    return Rules(load_reference(), tiers, is_workday)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def opening(**overrides) -> OpenGridEvent:
    fields = dict(request_id="open-1", street_code="daxigou", grid_code="daxigou-c1-g1", category="garbage_dumping",
                  source="grid_patrol", description="巷口有人倾倒建筑垃圾", place=PLACE,
                  photos=("photo://report/1",), reported_by="网格员 王芳")
    return OpenGridEvent(**{**fields, **overrides})


def accepting(tier: str, request_id: str = "accept", by: str = "网格员 王芳") -> AcceptGridEvent:
    return AcceptGridEvent(request_id=f"{request_id}-{tier}", grid_event_id="e-1", by=by, tier=tier)


def handling(tier: str, by: str = "网格员 王芳") -> HandleGridEvent:
    return HandleGridEvent(request_id=f"handle-{tier}", grid_event_id="e-1", by=by, tier=tier,
                           summary="已清运建筑垃圾两车", evidence_refs=("photo://done/1",))


def closing(tier: str, by: str = "网格员 王芳") -> CloseGridEvent:
    return CloseGridEvent(request_id=f"close-{tier}", grid_event_id="e-1", by=by, tier=tier, evidence=EVIDENCE)


def passing_up(tier: str, reason: str = "需社区协调物业处理", by: str = "网格员 王芳") -> PassUpGridEvent:
    return PassUpGridEvent(request_id=f"up-{tier}", grid_event_id="e-1", by=by, tier=tier, reason=reason)


def verifying(outcome: str = "confirmed", role: str = "street_team", reason: str | None = None,
              request_id: str = "verify-1") -> VerifyGridEvent:
    return VerifyGridEvent(request_id=request_id, grid_event_id="e-1", by="执法队员 李强", role=role,
                           outcome=outcome, photo_ref="photo://check/1", reason=reason)


def whistling(urgency: str | None = "urgent", street_code: str = "daxigou",
              request_id: str = "whistle-1") -> WhistleGridEvent:
    return WhistleGridEvent(request_id=request_id, grid_event_id="e-1", by="街道主任 赵敏", street_code=street_code,
                            urgency=urgency)


PHONE, NAME, EMAIL = "13800138000", "刘女士", "liu@example.cn"


def ticket_body(**overrides) -> dict:
    body = {"ticket_id": "BJ12345-20250314-0007", "street_code": "daxigou", "grid_code": "daxigou-c2-g1",
            "category": "garbage_dumping", "description": "小区门口垃圾三天没人清运",
            "place": {"address": "大溪沟街道文化宫路3号", "lon": 106.5480, "lat": 29.5610},
            "received_at": "2025-03-14T01:00:00Z",
            "complainant": {"name": NAME, "phone": PHONE, "email": EMAIL}}
    return {**body, **overrides}


def ticket(**overrides) -> HotlineTicket:
    return parse(HotlineTicket, ticket_body(**overrides))
