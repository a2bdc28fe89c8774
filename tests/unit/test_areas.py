"""The responsibility map (责任区域一张图): services/common/areas.py and the shipped
deploy/reference/areas.geojson (written by scripts/gen_areas.py; regenerate it with
`python scripts/gen_areas.py` when district.yaml's streets, communities or grids change)."""
from __future__ import annotations

import copy
import importlib.util
import json
import math
from functools import cache
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from services.common.reference import DEFAULT_PATH, parse_reference
from services.common.geo import distance_m
from services.common.areas import AreaMap, Located, Unlocated, load_area_map

ROOT = Path(__file__).resolve().parents[2]
AREAS = ROOT / "deploy" / "reference" / "areas.geojson"

# The deliberate defects of the shipped map (documented in scripts/gen_areas.py and in the file's
# "description"). Other tests may use these points.
OVERLAP_GRIDS = ("daxigou-c2-g2", "nanxiashu-c1-g1")
OVERLAP_BOX = (106.550338, 29.559676, 106.550649, 29.560576)    # west, south, east, north
OVERLAP_POINT = (106.550493, 29.560126)                         # lon, lat: disputed
GAP_POINT = (106.560935, 29.559497)                             # lon, lat: the river, unowned
FAR_AWAY = (116.397, 39.909)                                    # Tiananmen, Beijing

# local metres around the map, to shrink polygons by a distance
M_PER_DEG_LAT = 6_371_008.8 * math.pi / 180
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(29.56))


@cache
def shipped() -> dict:
    return json.loads(AREAS.read_text(encoding="utf-8"))


@cache
def area_map() -> AreaMap:
    return AreaMap.load(AREAS)


@cache
def reference():
    return parse_reference(DEFAULT_PATH.read_text(encoding="utf-8"))


