"""责任区域一张图 (the responsibility map): which grid owns a place, and how far apart two places are.
Shared by dispatch (locating a whistle) and whistle (placing a grid event or 12345 ticket in its grid).

Pure: no nameko, no database, no clock. The map is a GeoJSON FeatureCollection of grid polygons
(WGS-84 lon/lat), one feature per grid with properties grid_code, community_code and street_code,
named by the reference data's `areas` member (deploy/reference/areas.geojson for the demo district,
written by scripts/gen_areas.py).

Ownership rule of `AreaMap.locate(lon, lat)`:
1. the grids whose polygon has the point in its interior (shapely `contains`) are the claimants;
   exactly one -> Located in it; two or more -> Unlocated("disputed", their sorted grid codes),
   which goes to area arbitration (四级确权);
2. with no claimant, the grids whose boundary the point lies on (shapely `touches`): a point on the
   shared edge or corner of adjacent grids belongs to the lowest grid code among them (a
   deterministic tie-break; a border is never "disputed"), and a point on the outer edge of the map
   to the one grid there;
3. otherwise Unlocated("unowned", ()), which goes to arbitration too.
A point on the boundary of one grid and inside another is inside that other: rule 1 wins.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from services.common.reference import ReferenceData, areas_path

CODES = ("grid_code", "community_code", "street_code")
POLYGONS = ("Polygon", "MultiPolygon")


@dataclass(frozen=True)
class Located:
    grid_code: str
    community_code: str
    street_code: str


@dataclass(frozen=True)
class Unlocated:
    reason: Literal["unowned", "disputed"]
    candidates: tuple[str, ...]      # grid codes claiming the point (empty when unowned)


def _name(index: int, feature) -> str:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    code = properties.get("grid_code") if isinstance(properties, dict) else None
    return f"feature {index} (grid {code})" if isinstance(code, str) and code.strip() else f"feature {index}"


def _polygon(index: int, feature) -> tuple[dict[str, str], BaseGeometry]:
    """The three codes and the polygon of one feature, or ValueError naming the feature."""
    where = _name(index, feature)
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError(f"{where}: not a GeoJSON Feature")
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        raise ValueError(f"{where}: has no properties")
    missing = [key for key in CODES if not isinstance(properties.get(key), str) or not properties[key].strip()]
    if missing:
        raise ValueError(f"{where}: property {', '.join(missing)} missing or empty")
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in POLYGONS:
        raise ValueError(f"{where}: geometry is {kind or 'missing'}, must be a Polygon or MultiPolygon")
    try:
        polygon = shape(geometry)
    except Exception as error:  # shapely raises several types for malformed coordinates
        raise ValueError(f"{where}: malformed {kind} coordinates ({error})") from None
    if polygon.is_empty:
        raise ValueError(f"{where}: the {kind} is empty")
    if not polygon.is_valid:
        raise ValueError(f"{where}: invalid {kind} ({explain_validity(polygon)})")
    if polygon.area == 0:
        raise ValueError(f"{where}: the {kind} has no area")
    west, south, east, north = polygon.bounds
    if not (-180 <= west and east <= 180 and -90 <= south and north <= 90):
        raise ValueError(f"{where}: coordinates out of lon/lat range (GeoJSON order is lon, lat)")
    return {key: properties[key] for key in CODES}, polygon


class AreaMap:
    """The grids' polygons with a spatial index; `locate` answers which grid owns a point."""

    def __init__(self, grids: tuple[Located, ...], polygons: tuple[BaseGeometry, ...]):
        self._grids = grids
        self._polygons = polygons
        self._by_code = {g.grid_code: i for i, g in enumerate(grids)}
        self._tree = STRtree(polygons)

    @classmethod
    def from_geojson(cls, data: dict) -> "AreaMap":
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise ValueError("the area map must be a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise ValueError("the area map FeatureCollection has no features")
        grids, polygons = [], []
        seen: dict[str, int] = {}
        for index, feature in enumerate(features):
            codes, polygon = _polygon(index, feature)
            if codes["grid_code"] in seen:
                raise ValueError(f"{_name(index, feature)}: grid code already used by feature "
                                 f"{seen[codes['grid_code']]}")
            seen[codes["grid_code"]] = index
            grids.append(Located(**codes))
            polygons.append(polygon)
        return cls(tuple(grids), tuple(polygons))

    @classmethod
    def load(cls, path: str | Path) -> "AreaMap":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
        try:
            return cls.from_geojson(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def __len__(self) -> int:
        return len(self._grids)

    def __contains__(self, grid_code: object) -> bool:
        return grid_code in self._by_code

    @property
    def grids(self) -> tuple[Located, ...]:
        """Every grid of the map (its codes), in file order."""
        return self._grids

    def geometry(self, grid_code: str) -> BaseGeometry | None:
        """The polygon of a grid (lon/lat), or None if the map has no such grid."""
        index = self._by_code.get(grid_code)
        return None if index is None else self._polygons[index]

    def locate(self, lon: float, lat: float) -> Located | Unlocated:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return Unlocated("unowned", ())
        point = Point(lon, lat)
        # STRtree.query(g, predicate=p) keeps the tree geometries t for which p(g, t) holds
        inside = self._tree.query(point, predicate="within")
        if len(inside) == 1:
            return self._grids[int(inside[0])]
        if len(inside) > 1:
            return Unlocated("disputed", tuple(sorted(self._grids[int(i)].grid_code for i in inside)))
        on_edge = self._tree.query(point, predicate="touches")
        if len(on_edge):
            return min((self._grids[int(i)] for i in on_edge), key=lambda g: g.grid_code)
        return Unlocated("unowned", ())

    def problems(self, reference: ReferenceData) -> list[str]:
        """Where the map and the reference data disagree: unknown grids, wrong community or street,
        and grids of the reference that have no polygon."""
        known: dict[str, tuple[str, str]] = {
            g.code: (community.code, street.code)
            for street in reference.streets for community in street.communities for g in community.grids}
        out = []
        for grid in self._grids:
            expected = known.get(grid.grid_code)
            if expected is None:
                out.append(f"grid {grid.grid_code} is not in the reference data")
            elif expected != (grid.community_code, grid.street_code):
                out.append(f"grid {grid.grid_code} belongs to {expected[0]}/{expected[1]} in the reference "
                           f"data, not {grid.community_code}/{grid.street_code}")
        out += [f"grid {code} has no polygon" for code in sorted(known) if code not in self._by_code]
        return out


def load_area_map(reference: ReferenceData, reference_path: str | Path | None = None) -> AreaMap | None:
    """The map named by the reference data's `areas` member (None when it names none).

    Raises ValueError when the file is malformed or names a grid the reference data does not have
    (or places it in another community or street): routing to a grid nobody knows is worse than not
    starting. A reference grid without a polygon is allowed: points there are unowned and go to
    arbitration; `AreaMap.problems` lists them.
    """
    path = areas_path(reference, None if reference_path is None else str(reference_path))
    if path is None:
        return None
    area_map = AreaMap.load(path)
    fatal = [p for p in area_map.problems(reference) if not p.endswith("has no polygon")]
    if fatal:
        raise ValueError(f"{path}: " + "; ".join(fatal))
    return area_map
