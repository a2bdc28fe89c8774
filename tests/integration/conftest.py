"""Fixtures the integration modules share."""
from __future__ import annotations

import pytest
import yaml

from services.common.reference import DEFAULT_PATH


@pytest.fixture(scope="module")
def drill_reference(tmp_path_factory):
    """The shipped district with drill deadlines: seconds instead of minutes."""
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    for level in data["urgencies"].values():
        level.update(check_in="2s", arrival="3s", completion="4s")
    data["escalation"] = [dict(tier, after=after) for tier, after in zip(data["escalation"], ("0s", "2s", "4s"))]
    data["areas"] = str(DEFAULT_PATH.parent / data["areas"])
    path = tmp_path_factory.mktemp("drill") / "district.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