def feature(grid="g1", community="c1", street="s1", geometry=None) -> dict:
    return {"type": "Feature",
            "properties": {"grid_code": grid, "community_code": community, "street_code": street},
            "geometry": geometry or {"type": "Polygon",
                                     "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}}


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


# ---- the shipped map ----------------------------------------------------------------------------

def test_every_reference_grid_has_exactly_one_feature_and_vice_versa():
    codes = [f["properties"]["grid_code"] for f in shipped()["features"]]
    expected = {g.code for s in reference().streets for c in s.communities for g in c.grids}
    assert len(codes) == len(set(codes)), "a grid has two features"
    assert set(codes) == expected
    assert area_map().problems(reference()) == []
    for f in shipped()["features"]:
        props = f["properties"]
        assert set(props) == {"grid_code", "community_code", "street_code", "name_zh"}
        assert reference().street_of_grid(props["grid_code"]) == (props["street_code"], props["community_code"])
    assert len(area_map()) == len(expected)


def test_shipped_file_is_small_and_in_step_with_the_generator():
    assert AREAS.stat().st_size < 60_000
    spec = importlib.util.spec_from_file_location("gen_areas", ROOT / "scripts" / "gen_areas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.build(reference())) == AREAS.read_text(encoding="utf-8"), \
        "deploy/reference/areas.geojson is out of step: run python scripts/gen_areas.py"


def test_the_shipped_map_is_around_yuzhong_in_lon_lat_order():
    west, south, east, north = shapely.union_all(
        [area_map().geometry(g.grid_code) for g in area_map().grids]).bounds
    assert 106.5 < west < east < 106.6 and 29.5 < south < north < 29.6


@pytest.mark.parametrize("grid", [f["properties"]["grid_code"] for f in shipped()["features"]])
def test_grid_centre_resolves_to_its_grid(grid):
    polygon = area_map().geometry(grid)
    centre = polygon.representative_point() if grid in OVERLAP_GRIDS else polygon.centroid
    assert polygon.contains(centre)
    found = area_map().locate(centre.x, centre.y)
    assert isinstance(found, Located) and found.grid_code == grid
    street, community = reference().street_of_grid(grid)
    assert (found.street_code, found.community_code) == (street, community)


def test_the_overlap_is_disputed_between_both_grids():
    assert area_map().locate(*OVERLAP_POINT) == Unlocated("disputed", OVERLAP_GRIDS)
    west, south, east, north = OVERLAP_BOX
    assert area_map().locate(west + 0.00001, south + 0.00001) == Unlocated("disputed", OVERLAP_GRIDS)


def test_the_documented_overlap_is_the_only_one():
    overlaps = {}
    grids = area_map().grids
    for i, a in enumerate(grids):
        for b in grids[i + 1:]:
            shared = area_map().geometry(a.grid_code).intersection(area_map().geometry(b.grid_code))
            if shared.area > 0:     # keep the polygonal part (the shared edges come along as lines)
                overlaps[(a.grid_code, b.grid_code)] = shapely.union_all(
                    [p for p in shapely.get_parts(shared) if p.geom_type == "Polygon"])
    assert list(overlaps) == [OVERLAP_GRIDS]
    assert overlaps[OVERLAP_GRIDS].bounds == pytest.approx(OVERLAP_BOX, abs=1e-9)
    width = distance_m(OVERLAP_BOX[0], OVERLAP_BOX[1], OVERLAP_BOX[2], OVERLAP_BOX[1])
    assert 29 < width < 31
    description = shipped()["description"]
    assert all(f"{v}" in description for v in (*OVERLAP_BOX, *OVERLAP_POINT, *GAP_POINT))


def test_the_grids_on_either_side_of_the_overlap_own_their_side():
    lat = OVERLAP_POINT[1]
    assert area_map().locate(OVERLAP_BOX[0] - 0.0001, lat).grid_code == "daxigou-c2-g2"
    assert area_map().locate(OVERLAP_BOX[2] + 0.0001, lat).grid_code == "nanxiashu-c1-g1"


def test_the_river_gap_is_unowned_and_about_50_m_wide():
    assert area_map().locate(*GAP_POINT) == Unlocated("unowned", ())
    lon, lat = GAP_POINT
    west = area_map().locate(lon - 0.0004, lat)      # ~39 m west: nanxiashu's east grid
    east = area_map().locate(lon + 0.0004, lat)      # ~39 m east: jinhaihu's west grid
    assert west.street_code == "nanxiashu" and east.street_code == "jinhaihu"
    nanxiashu = area_map().geometry(west.grid_code)
    jinhaihu = area_map().geometry(east.grid_code)
    assert 45 < nanxiashu.distance(jinhaihu) * M_PER_DEG_LON < 55


@pytest.mark.parametrize("lon, lat", [FAR_AWAY, (0.0, 0.0), (106.5, 29.56), (106.55, 29.6),
                                      (math.nan, 29.56), (math.inf, 29.56)])
def test_points_off_the_map_are_unowned(lon, lat):
    assert area_map().locate(lon, lat) == Unlocated("unowned", ())


def test_a_shared_border_of_two_grids_of_one_community_is_not_disputed():
    a, b = "daxigou-c1-g1", "daxigou-c1-g2"
    border = area_map().geometry(a).intersection(area_map().geometry(b))
    assert border.geom_type == "LineString" and border.length > 0
    # the border's vertices lie exactly on both polygons: the lowest grid code owns them
    for lon, lat in border.coords:
        assert area_map().locate(lon, lat) == Located(a, "daxigou-c1", "daxigou")
    middle = border.interpolate(0.5, normalized=True)
    found = area_map().locate(middle.x, middle.y)
    assert isinstance(found, Located) and found.grid_code in (a, b)


@pytest.mark.parametrize("a, b", [("daxigou-c1-g1", "daxigou-c2-g1"),       # two communities
                                  ("daxigou-c1-g3", "nanxiashu-c1-g1"),     # two streets
                                  ("jinhaihu-c2-g2", "xinjiekou-c1-g1")])
def test_straight_borders_between_communities_and_streets_go_to_the_lowest_code(a, b):
    border = area_map().geometry(a).intersection(area_map().geometry(b))
    assert border.length > 0 and border.area == 0
    middle = border.interpolate(0.5, normalized=True)
    expected = min(a, b)
    assert area_map().locate(middle.x, middle.y).grid_code == expected


def test_an_outer_edge_belongs_to_its_grid():
    polygon = area_map().geometry("daxigou-c3-g1")
    west, south, _, _ = polygon.bounds
    assert area_map().locate(west, south).grid_code == "daxigou-c3-g1"


# ---- random points ------------------------------------------------------------------------------

def to_metres(geometry):
    return shapely.transform(geometry, lambda c: c * [M_PER_DEG_LON, M_PER_DEG_LAT])


def to_degrees(geometry):
    return shapely.transform(geometry, lambda c: c / [M_PER_DEG_LON, M_PER_DEG_LAT])


@cache
def interior(grid: str):
    """The grid's polygon shrunk by 5 m, in lon/lat."""
    return to_degrees(to_metres(area_map().geometry(grid)).buffer(-5.0))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(grid=st.sampled_from([g.grid_code for g in area_map().grids]),
       u=st.floats(0, 1), v=st.floats(0, 1))
def test_any_point_well_inside_a_grid_resolves_to_it_unless_in_the_overlap(grid, u, v):
    inner = interior(grid)
    west, south, east, north = inner.bounds
    lon, lat = west + u * (east - west), south + v * (north - south)
    assume(inner.contains(Point(lon, lat)))
    found = area_map().locate(lon, lat)
    if box(*OVERLAP_BOX).contains(Point(lon, lat)):
        assert grid in OVERLAP_GRIDS and found == Unlocated("disputed", OVERLAP_GRIDS)
    else:
        assert isinstance(found, Located) and found.grid_code == grid


# ---- validation ---------------------------------------------------------------------------------

def test_a_valid_small_map():
    built = AreaMap.from_geojson(collection(
        feature("g1"), feature("g2", geometry={"type": "MultiPolygon", "coordinates": [
            [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]]})))
    assert len(built) == 2 and "g2" in built and "g3" not in built
    assert built.locate(0.5, 0.5) == Located("g1", "c1", "s1")
    assert built.locate(5.5, 5.5).grid_code == "g2"
    assert built.locate(1.0, 0.5).grid_code == "g1"          # shared edge: lowest code
    assert built.locate(3, 3) == Unlocated("unowned", ())


@pytest.mark.parametrize("data, problem", [
    ([], "FeatureCollection"),
    ({"type": "Feature"}, "FeatureCollection"),
    ({"type": "FeatureCollection", "features": []}, "no features"),
    (collection({"type": "Polygon"}), "feature 0: not a GeoJSON Feature"),
    (collection(feature("g1"), {**feature("g2"), "properties": None}), "feature 1: has no properties"),
    (collection(feature(community="")), "feature 0 (grid g1): property community_code"),
    (collection({**feature(), "properties": {"grid_code": "g1", "community_code": "c1"}}),
     "feature 0 (grid g1): property street_code"),
    (collection(feature(geometry={"type": "Point", "coordinates": [0, 0]})),
     "feature 0 (grid g1): geometry is Point"),
    (collection({**feature(), "geometry": None}), "geometry is missing"),
    (collection(feature(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1]]]})), "malformed Polygon"),
    (collection(feature(geometry={"type": "Polygon", "coordinates": []})), "empty"),
    (collection(feature(geometry={"type": "Polygon",
                                  "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})), "invalid Polygon"),
    (collection(feature(geometry={"type": "Polygon", "coordinates": [
        [[29.5, 106.5], [29.6, 106.5], [29.6, 106.6], [29.5, 106.6], [29.5, 106.5]]]})), "lon, lat"),
    (collection(feature("g1"), feature("g1")), "feature 1 (grid g1): grid code already used by feature 0"),
])
def test_invalid_geojson_is_refused_naming_the_problem(data, problem):
    with pytest.raises(ValueError) as raised:
        AreaMap.from_geojson(data)
    assert problem in str(raised.value)


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "areas.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="areas.geojson: not JSON"):
        AreaMap.load(bad)
    bad.write_text(json.dumps(collection(feature(geometry={"type": "Point", "coordinates": [0, 0]}))))
    with pytest.raises(ValueError, match=r"areas.geojson: feature 0 \(grid g1\): geometry is Point"):
        AreaMap.load(bad)


# ---- load_area_map ------------------------------------------------------------------------------

def test_load_area_map_reads_the_file_beside_the_reference():
    loaded = load_area_map(reference(), DEFAULT_PATH)
    assert loaded is not None and len(loaded) == len(area_map())
    assert loaded.locate(*OVERLAP_POINT) == Unlocated("disputed", OVERLAP_GRIDS)


def test_load_area_map_without_areas_is_none():
    assert load_area_map(reference().model_copy(update={"areas": None}), DEFAULT_PATH) is None


def test_load_area_map_refuses_grids_the_reference_does_not_know(tmp_path):
    data = copy.deepcopy(shipped())
    data["features"][0]["properties"]["grid_code"] = "nowhere-c1-g1"
    (tmp_path / "areas.geojson").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="grid nowhere-c1-g1 is not in the reference data"):
        load_area_map(reference(), tmp_path / "district.yaml")
    data = copy.deepcopy(shipped())
    data["features"][0]["properties"]["street_code"] = "nanxiashu"
    (tmp_path / "areas.geojson").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="belongs to daxigou-c1/daxigou"):
        load_area_map(reference(), tmp_path / "district.yaml")


def test_load_area_map_allows_a_missing_grid_which_is_then_unowned(tmp_path):
    data = copy.deepcopy(shipped())
    dropped = data["features"].pop(0)
    (tmp_path / "areas.geojson").write_text(json.dumps(data), encoding="utf-8")
    loaded = load_area_map(reference(), tmp_path / "district.yaml")
    code = dropped["properties"]["grid_code"]
    assert loaded.problems(reference()) == [f"grid {code} has no polygon"]
    centre = area_map().geometry(code).centroid
    assert loaded.locate(centre.x, centre.y) == Unlocated("unowned", ())


# ---- distance -----------------------------------------------------------------------------------

def test_one_degree_of_latitude_is_about_111_2_km():
    assert distance_m(106.55, 29.0, 106.55, 30.0) == pytest.approx(111_200, rel=0.005)
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_200, rel=0.005)


def test_distance_to_the_same_point_is_zero_and_distance_is_symmetric():
    assert distance_m(106.55, 29.56, 106.55, 29.56) == 0
    a, b = (106.55, 29.56), (106.551, 29.5605)
    assert distance_m(*a, *b) == pytest.approx(distance_m(*b, *a))


def test_distance_at_the_scale_of_duplicate_detection():
    # 0.001 deg of longitude at 29.56 deg north is about 96.8 m
    assert distance_m(106.550, 29.56, 106.551, 29.56) == pytest.approx(96.8, abs=0.2)
    assert distance_m(0, 0, 180, 0) == pytest.approx(math.pi * 6_371_008.8)
