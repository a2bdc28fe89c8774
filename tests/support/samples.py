"""Sample messages built from the shipped reference data."""
from __future__ import annotations

import uuid


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
