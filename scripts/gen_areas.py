"""Generates deploy/reference/areas.geojson (责任区域一张图, the responsibility map) from the reference YAML.

    python scripts/gen_areas.py                     # (re)write deploy/reference/areas.geojson
    python scripts/gen_areas.py --check             # exit 1 (and say so) if the file is out of step
    python scripts/gen_areas.py --reference X.yaml  # another district file; writes its `areas` file

THIS IS DEMO DATA: invented polygons placed around Yuzhong, Chongqing, one Feature per grid, each a
Polygon in WGS-84 (lon, lat; RFC 7946, exterior rings counter-clockwise), properties {grid_code,
community_code, street_code, name_zh}. Services read it through services/common/areas.py.

Layout, in local metres east (x) and north (y) of the south-west corner at lon 106.540, lat 29.555
(an equirectangular projection on a sphere of radius 6 371 008.8 m; coordinates rounded to 1e-6 deg):

- the streets, in the order of the YAML, are 1000 m x 1000 m blocks side by side from west to east:
  daxigou x 0..1000, nanxiashu 1000..2000, (river) 2000..2050, jinhaihu 2050..3050, xinjiekou 3050..4050;
- each community is a horizontal strip of its street (first community northmost), strip edges on
  10 m; each grid a cell of its strip (first grid westmost); the dividers between the grids of a
  community lean by 25 m each side (slightly irregular quadrilaterals), the rest are straight edges.

Two deliberate defects, for the "disputed" and "unowned" paths (四级确权, area arbitration):

- OVERLAP: grid daxigou-c2-g2 (大溪沟街道) pushes a 30 m x 100 m tab east across the street border into
  grid nanxiashu-c1-g1 (南夏墅街道): x 1000..1030, y 520..620, that is
  lon 106.550338..106.550649, lat 29.559676..29.560576; a point inside: lon 106.550493, lat 29.560126.
  Both grids claim it. It is the only overlap in the file.
- GAP: a 50 m wide river strip between nanxiashu and jinhaihu, x 2000..2050, y 0..1000, that is
  lon 106.560677..106.561194, lat 29.555..29.563993; a point inside: lon 106.560935, lat 29.559497.
  No grid owns it.

Every other shared border is exact (both sides carry the same coordinates), so adjacent grids meet
without slivers or gaps. The same numbers sit in the file's top-level "description" member.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.common.reference import (DEFAULT_PATH, ReferenceData, areas_path,  # noqa: E402
                                       parse_reference)

ORIGIN_LON = 106.540
ORIGIN_LAT = 29.555
EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT))
DIGITS = 6

STREET_SIZE_M = 1000.0
STRIP_STEP_M = 10.0          # community strip edges fall on multiples of this
LEAN_M = 25.0                # how far a divider between two grids of a community leans each way
RIVER_AFTER = 1              # the river runs east of the street at this index (nanxiashu)
RIVER_WIDTH_M = 50.0
# the overlap tab: (grid that pushes across its street's east border, its x extent, its y extent)
TAB_GRID = "daxigou-c2-g2"
TAB_X = (1000.0, 1030.0)
TAB_Y = (520.0, 620.0)
OVERLAP_POINT_M = (1015.0, 570.0)
GAP_POINT_M = (2025.0, 500.0)


def to_lonlat(x: float, y: float) -> list[float]:
    return [round(ORIGIN_LON + x / M_PER_DEG_LON, DIGITS), round(ORIGIN_LAT + y / M_PER_DEG_LAT, DIGITS)]


def street_origins(reference: ReferenceData) -> list[float]:
    """West edge (x, metres) of each street, in the order of the reference."""
    out, x = [], 0.0
    for index, _ in enumerate(reference.streets):
        out.append(x)
        x += STREET_SIZE_M + (RIVER_WIDTH_M if index == RIVER_AFTER else 0.0)
    return out


def strip_edges(count: int) -> list[float]:
    """y of the strip edges from north to south: count + 1 values, 1000 .. 0."""
    return [STREET_SIZE_M - round(STREET_SIZE_M * k / count / STRIP_STEP_M) * STRIP_STEP_M
            for k in range(count + 1)]


def dividers(x0: float, count: int) -> list[tuple[float, float]]:
    """(x at the strip's bottom, x at its top) of each of the count + 1 grid edges, west to east."""
    out = []
    for k in range(count + 1):
        base = x0 + round(STREET_SIZE_M * k / count / STRIP_STEP_M) * STRIP_STEP_M
        lean = 0.0 if k in (0, count) else LEAN_M * (1 if k % 2 else -1)
        out.append((base - lean, base + lean))
    return out


def grid_ring(west: tuple[float, float], east: tuple[float, float], bottom: float, top: float,
              tab: bool) -> list[tuple[float, float]]:
    """Counter-clockwise closed ring, metres; with the overlap tab on the east edge when asked."""
    ring = [(west[0], bottom), (east[0], bottom)]
    if tab:
        if east[0] != east[1] or east[0] != TAB_X[0] or not bottom < TAB_Y[0] < TAB_Y[1] < top:
            raise SystemExit(f"the overlap tab does not fit grid {TAB_GRID}: fix TAB_X / TAB_Y")
        ring += [(TAB_X[0], TAB_Y[0]), (TAB_X[1], TAB_Y[0]), (TAB_X[1], TAB_Y[1]), (TAB_X[0], TAB_Y[1])]
    ring += [(east[1], top), (west[1], top), (west[0], bottom)]
    return ring


def description() -> str:
    (ox0, ox1), (oy0, oy1) = TAB_X, TAB_Y
    gx0 = STREET_SIZE_M * (RIVER_AFTER + 1)     # the river is the only gap, after street RIVER_AFTER
    gx1 = gx0 + RIVER_WIDTH_M
    o_sw, o_ne, o_in = to_lonlat(ox0, oy0), to_lonlat(ox1, oy1), to_lonlat(*OVERLAP_POINT_M)
    g_sw, g_ne, g_in = to_lonlat(gx0, 0.0), to_lonlat(gx1, STREET_SIZE_M), to_lonlat(*GAP_POINT_M)
    return (
        "DEMO DATA, generated by scripts/gen_areas.py from deploy/reference/district.yaml (do not edit by "
        "hand): one Polygon per grid (WGS-84 lon/lat), invented, around Yuzhong, Chongqing. "
        f"Deliberate OVERLAP (disputed): grid daxigou-c2-g2 and grid nanxiashu-c1-g1 both claim the "
        f"30 m x 100 m rectangle lon {o_sw[0]}..{o_ne[0]}, lat {o_sw[1]}..{o_ne[1]} "
        f"(a point inside: lon {o_in[0]}, lat {o_in[1]}); it is the only overlap. "
        f"Deliberate GAP (unowned): a 50 m river strip between nanxiashu and jinhaihu, "
        f"lon {g_sw[0]}..{g_ne[0]}, lat {g_sw[1]}..{g_ne[1]} (a point inside: lon {g_in[0]}, lat {g_in[1]})."
    )


def build(reference: ReferenceData) -> dict:
    features = []
    for street, x0 in zip(reference.streets, street_origins(reference)):
        edges = strip_edges(len(street.communities))
        for community, top, bottom in zip(street.communities, edges, edges[1:]):
            cuts = dividers(x0, len(community.grids))
            for grid, west, east in zip(community.grids, cuts, cuts[1:]):
                ring = grid_ring(west, east, bottom, top, tab=grid.code == TAB_GRID)
                features.append({
                    "type": "Feature",
                    "properties": {"grid_code": grid.code, "community_code": community.code,
                                   "street_code": street.code, "name_zh": grid.name_zh},
                    "geometry": {"type": "Polygon", "coordinates": [[to_lonlat(x, y) for x, y in ring]]},
                })
    return {"type": "FeatureCollection", "description": description(), "features": features}


def render(collection: dict) -> str:
    """Small and diff-friendly: the header members indented, then one feature per line."""
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    lines = ["{",
             f'"type":{json.dumps(collection["type"])},',
             f'"description":{json.dumps(collection["description"], ensure_ascii=False)},',
             '"features":[']
    lines += [json.dumps(f, **compact) + ("," if i < len(collection["features"]) - 1 else "")
              for i, f in enumerate(collection["features"])]
    lines += ["]", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=str(DEFAULT_PATH), help="the district YAML (default: the demo)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if the file would change")
    args = parser.parse_args(argv)
    reference = parse_reference(Path(args.reference).read_text(encoding="utf-8"))
    target = areas_path(reference, args.reference)
    if target is None:
        raise SystemExit(f"{args.reference} names no `areas` file")
    collection = build(reference)
    text = render(collection)
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"{target} is out of step with {args.reference}: run python scripts/gen_areas.py")
            return 1
        print(f"{target} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text.encode('utf-8'))} bytes, {len(collection['features'])} grids)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
