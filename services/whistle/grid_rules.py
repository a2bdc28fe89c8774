"""What the rules below the whistle read, loaded once per process: the district (REFERENCE_DATA), its tier
rules checked against it (TIERS_DATA), the Chinese working-day calendar, and the responsibility map."""
from __future__ import annotations

from functools import lru_cache

from services.common.areas import AreaMap, Located, load_area_map
from services.common.reference import load_reference
from services.common.tiers import check_against, load_tiers
from services.common.workdays import chinese_workdays
from services.whistle.grid_event import Locate, Rules


@lru_cache(maxsize=1)
def process_rules() -> Rules:
    reference = load_reference()
    return Rules(reference, check_against(load_tiers(), reference), chinese_workdays())


def locator(area_map: AreaMap | None) -> Locate:
    """locate(lon, lat): the grid owning the point on the map, None if unowned, disputed or there is no map."""
    def locate(lon: float, lat: float) -> str | None:
        found = area_map.locate(lon, lat) if area_map is not None else None
        return found.grid_code if isinstance(found, Located) else None
    return locate


@lru_cache(maxsize=1)
def process_locate() -> Locate:
    return locator(load_area_map(process_rules().reference))
