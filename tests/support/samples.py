"""Sample messages built from the shipped reference data."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from services.common.events import CalloutsIssued, Deadlines, IssuedCallout, Place, WhistleRaised


def whistle_request(**overrides) -> dict:
    body = {
        "request_id": f"req-{uuid.uuid4().hex[:12]}",
        "street_code": "daxigou",
        "grid_code": "daxigou-c1-g1",
        "category": "garbage_dumping",
        "urgency": "emergency",
        "source": "grid_patrol",
        "description": "巷口有人倾倒建筑垃圾 (construction waste dumped at the alley mouth)",
        "place": {"address": "大溪沟街道人和街12号", "lon": 106.5516, "lat": 29.5630},
        "reported_by": "网格员 王芳",
    }
    body.update(overrides)
    return body


def raised(category="garbage_dumping", urgency="emergency") -> WhistleRaised:
    now = datetime.now(timezone.utc)
    return WhistleRaised(whistle_id=str(uuid.uuid4()), request_id=uuid.uuid4().hex, street_code="daxigou",
                         grid_code="daxigou-c1-g1", category=category, urgency=urgency, source="grid_patrol",
                         description="垃圾", place=Place(address="人和街"), reported_by="王芳",
                         raised_at=now, occurred_at=now)


def publish_event(bus, event):
    bus.publish("events", event.event_type, event.model_dump(mode="json"), message_id=event.event_id)


def callouts_issued(whistle_id: str | None = None, departments=("chengguan",), joint=False, urgency="urgent",
                    round=1, reason="matrix", at=None, category="garbage_dumping", issued=None) -> CalloutsIssued:
    """What dispatch announces to ourselves when it calls `issued` (default: every one of `departments`;
    the first of them leads) onto a whistle."""
    at = at or datetime.now(timezone.utc)
    deadlines = Deadlines(check_in_by=at + timedelta(minutes=30), arrival_by=at + timedelta(minutes=30),
                          completion_by=at + timedelta(hours=24))
    return CalloutsIssued(
        whistle_id=whistle_id or str(uuid.uuid4()), street_code="daxigou", community_code=None, grid_code=None,
        category=category, urgency=urgency, joint_enforcement=joint, departments=tuple(departments),
        round=round, reason=reason,
        callouts=tuple(IssuedCallout(callout_id=str(uuid.uuid4()), department_code=d, department_name_zh=d,
                                     role="lead" if d == departments[0] else "support", deadlines=deadlines,
                                     issued_at=at) for d in (issued or departments)),
        occurred_at=at)
