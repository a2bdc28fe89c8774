"""Dispatch's entrypoints for roster gaps, mixed into DispatchService: the team events in, the sweep."""
from __future__ import annotations

from services.common.consumer import consume
from services.common.events import ASSIGNMENTS, EVENTS, OfficerAssigned, RosterGap, TeamReleased
from services.common.periodic import every
from services.dispatch import roster_gaps


class RosterGapEndpoints:
    """Needs the service's `store` and `rules`."""

    @consume("dispatch.roster_gaps", [(EVENTS, RosterGap.event_type), (ASSIGNMENTS, "assignment.*.*"),
                                      (ASSIGNMENTS, "released.*")],
             (RosterGap, OfficerAssigned, TeamReleased), batch=True)
    def on_team_events(self, uow, events):
        roster_gaps.on_team_events(uow, self.rules, events)

    @every("escalation_sweep_seconds")
    def sweep_roster_gaps(self):
        """Escalates roster gaps still open; their clocks live in the database, so a restart loses none."""
        while True:
            with self.store.unit_of_work() as uow:
                fired = roster_gaps.sweep(uow, self.rules)
            if not fired:
                return
