"""What one replica does at start in the concurrency test: wait for the others, then upgrade."""
from __future__ import annotations

import traceback


def upgrade_with_the_others(barrier, url: str, service: str, results) -> None:
    from services.common.migrate import upgrade_to_head
    try:
        barrier.wait(timeout=60)
        upgrade_to_head(url, service)
        results.put("ok")
    except BaseException:  # noqa: BLE001 - the parent reports whatever happened
        results.put(traceback.format_exc())
