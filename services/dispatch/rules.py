"""What dispatch decides with, built once per process from the reference data: the matrix and its
older versions, the escalation ladder, the working-day calendar and the responsibility map."""
from __future__ import annotations

from dataclasses import dataclass, field

from services.common.reference import ReferenceData
from services.common.areas import AreaMap
from services.dispatch.deadlines import IsWorkday
from services.dispatch.escalation import Ladder
from services.dispatch.matrix import Matrix


@dataclass
class Rules:
    reference: ReferenceData
    is_workday: IsWorkday
    areas: AreaMap | None = None
    matrix: Matrix = field(init=False)
    ladder: Ladder = field(init=False)
    names: dict[str, str] = field(init=False)          # department code -> Chinese name
    matrices: dict[str, Matrix] = field(init=False)    # every version seen, by version (cases keep theirs)

    def __post_init__(self):
        self.matrix = Matrix.from_reference(self.reference)
        self.ladder = Ladder.from_reference(self.reference)
        self.names = {d.code: d.name_zh for d in self.reference.departments}
        self.matrices = {self.matrix.version: self.matrix}
