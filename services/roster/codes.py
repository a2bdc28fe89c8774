"""The reference codes the roster checks its input against, and where each place sits in the hierarchy."""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from services.common.reference import ReferenceData


@dataclass(frozen=True)
class Place:
    """A street, a community or a grid, with the street (and community) above it."""

    level: str                     # street | community | grid
    code: str
    street: str
    community: str | None = None


@dataclass(frozen=True)
class Codes:
    departments: frozenset[str]
    categories: frozenset[str]
    places: Mapping[str, Place]    # every street, community and grid code

    @classmethod
    def from_reference(cls, reference: ReferenceData) -> "Codes":
        places: dict[str, Place] = {}
        for street in reference.streets:
            places[street.code] = Place("street", street.code, street.code)
            for community in street.communities:
                places[community.code] = Place("community", community.code, street.code, community.code)
                for grid in community.grids:
                    places[grid.code] = Place("grid", grid.code, street.code, community.code)
        return cls(departments=reference.department_codes,
                   categories=frozenset(c.code for c in reference.categories),
                   places=MappingProxyType(places))

    @property
    def streets(self) -> frozenset[str]:
        return frozenset(code for code, place in self.places.items() if place.level == "street")

    def place(self, level: str, code: str) -> Place | None:
        found = self.places.get(code)
        return found if found is not None and found.level == level else None
