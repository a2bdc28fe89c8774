"""Distances on the Earth, pure: haversine metres between two WGS-84 points, and a box around a point."""
from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8                        # mean Earth radius (IUGG), metres
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180  # along a meridian


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on the mean Earth sphere)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) holding every point within radius_m of (lon, lat).

    Slightly generous, for a cheap SQL prefilter before the exact distance; near a pole or across
    the antimeridian it widens to every longitude rather than be wrong."""
    dlat = radius_m / METRES_PER_DEGREE
    cos_lat = math.cos(math.radians(min(90.0, abs(lat) + dlat)))
    dlon = dlat / cos_lat if cos_lat > 1e-9 else 360.0
    min_lon, max_lon = lon - dlon, lon + dlon
    if min_lon < -180 or max_lon > 180:
        min_lon, max_lon = -180.0, 180.0
    return min_lon, max(-90.0, lat - dlat), max_lon, min(90.0, lat + dlat)
