"""Sample messages built from the shipped reference data."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from services.common.events import Place, WhistleRaised


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
